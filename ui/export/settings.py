"""What the Export page remembers between sessions (QgsSettings)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from qgis.core import QgsSettings

PREFIX = "eurosat_landcover/export/"


@dataclass
class ExportSettings:
    raster: bool = True
    polygons: bool = True
    report: bool = True
    map: bool = True
    raster_format: str = "gtiff"
    probabilities: bool = True
    vector_format: str = "gpkg"
    mmu_ha: float = 0.0
    dissolve: bool = False
    page_size: str = "A4"
    orientation: str = "landscape"
    dpi: int = 200
    output_dir: str = ""
    open_folder: bool = False

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> ExportSettings:
        s = settings or QgsSettings()
        out = cls()
        for f in fields(cls):
            key = PREFIX + f.name
            if s.contains(key):
                default = getattr(out, f.name)
                value = s.value(key)
                try:
                    if isinstance(default, bool):
                        value = value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
                    setattr(out, f.name, type(default)(value))
                except (TypeError, ValueError):
                    pass
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        s = settings or QgsSettings()
        for f in fields(self):
            s.setValue(PREFIX + f.name, getattr(self, f.name))
