"""The plugin's Processing provider: batch mode, the graphical modeler and qgis_process."""

from qgis.core import QgsProcessingProvider

from ..__about__ import PLUGIN_NAME, __version__
from ..toolbelt.icons import icon

PROVIDER_ID = "eurosat_landcover"


class LandCoverProvider(QgsProcessingProvider):
    def id(self) -> str:
        return PROVIDER_ID

    def name(self) -> str:
        return PLUGIN_NAME

    def longName(self) -> str:  # noqa: N802 (QGIS API)
        return f"{PLUGIN_NAME} {__version__}"

    def icon(self):
        return icon("icon.svg")

    def loadAlgorithms(self) -> None:  # noqa: N802 (QGIS API)
        from .classify_algorithm import ClassifyAlgorithm

        self.addAlgorithm(ClassifyAlgorithm())
        from .apply_corrections import ApplyCorrectionsAlgorithm

        self.addAlgorithm(ApplyCorrectionsAlgorithm())
        from .accuracy_assessment import AccuracyAssessmentAlgorithm
        from .create_sampling_design import CreateSamplingDesignAlgorithm

        self.addAlgorithm(CreateSamplingDesignAlgorithm())
        self.addAlgorithm(AccuracyAssessmentAlgorithm())
        from . import export_map, export_polygons, export_raster, export_report

        self.addAlgorithm(export_raster.ExportRasterAlgorithm())
        self.addAlgorithm(export_polygons.ExportPolygonsAlgorithm())
        self.addAlgorithm(export_report.ExportReportAlgorithm())
        self.addAlgorithm(export_map.ExportMapAlgorithm())
        from .classify_many import ClassifyManyAlgorithm

        self.addAlgorithm(ClassifyManyAlgorithm())
        from .finetune_algorithm import FinetuneAlgorithm  # issue 24

        self.addAlgorithm(FinetuneAlgorithm())
