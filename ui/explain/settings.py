"""What the Explain page remembers between sessions (QgsSettings under the plugin's prefix)."""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import QgsSettings

from ..settings import read_fields, write_fields

PREFIX = "eurosat_landcover/explain/"


@dataclass
class ExplainSettings:
    model_card: str = ""  # "" = the bundled model
    device: str = "auto"
    opacity: int = 50  # heat-map opacity, percent

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> ExplainSettings:
        out = read_fields(cls, PREFIX, settings)
        out.opacity = max(0, min(100, out.opacity))
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        write_fields(self, PREFIX, settings)
