"""Processing algorithm "Create sampling design": sample points for an accuracy assessment of a land-cover map.

Batch mode, the modeler and ``qgis_process run eurosat_landcover:create_sampling_design -- INPUT=map.tif
OUTPUT=sample.gpkg``. The statistics are core.accuracy.design (Olofsson et al. 2014).
"""

from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
)

from .base import LandCoverAlgorithm, feedback_progress

METHODS = ("stratified", "simple", "systematic")
ALLOCATIONS = ("proportional", "equal", "manual")


def parse_class_values(text: str, names: dict, what: str, cast=float) -> dict:
    """ "Forest=0.9, 3=0.7" -> {code: value}; a bare number applies to every class (key None)."""
    out: dict = {}
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            try:
                out[None] = cast(part)
            except ValueError:
                raise QgsProcessingException(f"{what}: {part!r} is not a number") from None
            continue
        key, value = (s.strip() for s in part.split("=", 1))
        code = next((c for c, n in names.items() if n.casefold() == key.casefold()), None)
        if code is None and key.isdigit() and int(key) in names:
            code = int(key)
        if code is None:
            raise QgsProcessingException(
                f"{what}: class {key!r} is not in the map (classes: {', '.join(names.values())})"
            )
        try:
            out[code] = cast(value)
        except ValueError:
            raise QgsProcessingException(f"{what}: {value!r} is not a number") from None
    return out


_POST_PROCESSORS: list = []


class _StyleSample(QgsProcessingLayerPostProcessorInterface):
    """Styles the sample layer that Processing loads when the algorithm is done (by labelling status)."""

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API)
        try:
            from ..qgis_bridge.assess import style_sample_layer

            style_sample_layer(layer)
        except Exception as exc:
            feedback.reportError(f"cannot style {layer.name()}: {exc}")


