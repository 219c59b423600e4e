"""The dock's settings: one small dataclass stored in QgsSettings under the plugin's key prefix."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from qgis.core import QgsProject, QgsSettings

from ..core.request import BATCH_SIZE_MAX

PREFIX = "eurosat_landcover/ui/"

AREA_MODES = ("layer", "canvas", "drawn", "selection")
STRIDES = (8, 16, 32, 64)


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
    batch_size: int = 64
    device: str = "auto"
    radiometry: str = "auto"
    output_dir: str = ""
    open_results: bool = True
    write_probabilities: bool = True

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> DockSettings:
        s = settings or QgsSettings()
        out = cls()
        for f in fields(cls):
            key = PREFIX + f.name
            if not s.contains(key):
                continue
            default = getattr(out, f.name)
            raw = s.value(key)
            try:
                if isinstance(default, bool):
                    value = raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
                elif isinstance(default, int):
                    value = int(raw)
                elif isinstance(default, list):
                    if raw in (None, ""):
                        value = []
                    elif isinstance(raw, str):
                        value = [raw]
                    else:
                        value = [str(v) for v in raw if v]
                else:
                    value = "" if raw is None else str(raw)
            except (TypeError, ValueError):
                continue
            setattr(out, f.name, value)
        if out.area_mode not in AREA_MODES:
            out.area_mode = "layer"
        if out.stride not in STRIDES:
            out.stride = 32
        out.batch_size = max(1, min(out.batch_size, BATCH_SIZE_MAX))
        if not out.output_dir:
            out.output_dir = default_output_dir()
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        s = settings or QgsSettings()
        for f in fields(self):
            s.setValue(PREFIX + f.name, getattr(self, f.name))
