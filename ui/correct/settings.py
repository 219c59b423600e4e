"""What the Review & correct page remembers between sessions (QgsSettings)."""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import QgsSettings

from ..settings import read_fields, write_fields

PREFIX = "eurosat_landcover/correct/"


@dataclass
class CorrectSettings:
    brush_size: int = 3
    review_mode: str = "confidence"
    review_count: int = 100
    tile_size: int = 32
    replay_data: str = ""  # the EuroSAT RGB zip "Improve the model" replays; "" = $EUROSAT_DATASETS's, if any

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> CorrectSettings:
        out = read_fields(cls, PREFIX, settings)
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        write_fields(self, PREFIX, settings)
