"""File names of a classification run and of its corrections.

A run written by the engine with prefix ``<run>`` holds ``<run>_classes.tif``,
``<run>_confidence.tif``, ``<run>_probabilities.tif`` (optional) and ``<run>_summary.json``.
Corrections add, in the same folder:

- ``<run>_corrected.tif``: the corrected land-cover raster (same grid, encoding, colours as the
  classes raster), plus ``<run>_corrected.qml`` (the same style as the model output);
- ``<run>_edits.gpkg``: the edit log (layers ``edits`` and ``reviews``, table ``edit_state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

CLASSES_SUFFIX = "_classes.tif"
CORRECTED_SUFFIX = "_corrected.tif"
LOG_SUFFIX = "_edits.gpkg"


@dataclass(frozen=True)
class RunFiles:
    folder: Path
    prefix: str

    def _p(self, suffix: str) -> Path:
        return self.folder / f"{self.prefix}{suffix}"

    @property
    def classes(self) -> Path:
        return self._p(CLASSES_SUFFIX)

    @property
    def confidence(self) -> Path:
        return self._p("_confidence.tif")

    @property
    def probabilities(self) -> Path:
        return self._p("_probabilities.tif")

    @property
    def summary(self) -> Path:
        return self._p("_summary.json")

    @property
    def classes_style(self) -> Path:
        return self._p("_classes.qml")

    @property
    def corrected(self) -> Path:
        return self._p(CORRECTED_SUFFIX)

    @property
    def corrected_style(self) -> Path:
        return self._p("_corrected.qml")

    @property
    def log(self) -> Path:
        return self._p(LOG_SUFFIX)


def run_files(path) -> Optional[RunFiles]:
    """The run of a ``*_classes.tif``, ``*_corrected.tif`` or ``*_edits.gpkg`` path (None otherwise)."""
    path = Path(str(path).split("|")[0])
    for suffix in (CLASSES_SUFFIX, CORRECTED_SUFFIX, LOG_SUFFIX):
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return RunFiles(path.parent, path.name[: -len(suffix)])
    return None
