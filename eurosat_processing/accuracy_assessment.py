"""Processing algorithm "Accuracy assessment": error matrix, accuracies and area-adjusted class areas.

Reference: a labelled sample GeoPackage from "Create sampling design" (its map and strata are in it), or an
existing reference (a point/polygon layer with a class field, or a reference raster) compared with MAP.
Writes ``<map>_assessment.json``, ``.csv``, ``_matrix.csv`` and ``.html`` (core.accuracy.report).
"""

from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from .base import LandCoverAlgorithm


def parse_mapping(text: str) -> dict:
    """ "Wald=Forest; See=SeaLake" -> {"Wald": "Forest", "See": "SeaLake"}."""
    out = {}
    for part in (text or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise QgsProcessingException(f"MAPPING: {part.strip()!r} is not 'reference value=map class'")
        k, v = (s.strip() for s in part.split("=", 1))
        out[k] = v
    return out


class AccuracyAssessmentAlgorithm(LandCoverAlgorithm):
    GROUP = "Accuracy assessment"
    GROUP_ID = "assessment"
    MAP = "MAP"
    REFERENCE = "REFERENCE"
    REFERENCE_FIELD = "REFERENCE_FIELD"
    REFERENCE_RASTER = "REFERENCE_RASTER"
    MAPPING = "MAPPING"
    KAPPA = "KAPPA"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OVERWRITE = "OVERWRITE"
    OUTPUT_JSON = "OUTPUT_JSON"
    OUTPUT_CSV = "OUTPUT_CSV"
    OUTPUT_HTML = "OUTPUT_HTML"
    OVERALL_ACCURACY = "OVERALL_ACCURACY"
    RESULTS = "RESULTS"

    def name(self) -> str:
        return "accuracy_assessment"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Accuracy assessment and area estimates"

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            "Error matrix in sample counts and in estimated area proportions, overall, user's and producer's "
            "accuracy with 95 % confidence intervals, area-adjusted class areas (km², %) with standard errors and "
            "95 % CIs and per-class F1 (Olofsson et al. 2014).\n\n"
            "REFERENCE: a sample GeoPackage labelled on the Assess page (MAP optional: the sample knows its map; "
            "another MAP on the same ground, e.g. the corrected map, is assessed with the sample by Stehman "
            "(2014)'s estimators, the strata staying the sampled map's classes), "
            "or a point/polygon layer with a class field REFERENCE_FIELD compared with MAP; or REFERENCE_RASTER. "
            "Layers in another CRS are transformed; points outside the map or on nodata are reported and left out.\n"
            "MAPPING: 'reference value=map class' pairs when names or codes differ (e.g. 'Wald=Forest, 3=Highway').\n"
            "KAPPA: also report kappa (not recommended; the report says why).\n"
            "Outputs <map>_assessment.json/.csv/_matrix.csv/.html in OUTPUT_FOLDER (default: beside the map); "
            "existing files are kept unless OVERWRITE."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.MAP, "Land-cover map", optional=True))
        self.addParameter(
            QgsProcessingParameterVectorLayer(self.REFERENCE, "Labelled sample or reference layer", optional=True)
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.REFERENCE_FIELD,
                "Reference class field (not for a labelled sample)",
                parentLayerParameterName=self.REFERENCE,
                optional=True,
            )
        )
        self.addParameter(QgsProcessingParameterRasterLayer(self.REFERENCE_RASTER, "Reference raster", optional=True))
        self.addParameter(
            QgsProcessingParameterString(self.MAPPING, "Class mapping (Wald=Forest, 3=Highway)", "", optional=True)
        )
        self.addParameter(QgsProcessingParameterBoolean(self.KAPPA, "Also report kappa (not recommended)", False))
        self.addParameter(
            QgsProcessingParameterFile(
                self.OUTPUT_FOLDER,
                "Output folder (default: beside the map)",
                behavior=QgsProcessingParameterFile.Behavior.Folder,
                optional=True,
            )
        )
        self.addParameter(QgsProcessingParameterBoolean(self.OVERWRITE, "Overwrite existing outputs", False))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_JSON, "Results (JSON)"))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_CSV, "Per-class table (CSV)"))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_HTML, "Report (HTML)"))
        self.addOutput(QgsProcessingOutputNumber(self.OVERALL_ACCURACY, "Overall accuracy"))
        self.addOutput(QgsProcessingOutputString(self.RESULTS, "Per-class results (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.accuracy.design import LAYER
        from ..core.accuracy.report import run_assessment
        from ..errors import ReadableError
        from ..qgis_bridge.assess import layer_file, reference_records

        map_layer = self.parameterAsRasterLayer(parameters, self.MAP, context)
        ref_layer = self.parameterAsVectorLayer(parameters, self.REFERENCE, context)
        ref_raster = self.parameterAsRasterLayer(parameters, self.REFERENCE_RASTER, context)
        field = self.parameterAsString(parameters, self.REFERENCE_FIELD, context) or None
        if (ref_layer is None) == (ref_raster is None):
            raise QgsProcessingException("give either a reference layer (or labelled sample) or a reference raster")
        map_path = layer_file(map_layer)[0] if map_layer is not None else None
        kwargs = {
            "map_path": map_path,
            "mapping": parse_mapping(self.parameterAsString(parameters, self.MAPPING, context)),
            "out_dir": self.parameterAsString(parameters, self.OUTPUT_FOLDER, context) or None,
            "overwrite": self.parameterAsBool(parameters, self.OVERWRITE, context),
            "kappa": self.parameterAsBool(parameters, self.KAPPA, context),
        }
        try:
            if ref_layer is not None:
                maybe_sample = not field and ref_layer.fields().indexOf("ref_code") >= 0
                path, lname = layer_file(ref_layer) if maybe_sample else (None, "")
                is_sample = maybe_sample and lname in (None, LAYER)
                if is_sample:
                    kwargs["sample"] = path
                else:
                    if not field:
                        raise QgsProcessingException(
                            f"{ref_layer.name()} is not a labelled sample: choose its reference class field"
                        )
                    if map_path is None:
                        raise QgsProcessingException("choose the land-cover map to compare the reference with")
                    # read through QGIS: the layer's filter and CRS, any provider (e.g. a delimited-text CSV)
                    kwargs["reference_records"] = reference_records(ref_layer, field, map_layer.crs())
            else:
                if map_path is None:
                    raise QgsProcessingException("choose the land-cover map to compare the reference raster with")
                kwargs["reference"] = layer_file(ref_raster)[0]
            out = run_assessment(**kwargs)
        except ReadableError as exc:
            raise QgsProcessingException(str(exc)) from None
        res = out["assessment"]
        lo, hi = res.ci(res.overall, res.overall_se)
        feedback.pushInfo(
            f"Overall accuracy {100 * res.overall:.1f} % (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %), "
            f"{res.n_labelled} labelled"
        )
        for c in res.per_class():
            if c["adjusted_km2"] is not None:
                a_lo, a_hi = c["adjusted_km2_ci95"]
                feedback.pushInfo(
                    f"  {c['name']}: mapped {c['mapped_km2']:.3f} km², adjusted {c['adjusted_km2']:.3f} km² "
                    f"({a_lo:.3f}–{a_hi:.3f})"
                )
        for note in res.notes:  # notes are information, not errors (reportError logs them as CRITICAL)
            feedback.pushInfo(f"Note: {note}")
        return {
            self.OUTPUT_JSON: out["json"],
            self.OUTPUT_CSV: out["csv"],
            self.OUTPUT_HTML: out["html"],
            self.OVERALL_ACCURACY: res.overall,
            self.RESULTS: json.dumps(out["data"]["classes"]),
        }
