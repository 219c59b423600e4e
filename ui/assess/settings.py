"""What the Assess page remembers between sessions (QgsSettings under ``eurosat_landcover/assess/``)."""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import QgsSettings

from ..settings import read_fields, write_fields

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
        out = read_fields(cls, PREFIX, settings)
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        write_fields(self, PREFIX, settings)
