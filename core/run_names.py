"""File names of a classification run and of its corrections: the one home of the suffixes that
every writer (engine, corrections, assessment) and reader (export, Review & correct, Assess,
Explain) uses.

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
CONFIDENCE_SUFFIX = "_confidence.tif"
PROBABILITIES_SUFFIX = "_probabilities.tif"
SUMMARY_SUFFIX = "_summary.json"
CORRECTED_SUFFIX = "_corrected.tif"
LOG_SUFFIX = "_edits.gpkg"
ASSESSMENT_SUFFIX = "_assessment.json"
STYLE_EXTENSION = ".qml"  # a raster's QGIS style: the raster's name with this extension
# the engine's output rasters: kind -> suffix (raster_name)
RASTER_SUFFIXES = {"classes": CLASSES_SUFFIX, "confidence": CONFIDENCE_SUFFIX, "probabilities": PROBABILITIES_SUFFIX}
# the land-cover maps of a run: the model's and the corrected one
MAP_SUFFIXES = (CLASSES_SUFFIX, CORRECTED_SUFFIX)


def raster_name(prefix: str, kind: str) -> str:
    """``<prefix>_<kind>.tif``: the file name of one of the engine's rasters (``RASTER_SUFFIXES``)."""
    return prefix + RASTER_SUFFIXES[kind]


def summary_name(prefix: str) -> str:
    """``<prefix>_summary.json``."""
    return prefix + SUMMARY_SUFFIX


@dataclass(frozen=True)
class RunFiles:
    """The files of the run ``prefix`` in ``folder``."""

    folder: Path
    prefix: str

    def _p(self, suffix: str) -> Path:
        return self.folder / f"{self.prefix}{suffix}"

    @property
    def classes(self) -> Path:
        return self._p(CLASSES_SUFFIX)

    @property
    def confidence(self) -> Path:
        return self._p(CONFIDENCE_SUFFIX)

    @property
    def probabilities(self) -> Path:
        return self._p(PROBABILITIES_SUFFIX)

    @property
    def summary(self) -> Path:
        return self._p(SUMMARY_SUFFIX)

    @property
    def classes_style(self) -> Path:
        return self.classes.with_suffix(STYLE_EXTENSION)

    @property
    def corrected(self) -> Path:
        return self._p(CORRECTED_SUFFIX)

    @property
    def corrected_style(self) -> Path:
        return self.corrected.with_suffix(STYLE_EXTENSION)

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
