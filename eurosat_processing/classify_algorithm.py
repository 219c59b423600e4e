"""Processing algorithm "Classify raster (EuroSAT)": the dock's engine and options, scriptable.

It uses the same request builder (qgis_bridge.request_builder) and styling (qgis_bridge.styling) as the dock, so
`processing.run("eurosat_landcover:classify", {...})`, batch mode, the modeler and
`qgis_process run eurosat_landcover:classify -- INPUT=... OUTPUT_FOLDER=...` all behave alike.
"""

from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
)

from ..core.request import (
    BATCH_SIZE_MAX,
    DEFAULT_MODE,
    DEFAULT_STRIDE,
    FAST_PATH_MODES,
    MODES,
    RADIOMETRY_CHOICES,
    count_unit,
)
from ..qgis_bridge import styling
from ..qgis_bridge.request_builder import RequestError, RunOptions, build_request
from ..qgis_bridge.results import LAND_COVER, area_summary, layer_label, run_name
from .base import LandCoverAlgorithm


def parse_bands(text: str):
    """ "3,2,1" or "3 2 1" -> [3, 2, 1]; "" -> None (auto-detect)."""
    text = (text or "").replace(",", " ").replace(";", " ").strip()
    if not text:
        return None
    try:
        return [int(t) for t in text.split()]
    except ValueError:
        raise QgsProcessingException(f"BANDS must be band numbers such as 3,2,1, got {text!r}") from None


_POST_PROCESSORS: list = []


class _StyleClasses(QgsProcessingLayerPostProcessorInterface):
    """Styles the land-cover layer that Processing loads when the algorithm is done."""

    def __init__(self, classes):
        super().__init__()
        self.classes = classes

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        try:
            styling.style_classes(layer, self.classes)
        except Exception as exc:
            feedback.reportError(f"cannot style {layer.name()}: {exc}")


