"""What every algorithm of the provider shares: its group, the plugin's icon, a fresh instance."""

from qgis.core import QgsProcessingAlgorithm

from ..toolbelt.icons import icon


class LandCoverAlgorithm(QgsProcessingAlgorithm):
    """Subclasses set ``GROUP`` (display name) and ``GROUP_ID``; empty = no group, as QGIS's default."""

    GROUP = ""
    GROUP_ID = ""

    def group(self) -> str:
        return self.GROUP

    def groupId(self) -> str:  # noqa: N802 (QGIS API)
        return self.GROUP_ID

    def icon(self):
        return icon("icon.svg")

    def createInstance(self):  # noqa: N802 (QGIS API)
        return type(self)()


def feedback_progress(feedback):
    """The package's progress callback (``progress(Progress)``, core/progress.py) onto a Processing
    feedback: the bar follows the fraction, a new message becomes the progress text."""
    last = {"message": None}

    def progress(report) -> None:
        feedback.setProgress(100.0 * report.fraction)
        if report.message and report.message != last["message"]:
            last["message"] = report.message
            feedback.setProgressText(report.message)

    return progress
