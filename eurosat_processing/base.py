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
