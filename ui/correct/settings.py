"""What the Review & correct page remembers between sessions (QgsSettings)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from qgis.core import QgsSettings

PREFIX = "eurosat_landcover/correct/"


@dataclass
class CorrectSettings:
    brush_size: int = 3
    review_mode: str = "confidence"
    review_count: int = 100
    tile_size: int = 32

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> CorrectSettings:
        s = settings or QgsSettings()
        out = cls()
        for f in fields(cls):
            key = PREFIX + f.name
            if s.contains(key):
                default = getattr(out, f.name)
                try:
                    setattr(out, f.name, type(default)(s.value(key)))
                except (TypeError, ValueError):
                    pass
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        s = settings or QgsSettings()
        for f in fields(self):
            s.setValue(PREFIX + f.name, getattr(self, f.name))