class ClassifyAlgorithm(LandCoverAlgorithm):
    GROUP = "Land cover"
    GROUP_ID = "landcover"
    INPUT = "INPUT"
    EXTENT = "EXTENT"
    MODEL = "MODEL"
    STRIDE = "STRIDE"
    MODE = "MODE"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    BANDS = "BANDS"
    RADIOMETRY = "RADIOMETRY"
    FAST_PATH = "FAST_PATH"
    PROBABILITIES = "PROBABILITIES"
    OVERWRITE = "OVERWRITE"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OUTPUT_CLASSES = "OUTPUT_CLASSES"
    OUTPUT_CONFIDENCE = "OUTPUT_CONFIDENCE"
    OUTPUT_PROBABILITIES = "OUTPUT_PROBABILITIES"
    OUTPUT_SUMMARY = "OUTPUT_SUMMARY"
    AREA_KM2 = "AREA_KM2"
    WINDOWS = "WINDOWS"

    # ---------------------------------------------------------------- identity
    def name(self) -> str:
        return "classify"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Classify raster (EuroSAT)"

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            "Classifies the land cover of a raster layer (or the part inside EXTENT, in any CRS) with a "
            "EuroSAT model and writes three GeoTIFFs to the output folder: the land-cover classes (with the model's "
            "class names and colours), the confidence (maximum probability, 0–1) and one probability band "
            "per class (0–1).\n\n"
            f"MODE (default {DEFAULT_MODE}): map = a class for every pixel at the model's gsd (10 m), from the "
            "per-pixel map model over overlapping tiles blended without seams; windows = one class per output "
            "cell of stride × gsd (the windows around it averaged).\n"
            "MODEL: a model card (JSON beside the weights); empty = the bundled model of the mode.\n"
            "STRIDE: pixels between windows at the model's ground sampling distance (8, 16, 32 or 64 for "
            "64 px windows); the output cell size is stride × gsd. Windows mode only (unused in map mode).\n"
            "DEVICE: auto, cpu, cuda, cuda:N or mps (an unavailable device falls back with a warning).\n"
            "BANDS: source band numbers in the model's band order, e.g. 1,2,3 for red, green, blue; empty = "
            "auto-detect from band names, colour interpretation or the 13-band Sentinel-2 layout.\n"
            "RADIOMETRY: how values become the model's 0–255 input; auto = 8-bit as is, 16-bit Sentinel-2 "
            "digital numbers ÷ divisor, anything else a 2–98 % percentile stretch.\n"
            "OVERWRITE: replace existing files of the same output name (off: the run stops with a message "
            "instead); a file the input raster is made of is never replaced."
        )

    # ---------------------------------------------------------------- parameters
    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Input raster"))
        self.addParameter(
            QgsProcessingParameterExtent(self.EXTENT, "Area to classify (default: the whole raster)", optional=True)
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                "Model card (JSON; default: the bundled EuroSAT RGB model)",
                behavior=QgsProcessingParameterFile.Behavior.File,
                extension="json",
                optional=True,
            )
        )
        mode = QgsProcessingParameterEnum(self.MODE, "Mode", options=list(MODES), defaultValue=DEFAULT_MODE)
        mode.setUsesStaticStrings(True)
        self.addParameter(mode)
        self.addParameter(
            QgsProcessingParameterNumber(
                self.STRIDE,
                "Stride (px at the model's gsd; windows mode)",
                QgsProcessingParameterNumber.Type.Integer,
                DEFAULT_STRIDE,
                False,
                1,
                4096,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.BATCH_SIZE, "Batch size", QgsProcessingParameterNumber.Type.Integer, 64, False, 1, BATCH_SIZE_MAX
            )
        )
        self.addParameter(QgsProcessingParameterString(self.DEVICE, "Device (auto, cpu, cuda:0, mps)", "auto"))
        self.addParameter(
            QgsProcessingParameterString(self.BANDS, "Bands override (e.g. 1,2,3; empty = auto)", "", optional=True)
        )
        radiometry = QgsProcessingParameterEnum(
            self.RADIOMETRY, "Radiometry", options=list(RADIOMETRY_CHOICES), defaultValue="auto"
        )
        radiometry.setUsesStaticStrings(True)
        self.addParameter(radiometry)
        fast_path = QgsProcessingParameterEnum(
            self.FAST_PATH,
            "CPU model path (auto, on, off: the fp32 graph; int8: the model quantized to 8-bit integers)",
            options=list(FAST_PATH_MODES),
            defaultValue="auto",
        )
        fast_path.setUsesStaticStrings(True)
        fast_path.setFlags(fast_path.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(fast_path)
        self.addParameter(QgsProcessingParameterBoolean(self.PROBABILITIES, "Write per-class probabilities", True))
        self.addParameter(
            QgsProcessingParameterBoolean(self.OVERWRITE, "Replace existing output files of the same name", False)
        )
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputRasterLayer(self.OUTPUT_CLASSES, "Land cover"))
        self.addOutput(QgsProcessingOutputRasterLayer(self.OUTPUT_CONFIDENCE, "Confidence"))
        self.addOutput(QgsProcessingOutputRasterLayer(self.OUTPUT_PROBABILITIES, "Class probabilities"))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_SUMMARY, "Run summary (JSON)"))
        self.addOutput(QgsProcessingOutputString(self.AREA_KM2, "Area per class (km², JSON)"))
        self.addOutput(QgsProcessingOutputNumber(self.WINDOWS, "Windows classified (map mode: tiles)"))

    # ---------------------------------------------------------------- run
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        extent = crs = None
        if parameters.get(self.EXTENT) not in (None, ""):
            extent = self.parameterAsExtent(parameters, self.EXTENT, context)
            crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
            if not crs.isValid():
                crs = layer.crs()
        model = self.parameterAsFile(parameters, self.MODEL, context) or None
        options = RunOptions(
            model_card=model,
            bands=parse_bands(self.parameterAsString(parameters, self.BANDS, context)),
            radiometry=self.parameterAsEnumString(parameters, self.RADIOMETRY, context) or "auto",
            stride=self.parameterAsInt(parameters, self.STRIDE, context),
            mode=self.parameterAsEnumString(parameters, self.MODE, context) or DEFAULT_MODE,
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            device=(self.parameterAsString(parameters, self.DEVICE, context) or "auto").strip(),
            write_probabilities=self.parameterAsBool(parameters, self.PROBABILITIES, context),
        )
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        try:
            request = build_request(layer, folder, options, extent, crs)
        except RequestError as exc:
            raise QgsProcessingException(str(exc)) from None
        request.overwrite = self.parameterAsBool(parameters, self.OVERWRITE, context)
        request.fast_path = self.parameterAsEnumString(parameters, self.FAST_PATH, context) or "auto"

        from ..toolbelt.advice import missing_message
        from ..toolbelt.dependencies import missing_packages

        missing = missing_packages()
        if missing:
            raise QgsProcessingException(missing_message(missing))
        from ..qgis_bridge.compat import avoid_triton_llvm_clash

        avoid_triton_llvm_clash()  # the algorithm also runs inside the QGIS GUI
        from ..core.errors import ClassificationCancelled, ClassificationError
        from ..core.pipeline import classify

        last_stage = [None]

        def progress(report):  # core.progress.Progress
            feedback.setProgress(100.0 * report.fraction)
            if report.stage != last_stage[0] and report.message:  # a line per stage, the bar for the windows
                feedback.pushInfo(report.message)
            last_stage[0] = report.stage

        if request.mode == "map" and request.stride != DEFAULT_STRIDE:
            feedback.pushInfo(f"Note: STRIDE {request.stride} is unused in map mode (a class for every 10 m pixel)")
        feedback.pushInfo(f"Request: {json.dumps(request.to_dict())}")
        try:
            result = classify(request, progress, feedback.isCanceled)
        except ClassificationCancelled:
            raise QgsProcessingException("Classification cancelled; no output was kept") from None
        except ClassificationError as exc:
            raise QgsProcessingException(str(exc)) from None
        for warning in result.warnings or []:  # a warning, not an error (reportError logs it as CRITICAL)
            feedback.pushWarning(warning)
        unit = count_unit(request.mode)
        feedback.pushInfo(
            f"{result.windows} {unit} in {result.seconds:.1f} s on {result.device} "
            f"({result.windows_per_second:.0f} {unit}/s)"
        )
        feedback.pushInfo("Area per class: " + area_summary(result.area_km2))

        classes = styling.card_classes(result.card) if result.card is not None else []  # the run's card
        if (
            classes
            and context.project() is not None
            and not context.willLoadLayerOnCompletion(str(result.classes_path))
        ):
            # The GUI (and processing.runAndLoadResults) load the land-cover layer, styled as in the dock.
            details = QgsProcessingContext.LayerDetails(
                layer_label(LAND_COVER, run_name(result)),
                context.project(),
                self.OUTPUT_CLASSES,
                QgsProcessingUtils.Raster,
            )
            post = _StyleClasses(classes)
            _POST_PROCESSORS.append(post)  # Python must keep it alive until QGIS calls it
            del _POST_PROCESSORS[:-20]
            details.setPostProcessor(post)
            context.addLayerToLoadOnCompletion(str(result.classes_path), details)

        return {
            self.OUTPUT_FOLDER: folder,
            self.OUTPUT_CLASSES: str(result.classes_path),
            self.OUTPUT_CONFIDENCE: str(result.confidence_path),
            self.OUTPUT_PROBABILITIES: str(result.probabilities_path) if result.probabilities_path else None,
            self.OUTPUT_SUMMARY: str(result.summary_path),
            self.AREA_KM2: json.dumps(result.area_km2),
            self.WINDOWS: result.windows,
        }
