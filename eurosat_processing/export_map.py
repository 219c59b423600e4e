"""Processing: "Export print-ready map (EuroSAT)": a QGIS print layout to PDF and PNG."""

from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..core.export.formats import ORIENTATION_IDS
from .export_base import HELP_INPUT, ExportAlgorithm

ORIENTATIONS = list(ORIENTATION_IDS)


class ExportMapAlgorithm(ExportAlgorithm):
    TITLE = "TITLE"
    PAGE_SIZE = "PAGE_SIZE"
    ORIENTATION = "ORIENTATION"
    DPI = "DPI"
    CREDITS = "CREDITS"
    PDF = "PDF"
    PNG = "PNG"

    def name(self) -> str:
        return "export_map"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Export print-ready map (EuroSAT)"

    def flags(self):
        # layouts are rendered on the main thread
        return super().flags() | QgsProcessingAlgorithm.Flag.FlagNoThreading

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            "<p>A print layout with the styled land-cover map, legend, scale bar, north arrow, title, the table of "
            "areas per class and credits (model, its measured accuracy, provenance), written to "
            "<code>&lt;run&gt;_landcover_map.pdf</code> and <code>.png</code>. Page size: any QGIS page size "
            "name (A4, A3, Letter...).</p>" + HELP_INPUT
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_input_parameters()
        self.addParameter(QgsProcessingParameterString(self.TITLE, "Title", optional=True))
        self.addParameter(QgsProcessingParameterString(self.PAGE_SIZE, "Page size", defaultValue="A4"))
        self.addParameter(
            QgsProcessingParameterEnum(self.ORIENTATION, "Orientation", options=ORIENTATIONS, defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterNumber(self.DPI, "PNG resolution (dpi)", minValue=50, maxValue=1200, defaultValue=200)
        )
        self.addParameter(QgsProcessingParameterString(self.CREDITS, "Extra credits line", optional=True))
        self.add_output_parameters()
        self.addOutput(QgsProcessingOutputFile(self.PDF, "Map (PDF)"))
        self.addOutput(QgsProcessingOutputFile(self.PNG, "Map (PNG)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.export import ExportCancelled, ExportError
        from ..qgis_bridge.print_layout import MapOptions, export_map

        run = self.load(parameters, context)
        options = MapOptions(
            title=self.parameterAsString(parameters, self.TITLE, context) or None,
            page_size=self.parameterAsString(parameters, self.PAGE_SIZE, context) or "A4",
            orientation=ORIENTATIONS[self.parameterAsEnum(parameters, self.ORIENTATION, context)],
            dpi=self.parameterAsInt(parameters, self.DPI, context),
            credits=self.parameterAsString(parameters, self.CREDITS, context) or None,
            overwrite=self.parameterAsBoolean(parameters, self.OVERWRITE, context),
        )
        outdir = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        progress, cancelled = self.callbacks(feedback)
        try:
            files = export_map(run, outdir, options, progress, cancelled)
        except ExportCancelled:
            raise QgsProcessingException("export cancelled: nothing was written") from None
        except ExportError as exc:
            raise QgsProcessingException(str(exc)) from None
        by_ext = {f.suffix: str(f) for f in files}
        return {
            self.PDF: by_ext.get(".pdf"),
            self.PNG: by_ext.get(".png"),
            self.FILES: json.dumps([str(f) for f in files]),
            self.OUTPUT_FOLDER: outdir,
        }
