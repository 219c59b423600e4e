"""The dock's settings: one small dataclass stored in QgsSettings under the plugin's key prefix."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from qgis.core import QgsProject, QgsSettings

from ..core.request import BATCH_SIZE_MAX, DEFAULT_MODE, FAST_PATH_MODES, MODES

PREFIX = "eurosat_landcover/ui/"

AREA_MODES = ("layer", "canvas", "drawn", "selection")
# 2: map mode became the default (issue 22). Before it, the dock saved every field, so a stored "windows" is
# the old default for almost everyone: settings saved before version 2 take the new default mode once.
SETTINGS_VERSION = 2
STRIDES = (8, 16, 32, 64)


def _converted(default, raw):
    """A stored value in the type of the field's default (QgsSettings gives strings back from its ini file)."""
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    if isinstance(default, list):
        if raw in (None, ""):
            return []
        return [raw] if isinstance(raw, str) else [str(v) for v in raw if v]
    if isinstance(default, str):
        return "" if raw is None else str(raw)
    return type(default)(raw)


def read_fields(cls, prefix: str, settings: QgsSettings | None = None):
    """An instance of the settings dataclass ``cls`` with every field stored under ``prefix`` read back;
    a field missing or unreadable keeps its default. Each page's settings class validates after it."""
    s = settings or QgsSettings()
    out = cls()
    for f in fields(cls):
        key = prefix + f.name
        if s.contains(key):
            try:
                setattr(out, f.name, _converted(getattr(out, f.name), s.value(key)))
            except (TypeError, ValueError):
                pass
    return out


def write_fields(obj, prefix: str, settings: QgsSettings | None = None) -> None:
    s = settings or QgsSettings()
    for f in fields(obj):
        s.setValue(prefix + f.name, getattr(obj, f.name))


def default_output_dir() -> str:
    """A folder beside the saved project, else under the user's home."""
    home = QgsProject.instance().homePath()
    base = Path(home) if home else Path.home()
    return str(base / "EuroSAT land cover")


@dataclass
class DockSettings:
    """Everything the dock remembers between sessions."""

    model_card: str = ""  # "" = the bundled default model
    extra_models: list = field(default_factory=list)  # card paths the user added
    area_mode: str = "layer"
    stride: int = 32
    mode: str = DEFAULT_MODE  # "windows" or "map" (core/request.py MODES)
    batch_size: int = 64
    device: str = "auto"
    fast_path: str = "auto"  # the CPU model path (core/request.py FAST_PATH_MODES)
    radiometry: str = "auto"
    output_dir: str = ""
    open_results: bool = True
    write_probabilities: bool = True
    settings_version: int = SETTINGS_VERSION  # what the stored fields mean (SETTINGS_VERSION above)

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> DockSettings:
        s = settings or QgsSettings()
        out = read_fields(cls, PREFIX, s)
        if s.contains(PREFIX + "mode") and (out.settings_version < 2 or not s.contains(PREFIX + "settings_version")):
            out.mode = DEFAULT_MODE  # saved before map mode was the default: "windows" was that default
        out.settings_version = SETTINGS_VERSION
        if out.area_mode not in AREA_MODES:
            out.area_mode = "layer"
        if out.stride not in STRIDES:
            out.stride = 32
        if out.mode not in MODES:
            out.mode = DEFAULT_MODE
        if out.fast_path not in FAST_PATH_MODES:
            out.fast_path = "auto"
        out.batch_size = max(1, min(out.batch_size, BATCH_SIZE_MAX))
        if not out.output_dir:
            out.output_dir = default_output_dir()
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        write_fields(self, PREFIX, settings)
