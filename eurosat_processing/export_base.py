"""What the four export algorithms share: the input (a run's summary or a land-cover layer), the output
folder, the overwrite switch, progress/cancel through the feedback, and errors as one readable line."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterRasterLayer,
)

from .base import LandCoverAlgorithm, feedback_progress

HELP_INPUT = (
    "<p><b>Run summary</b>: the <code>*_summary.json</code> a classification wrote, or <b>Land-cover layer</b>: "
    "a class raster of the plugin (its summary is found beside it). When the run has a corrected map "
    "(<code>*_corrected.tif</code>) the corrected map is exported.</p>"
    "<p>Existing files are never replaced unless <b>Overwrite</b> is ticked; every file is written under a "
    "temporary name and renamed when complete.</p>"
)


class ExportAlgorithm(LandCoverAlgorithm):
    GROUP = "Export"
    GROUP_ID = "export"
    SUMMARY = "SUMMARY"
    LAYER = "LAYER"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OVERWRITE = "OVERWRITE"
    FILES = "FILES"

    def add_input_parameters(self) -> None:
        self.addParameter(
            QgsProcessingParameterFile(
                self.SUMMARY,
                "Run summary (*_summary.json)",
                extension="json",
                optional=True,
            )
        )
        self.addParameter(QgsProcessingParameterRasterLayer(self.LAYER, "or a land-cover layer", optional=True))

    def add_output_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterBoolean(self.OVERWRITE, "Overwrite existing files", False))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputString(self.FILES, "Files written (JSON list)"))

    def source(self, parameters, context) -> str:
        summary = self.parameterAsFile(parameters, self.SUMMARY, context)
        if summary:
            return summary
        layer = self.parameterAsRasterLayer(parameters, self.LAYER, context)
        if layer is not None:
            return layer.dataProvider().dataSourceUri().split("|")[0]
        raise QgsProcessingException("give a run summary (*_summary.json) or a land-cover layer to export")

    def load(self, parameters, context):
        from ..core.export import ExportError, load_run

        try:
            return load_run(self.source(parameters, context))
        except ExportError as exc:
            raise QgsProcessingException(str(exc)) from None

    @staticmethod
    def callbacks(feedback):
        return feedback_progress(feedback), feedback.isCanceled

    def run_core(self, parameters, context, feedback, options):
        """core.export.export_run with the feedback's progress and cancel; readable errors."""
        import json

        from ..core.export import ExportCancelled, ExportError, export_run

        run = self.load(parameters, context)
        for note in run.notes:
            feedback.pushInfo(note)
        options.overwrite = self.parameterAsBoolean(parameters, self.OVERWRITE, context)
        outdir = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        progress, cancelled = self.callbacks(feedback)
        try:
            result = export_run(run.classes_path, outdir, options, progress, cancelled, run=run)
        except ExportCancelled:
            raise QgsProcessingException("export cancelled: nothing was written") from None
        except ExportError as exc:
            raise QgsProcessingException(str(exc)) from None
        for f in result.files:
            feedback.pushInfo(f"wrote {f}")
        return result, json.dumps([str(f) for f in result.files])
