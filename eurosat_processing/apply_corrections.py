"""Processing algorithm "Apply corrections": a classification run + an edit log -> the corrected raster.

The log's edits are geometries, so they carry over to a re-run of the same area at another stride
or extent, or to a fresh run. Writes ``<run>_corrected.tif`` (styled like the model output) and
``<run>_edits.gpkg`` (the carried-over log, which the Review & correct page can go on editing)
beside the run's ``<run>_classes.tif``; the classes raster itself is never changed.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterLayer,
)

from .base import LandCoverAlgorithm, feedback_progress


class ApplyCorrectionsAlgorithm(LandCoverAlgorithm):
    INPUT = "INPUT"
    EDIT_LOG = "EDIT_LOG"
    OVERWRITE = "OVERWRITE"
    OUTPUT = "OUTPUT"
    OUTPUT_LOG = "OUTPUT_LOG"
    EDITS = "EDITS"
    CELLS = "CELLS"

    def name(self) -> str:
        return "apply_corrections"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Apply corrections"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS API)
        return (
            "Replays an edit log (*_edits.gpkg, made on the Review & correct page) on the land-cover raster "
            "of a classification run (*_classes.tif, e.g. a re-run at another stride or extent). Writes "
            "<run>_corrected.tif and <run>_edits.gpkg beside it; the run's classes raster is not changed. "
            "Existing corrections of that run are replaced only with OVERWRITE."
        )

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API)
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Land-cover raster of a run (*_classes.tif)"))
        self.addParameter(QgsProcessingParameterFile(self.EDIT_LOG, "Edit log (*_edits.gpkg)", extension="gpkg"))
        self.addParameter(
            QgsProcessingParameterBoolean(self.OVERWRITE, "Replace the run's existing corrections", False)
        )
        self.addOutput(QgsProcessingOutputRasterLayer(self.OUTPUT, "Corrected land cover"))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_LOG, "Edit log of the run"))
        self.addOutput(QgsProcessingOutputNumber(self.EDITS, "Edits applied"))
        self.addOutput(QgsProcessingOutputNumber(self.CELLS, "Cells changed"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        from ..core.edits.errors import EditError
        from ..core.edits.reapply import apply_log_to_run

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException("INPUT must be the land-cover raster of a run (*_classes.tif)")
        classes = Path(layer.source().split("|")[0])
        log_path = self.parameterAsFile(parameters, self.EDIT_LOG, context)
        overwrite = self.parameterAsBoolean(parameters, self.OVERWRITE, context)
        try:
            result = apply_log_to_run(
                log_path,
                classes,
                overwrite=overwrite,
                progress=feedback_progress(feedback),
                is_cancelled=feedback.isCanceled,
            )
        except EditError as exc:
            raise QgsProcessingException(str(exc)) from None
        feedback.pushInfo(
            f"{result.edits} edit(s) applied, {result.cells} cell(s) changed"
            + (f"; {result.outside} edit(s) change no cell of this run" if result.outside else "")
            + f": {result.corrected}"
        )
        return {
            self.OUTPUT: str(result.corrected),
            self.OUTPUT_LOG: str(result.log),
            self.EDITS: result.edits,
            self.CELLS: result.cells,
        }
