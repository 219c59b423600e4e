"""Processing: "Export area report (EuroSAT)": CSV of km² and % per class (adjusted areas when assessed) + HTML page."""

from __future__ import annotations

from qgis.core import QgsProcessingOutputFile, QgsProcessingOutputHtml, QgsProcessingParameterString

from .export_base import HELP_INPUT, ExportAlgorithm


class ExportReportAlgorithm(ExportAlgorithm):
    TITLE = "TITLE"
    CSV = "CSV"
    HTML = "HTML"

    def name(self) -> str:
        return "export_report"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Export area report (EuroSAT)"

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            "<p>Writes <code>&lt;run&gt;_landcover_areas.csv</code> (cells, km² and % per class; adjusted areas "
            "with 95 % confidence intervals when an accuracy assessment sits beside the map) and "
            "<code>&lt;run&gt;_landcover_report.html</code> (bar chart in the class colours, legend, the model "
            "and its measured accuracy, the run's settings and provenance).</p>" + HELP_INPUT
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_input_parameters()
        self.addParameter(QgsProcessingParameterString(self.TITLE, "Title", optional=True))
        self.add_output_parameters()
        self.addOutput(QgsProcessingOutputFile(self.CSV, "Area table (CSV)"))
        self.addOutput(QgsProcessingOutputHtml(self.HTML, "Area report (HTML)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.export import ExportOptions

        title = self.parameterAsString(parameters, self.TITLE, context) or None
        result, files = self.run_core(parameters, context, feedback, ExportOptions(what=("report",), title=title))
        by_ext = {f.suffix: str(f) for f in result.files}
        return {
            self.CSV: by_ext[".csv"],
            self.HTML: by_ext[".html"],
            self.FILES: files,
            self.OUTPUT_FOLDER: str(result.outdir),
        }
