"""What the Explain page remembers between sessions (QgsSettings under the plugin's prefix)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from qgis.core import QgsSettings

PREFIX = "eurosat_landcover/explain/"


@dataclass
class ExplainSettings:
    model_card: str = ""  # "" = the bundled model
    device: str = "auto"
    opacity: int = 50  # heat-map opacity, percent

    @classmethod
    def load(cls, settings: QgsSettings | None = None) -> ExplainSettings:
        s = settings or QgsSettings()
        out = cls()
        for f in fields(cls):
            key = PREFIX + f.name
            if s.contains(key):
                raw = s.value(key)
                try:
                    setattr(out, f.name, int(raw) if isinstance(getattr(out, f.name), int) else str(raw or ""))
                except (TypeError, ValueError):
                    pass
        out.opacity = max(0, min(100, out.opacity))
        return out

    def save(self, settings: QgsSettings | None = None) -> None:
        s = settings or QgsSettings()
        for f in fields(self):
            s.setValue(PREFIX + f.name, getattr(self, f.name))
