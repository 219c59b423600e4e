"""Processing algorithm "Fine-tune the model from labels": the CLI's ``finetune`` in the toolbox.

IMAGE (the raster the labels were made on), LABELS (an edit log, an assessment sample or a point/polygon
layer with a class field), CLASS_FIELD, MODEL (a card; empty = an edit log's run's model when that run read IMAGE,
else the bundled model; a map card gives a map card), REPLAY_DATA (the EuroSAT RGB zip), SAMPLE_HOLDOUT,
OUTPUT (the new card, .json; its .safetensors beside it), OVERWRITE.
"""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .base import LandCoverAlgorithm, feedback_progress


class FinetuneAlgorithm(LandCoverAlgorithm):
    IMAGE = "IMAGE"
    LABELS = "LABELS"
    CLASS_FIELD = "CLASS_FIELD"
    MODEL = "MODEL"
    REPLAY_DATA = "REPLAY_DATA"
    SAMPLE_HOLDOUT = "SAMPLE_HOLDOUT"
    OVERWRITE = "OVERWRITE"
    OUTPUT = "OUTPUT"
    TEST_ACCURACY = "TEST_ACCURACY"
    EXAMPLES = "EXAMPLES"

    def name(self) -> str:
        return "finetune"

    def displayName(self) -> str:  # noqa: N802 (QGIS API)
        return "Fine-tune the model from labels"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS API)
        return (
            "Fine-tunes a model on the analyst's labels: the active edits and reviewed cells of an edit log "
            "(*_edits.gpkg), the labelled points of an assessment sample (training on it spoils it as an "
            "unbiased assessment: hold part out), or any point/polygon layer with a class field (names or "
            "codes). Each label gives the window the engine reads there. EuroSAT training patches are replayed "
            "and part of the labels is held out for early stopping. Writes a new model card (OUTPUT, .json) "
            "and its weights beside it, with the parent model, the examples, the recipe and the figures "
            "before/after; add it to the Classify page's model list to use it. Without a model card, an edit "
            "log's run's model is fine-tuned (a map-mode run's: a new map card for Mode = Map)."
        )

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API)
        self.addParameter(QgsProcessingParameterRasterLayer(self.IMAGE, "Image the labels were made on"))
        self.addParameter(QgsProcessingParameterFile(self.LABELS, "Labels (edit log, sample or point/polygon layer)"))
        self.addParameter(QgsProcessingParameterString(self.CLASS_FIELD, "Class field", optional=True))
        self.addParameter(
            QgsProcessingParameterFile(self.MODEL, "Model card to start from", extension="json", optional=True)
        )
        self.addParameter(
            QgsProcessingParameterFile(self.REPLAY_DATA, "EuroSAT RGB zip (replayed)", extension="zip", optional=True)
        )
        holdout = QgsProcessingParameterNumber(
            self.SAMPLE_HOLDOUT,
            "Sample points kept out of training (fraction)",
            QgsProcessingParameterNumber.Double,
            0.0,
        )
        holdout.setMinimum(0.0)
        holdout.setMaximum(0.95)
        self.addParameter(holdout)
        self.addParameter(QgsProcessingParameterBoolean(self.OVERWRITE, "Replace an existing card", False))
        self.addParameter(QgsProcessingParameterFileDestination(self.OUTPUT, "New model card", "Model card (*.json)"))
        self.addOutput(QgsProcessingOutputNumber(self.TEST_ACCURACY, "EuroSAT test accuracy after"))
        self.addOutput(QgsProcessingOutputNumber(self.EXAMPLES, "Examples used"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        from ..core.errors import ClassificationCancelled, ClassificationError
        from ..core.finetune.run import finetune_from_labels

        layer = self.parameterAsRasterLayer(parameters, self.IMAGE, context)
        if layer is None:
            raise QgsProcessingException("IMAGE must be a raster layer")

        try:
            record = finetune_from_labels(
                layer.source().split("|")[0],
                self.parameterAsFile(parameters, self.LABELS, context),
                self.parameterAsFileOutput(parameters, self.OUTPUT, context),
                class_field=self.parameterAsString(parameters, self.CLASS_FIELD, context) or None,
                model=self.parameterAsFile(parameters, self.MODEL, context) or None,
                replay_data=self.parameterAsFile(parameters, self.REPLAY_DATA, context) or None,
                sample_holdout=self.parameterAsDouble(parameters, self.SAMPLE_HOLDOUT, context),
                overwrite=self.parameterAsBoolean(parameters, self.OVERWRITE, context),
                progress=feedback_progress(feedback),
                is_cancelled=feedback.isCanceled,
                command="processing: eurosat_landcover:finetune",
            )
        except (ClassificationError, ClassificationCancelled) as exc:
            raise QgsProcessingException(str(exc)) from None
        m = record["metrics"]
        feedback.pushInfo(
            f"{record['examples']['windows']} example(s); "
            f"held-out {m['holdout']['before']} -> {m['holdout']['after']}; "
            f"EuroSAT test {m['eurosat_test']['before']:.4f} -> {m['eurosat_test']['after']:.4f}: {record['card']}"
        )
        return {
            self.OUTPUT: record["card"],
            self.TEST_ACCURACY: m["test_accuracy"],
            self.EXAMPLES: record["examples"]["windows"],
        }
