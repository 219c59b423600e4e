"""What the Assess page remembers between sessions (QgsSettings under ``eurosat_landcover/assess/``)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from qgis.core import QgsSettings

PREFIX = "eurosat_landcover/assess/"


@dataclass
class AssessSettings:
    method: str = "stratified"
    allocation: str = "proportional"
    target_se: float = 0.01
    expected_ua: float = 0.85
    min_per_class: int = 30
    seed: int = 42
    min_distance_m: float = 0.0
    kappa: bool = False
    output_dir: str = ""

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> AssessSettings:
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
                else:
                    value = type(default)(raw)
            except (TypeError, ValueError):
                continue
            setattr(out, f.name, value)
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        s = settings or QgsSettings()
        for f in fields(self):
            s.setValue(PREFIX + f.name, getattr(self, f.name))
