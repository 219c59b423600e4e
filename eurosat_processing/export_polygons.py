"""Processing: "Export land-cover polygons (EuroSAT)": GDAL polygonize, optional MMU and dissolve, styled GeoPackage."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
)

from ..core.export.formats import format_ids, kind
from .export_base import HELP_INPUT, ExportAlgorithm

FORMATS = [f.description for f in kind("polygons").formats]  # the FORMAT enum: its index picks FORMAT_IDS[index]
FORMAT_IDS = list(format_ids("polygons"))


class ExportPolygonsAlgorithm(ExportAlgorithm):
    MMU_HA = "MMU_HA"
    DISSOLVE = "DISSOLVE"
    FORMAT = "FORMAT"
    OUTPUT = "OUTPUT"
    POLYGONS = "POLYGONS"

    def name(self) -> str:
        return "export_polygons"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Export land-cover polygons (EuroSAT)"

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            "<p>Vectorises the class map with GDAL (neighbouring polygons share their edges: no gaps, no overlaps). "
            "<b>Minimum mapping unit</b> (hectares, 0 = none): smaller patches are merged into their largest "
            "neighbour (GDAL sieve). <b>Dissolve</b>: one multipolygon per class. Fields: class_code, class_name, "
            "color, area_ha, confidence (mean per polygon). In a GeoPackage the style is saved as the layer's "
            "default, so it opens styled in any QGIS.</p>" + HELP_INPUT
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_input_parameters()
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MMU_HA,
                "Minimum mapping unit (ha, 0 = none)",
                type=QgsProcessingParameterNumber.Type.Double,
                minValue=0.0,
                defaultValue=0.0,
            )
        )
        self.addParameter(QgsProcessingParameterBoolean(self.DISSOLVE, "Dissolve by class", False))
        self.addParameter(QgsProcessingParameterEnum(self.FORMAT, "Format", options=FORMATS, defaultValue=0))
        self.add_output_parameters()
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT, "Land-cover polygons"))
        self.addOutput(QgsProcessingOutputNumber(self.POLYGONS, "Number of polygons"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.export import ExportOptions

        options = ExportOptions(
            what=("polygons",),
            vector_format=FORMAT_IDS[self.parameterAsEnum(parameters, self.FORMAT, context)],
            mmu_ha=self.parameterAsDouble(parameters, self.MMU_HA, context),
            dissolve=self.parameterAsBoolean(parameters, self.DISSOLVE, context),
        )
        result, files = self.run_core(parameters, context, feedback, options)
        path = result.polygons["file"]
        if options.vector_format == "gpkg":
            path = f"{path}|layername={result.polygons['layer']}"
        return {
            self.OUTPUT: path,
            self.POLYGONS: result.polygons["polygons"],
            self.FILES: files,
            self.OUTPUT_FOLDER: str(result.outdir),
        }
