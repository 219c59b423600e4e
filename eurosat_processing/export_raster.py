"""Processing: "Export styled raster (EuroSAT)": GeoTIFF or COG with colour table, category names, QML + SLD."""

from __future__ import annotations

from qgis.core import QgsProcessingOutputRasterLayer, QgsProcessingParameterBoolean, QgsProcessingParameterEnum

from ..core.export.formats import format_ids, kind
from .export_base import HELP_INPUT, ExportAlgorithm

FORMATS = [f.description for f in kind("raster").formats]  # the FORMAT enum: its index picks FORMAT_IDS[index]
FORMAT_IDS = list(format_ids("raster"))


class ExportRasterAlgorithm(ExportAlgorithm):
    FORMAT = "FORMAT"
    PROBABILITIES = "PROBABILITIES"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "export_raster"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Export styled land-cover raster (EuroSAT)"

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            "<p>Writes <code>&lt;run&gt;_landcover.tif</code> (class codes with the colour table and class names), "
            "<code>_landcover_confidence.tif</code> and <code>_landcover_probabilities.tif</code>, each with a "
            "<code>.qml</code> (QGIS) and an <code>.sld</code> (other GIS) beside it.</p>" + HELP_INPUT
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_input_parameters()
        self.addParameter(QgsProcessingParameterEnum(self.FORMAT, "Format", options=FORMATS, defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean(self.PROBABILITIES, "Include the probability raster", True))
        self.add_output_parameters()
        self.addOutput(QgsProcessingOutputRasterLayer(self.OUTPUT, "Land-cover raster"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.export import ExportOptions

        parts = ("classes", "confidence")
        if self.parameterAsBoolean(parameters, self.PROBABILITIES, context):
            parts += ("probabilities",)
        fmt = FORMAT_IDS[self.parameterAsEnum(parameters, self.FORMAT, context)]
        result, files = self.run_core(
            parameters, context, feedback, ExportOptions(what=("raster",), raster_format=fmt, raster_parts=parts)
        )
        main = next(str(f) for f in result.files if f.name.endswith("_landcover.tif"))
        return {self.OUTPUT: main, self.FILES: files, self.OUTPUT_FOLDER: str(result.outdir)}
