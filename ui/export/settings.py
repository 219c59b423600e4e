"""What the Export page remembers between sessions (QgsSettings)."""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import QgsSettings

from ...core.export.formats import ORIENTATION_IDS, format_ids
from ..settings import read_fields, write_fields

PREFIX = "eurosat_landcover/export/"


@dataclass
class ExportSettings:
    raster: bool = True
    polygons: bool = True
    report: bool = True
    map: bool = True
    raster_format: str = format_ids("raster")[0]
    probabilities: bool = True
    vector_format: str = format_ids("polygons")[0]
    mmu_ha: float = 0.0
    dissolve: bool = False
    page_size: str = "A4"
    orientation: str = ORIENTATION_IDS[0]
    dpi: int = 200
    output_dir: str = ""
    open_folder: bool = False

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> ExportSettings:
        out = read_fields(cls, PREFIX, settings)
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        write_fields(self, PREFIX, settings)
