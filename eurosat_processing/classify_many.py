"""Processing algorithm "Classify many rasters (EuroSAT, Dask)": ``classify-many`` from QGIS.

The same code as the CLI (core/scaleout): each raster is one task (large ones are split into
blocks with halos) on a Dask LocalCluster of worker processes, or on an existing cluster given
by its scheduler address. Results are styled VRT mosaics (split rasters) or GeoTIFFs, and a merged
summary JSON in the output folder. Needs ``dask[distributed]``; says so when it is missing.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..core.request import DEFAULT_MODE, MODES
from .base import LandCoverAlgorithm

STRIDES = (8, 16, 32, 64)


class ClassifyManyAlgorithm(LandCoverAlgorithm):
    GROUP = "Land cover"
    GROUP_ID = "landcover"
    INPUTS = "INPUTS"
    MODEL = "MODEL"
    MODE = "MODE"
    STRIDE = "STRIDE"
    SCHEDULER = "SCHEDULER"
    WORKERS = "WORKERS"
    BLOCK_SIZE = "BLOCK_SIZE"
    DEVICE = "DEVICE"
    OVERWRITE = "OVERWRITE"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OUTPUT_SUMMARY = "OUTPUT_SUMMARY"
    FAILED = "FAILED"

    def name(self) -> str:
        return "classify_many"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Classify many rasters (EuroSAT, Dask)"

    def shortHelpString(self) -> str:  # noqa: N802
        return (
            "Classifies many rasters, or rasters too large for one task, on a Dask cluster: a local cluster "
            "of WORKERS processes on this computer (SCHEDULER = local) or an existing cluster "
            "(SCHEDULER = tcp://host:port). "
            f"MODE (default {DEFAULT_MODE}): map = a class for every 10 m pixel, each raster run whole; "
            "windows = one class per stride × 10 m cell, and rasters larger than BLOCK_SIZE px are split into "
            "blocks that overlap by one window, so the mosaic equals a single run cell for cell. A second run "
            "into the same folder reuses the blocks that are complete. Needs the Python package dask[distributed]."
        )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(
            QgsProcessingParameterMultipleLayers(self.INPUTS, "Input rasters", QgsProcessing.SourceType.TypeRaster)
        )
        self.addParameter(
            QgsProcessingParameterFile(self.MODEL, "Model card (empty: bundled model)", extension="json", optional=True)
        )
        mode = QgsProcessingParameterEnum(self.MODE, "Mode", options=list(MODES), defaultValue=DEFAULT_MODE)
        mode.setUsesStaticStrings(True)
        self.addParameter(mode)
        self.addParameter(
            QgsProcessingParameterEnum(
                self.STRIDE, "Stride (px, windows mode)", [str(s) for s in STRIDES], defaultValue=2
            )
        )
        self.addParameter(QgsProcessingParameterString(self.SCHEDULER, "Dask scheduler", defaultValue="local"))
        self.addParameter(
            QgsProcessingParameterNumber(
                self.WORKERS, "Local workers (0: one per CPU core)", minValue=0, maxValue=256, defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.BLOCK_SIZE, "Block size (px)", minValue=128, maxValue=65536, defaultValue=4096
            )
        )
        self.addParameter(QgsProcessingParameterString(self.DEVICE, "Device", defaultValue="auto"))
        self.addParameter(QgsProcessingParameterBoolean(self.OVERWRITE, "Replace existing outputs", defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder"))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_SUMMARY, "Merged summary (JSON)"))
        self.addOutput(QgsProcessingOutputNumber(self.FAILED, "Rasters that failed"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.errors import ClassificationCancelled, ClassificationError
        from ..core.scaleout.mosaic import SUMMARY_NAME
        from ..core.scaleout.run import classify_many
        from ..qgis_bridge.compat import avoid_triton_llvm_clash

        avoid_triton_llvm_clash()
        layers = self.parameterAsLayerList(parameters, self.INPUTS, context)
        if not layers:
            raise QgsProcessingException("INPUTS: give at least one raster layer")
        outdir = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        options = {
            "model_card": self.parameterAsFile(parameters, self.MODEL, context) or None,
            "mode": self.parameterAsEnumString(parameters, self.MODE, context) or DEFAULT_MODE,
            "stride": STRIDES[self.parameterAsEnum(parameters, self.STRIDE, context)],
            "device": self.parameterAsString(parameters, self.DEVICE, context) or "auto",
            "overwrite": self.parameterAsBool(parameters, self.OVERWRITE, context),
        }

        def progress(p):
            feedback.setProgress(100.0 * p.fraction)
            feedback.setProgressText(str(p))

        try:
            summary = classify_many(
                [layer.source() for layer in layers],
                outdir,
                {k: v for k, v in options.items() if v is not None},
                scheduler=self.parameterAsString(parameters, self.SCHEDULER, context) or "local",
                workers=self.parameterAsInt(parameters, self.WORKERS, context) or None,
                block_size=self.parameterAsInt(parameters, self.BLOCK_SIZE, context),
                progress=progress,
                is_cancelled=feedback.isCanceled,
            )
        except ClassificationCancelled:
            raise QgsProcessingException("cancelled: complete blocks are kept and reused by the next run") from None
        except ClassificationError as exc:
            raise QgsProcessingException(str(exc)) from None
        for name, why in summary["failures"].items():
            feedback.reportError(f"{name}: {why}")
        for name, raster in summary["rasters"].items():
            feedback.pushInfo(f"{name}: {raster['outputs']['classes']}")
        return {
            self.OUTPUT_FOLDER: outdir,
            self.OUTPUT_SUMMARY: str(Path(outdir) / SUMMARY_NAME),
            self.FAILED: len(summary["failures"]),
        }