class CreateSamplingDesignAlgorithm(LandCoverAlgorithm):
    GROUP = "Accuracy assessment"
    GROUP_ID = "assessment"
    INPUT = "INPUT"
    METHOD = "METHOD"
    TARGET_SE = "TARGET_SE"
    EXPECTED_UA = "EXPECTED_UA"
    SAMPLE_SIZE = "SAMPLE_SIZE"
    ALLOCATION = "ALLOCATION"
    MIN_PER_CLASS = "MIN_PER_CLASS"
    MANUAL = "MANUAL"
    SEED = "SEED"
    MIN_DISTANCE = "MIN_DISTANCE"
    OVERWRITE = "OVERWRITE"
    OUTPUT = "OUTPUT"
    POINTS = "POINTS"
    PLAN = "PLAN"

    def name(self) -> str:
        return "create_sampling_design"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Create sampling design (accuracy assessment)"

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            "Draws sample points on a classified map for an accuracy assessment and area estimation "
            "(Olofsson et al. 2014) and writes them to a GeoPackage with the stratum, the map class and an empty "
            "reference field, ready to label on the Assess page.\n\n"
            "METHOD: stratified random (strata = map classes), simple random, or systematic with a random offset.\n"
            "Sample size: SAMPLE_SIZE, or 0 to derive it from TARGET_SE (target standard error of overall "
            "accuracy) and EXPECTED_UA (expected user's accuracy: one number for all classes, or "
            "'Forest=0.9, Highway=0.7').\n"
            "ALLOCATION (stratified): proportional to area, equal, or manual (MANUAL: 'Forest=50, River=30'); "
            "every class gets at least MIN_PER_CLASS points (or all its pixels).\n"
            "MIN_DISTANCE: metres between points (0 = off). An existing OUTPUT is kept unless OVERWRITE."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, "Land-cover map (classes raster)"))
        method = QgsProcessingParameterEnum(self.METHOD, "Design", options=list(METHODS), defaultValue="stratified")
        method.setUsesStaticStrings(True)
        self.addParameter(method)
        self.addParameter(
            QgsProcessingParameterNumber(
                self.TARGET_SE,
                "Target standard error of overall accuracy",
                QgsProcessingParameterNumber.Type.Double,
                0.01,
                False,
                0.0001,
                0.5,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.EXPECTED_UA, "Expected user's accuracy (0.85, or Forest=0.9, Highway=0.7)", "0.85"
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.SAMPLE_SIZE,
                "Sample size (0 = from the target standard error)",
                QgsProcessingParameterNumber.Type.Integer,
                0,
                False,
                0,
                1_000_000,
            )
        )
        alloc = QgsProcessingParameterEnum(
            self.ALLOCATION, "Allocation", options=list(ALLOCATIONS), defaultValue="proportional"
        )
        alloc.setUsesStaticStrings(True)
        self.addParameter(alloc)
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MIN_PER_CLASS, "Minimum points per class", QgsProcessingParameterNumber.Type.Integer, 30, False, 2
            )
        )
        self.addParameter(
            QgsProcessingParameterString(self.MANUAL, "Manual allocation (Forest=50, River=30)", "", optional=True)
        )
        self.addParameter(
            QgsProcessingParameterNumber(self.SEED, "Random seed", QgsProcessingParameterNumber.Type.Integer, 42)
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MIN_DISTANCE,
                "Minimum distance between points (m, 0 = off)",
                QgsProcessingParameterNumber.Type.Double,
                0.0,
                False,
                0.0,
            )
        )
        self.addParameter(QgsProcessingParameterBoolean(self.OVERWRITE, "Overwrite an existing output", False))
        self.addParameter(QgsProcessingParameterFileDestination(self.OUTPUT, "Sample points", "GeoPackage (*.gpkg)"))
        self.addOutput(QgsProcessingOutputNumber(self.POINTS, "Points drawn"))
        self.addOutput(QgsProcessingOutputString(self.PLAN, "Sample size and allocation (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.accuracy.design import DesignSpec, create_sampling_design
        from ..core.accuracy.errors import AssessmentError
        from ..core.accuracy.maps import read_map

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        from ..qgis_bridge.assess import layer_file

        path, _ = layer_file(layer)
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        try:
            info = read_map(path)
            names = {c: info.name(c) for c in info.codes}
            ua = parse_class_values(self.parameterAsString(parameters, self.EXPECTED_UA, context), names, "EXPECTED_UA")
            default_ua = ua.pop(None, 0.85)
            manual = parse_class_values(self.parameterAsString(parameters, self.MANUAL, context), names, "MANUAL", int)
            manual.pop(None, None)
            n = self.parameterAsInt(parameters, self.SAMPLE_SIZE, context)
            spec = DesignSpec(
                method=self.parameterAsEnumString(parameters, self.METHOD, context) or "stratified",
                target_se=self.parameterAsDouble(parameters, self.TARGET_SE, context),
                expected_ua={c: ua.get(c, default_ua) for c in info.codes},
                allocation=self.parameterAsEnumString(parameters, self.ALLOCATION, context) or "proportional",
                min_per_class=self.parameterAsInt(parameters, self.MIN_PER_CLASS, context),
                manual=manual,
                sample_size=n if n > 0 else None,
                seed=self.parameterAsInt(parameters, self.SEED, context),
                min_distance_m=self.parameterAsDouble(parameters, self.MIN_DISTANCE, context),
            )
            result = create_sampling_design(
                path,
                out,
                spec,
                overwrite=self.parameterAsBool(parameters, self.OVERWRITE, context),
                progress=feedback_progress(feedback),
                is_cancelled=feedback.isCanceled,
            )
        except AssessmentError as exc:
            raise QgsProcessingException(str(exc)) from None
        plan = result["plan"]
        if plan.get("n_from_se"):
            feedback.pushInfo(f"Sample size from the target standard error: {plan['n_from_se']}")
        for code, k in zip(plan["codes"], plan["per_class"]):
            feedback.pushInfo(f"  {names[code]}: {k} point(s), {info.counts[code]} px mapped")
        for note in result["notes"]:  # information, not an error (reportError logs it as CRITICAL)
            feedback.pushInfo(f"Note: {note}")
        feedback.pushInfo(f"{result['points']} points written to {result['path']}")
        if context.project() is not None:  # the GUI loads the points, styled by labelling status
            from ..core.accuracy.design import LAYER

            details = QgsProcessingContext.LayerDetails(
                f"Accuracy sample — {layer.name()}", context.project(), self.OUTPUT, QgsProcessingUtils.Vector
            )
            post = _StyleSample()
            _POST_PROCESSORS.append(post)  # Python must keep it alive until QGIS calls it
            del _POST_PROCESSORS[:-20]
            details.setPostProcessor(post)
            context.addLayerToLoadOnCompletion(f"{result['path']}|layername={LAYER}", details)
        return {self.OUTPUT: result["path"], self.POINTS: result["points"], self.PLAN: json.dumps(plan)}
