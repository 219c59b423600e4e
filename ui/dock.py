"""The plugin's dock widget: the workspace of pages, or an explanation of what is missing."""

from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..__about__ import PLUGIN_NAME
from ..toolbelt.dependencies import missing_message, missing_packages


class LandCoverDock(QgsDockWidget):
    """Dock that holds the workspace (one tab per page), or explains which packages are missing.

    ``panel`` is the Classify page (kept as a short name for scripts and tests).
    """

    def __init__(self, iface, parent=None):
        super().__init__(PLUGIN_NAME, parent)
        self.iface = iface
        self.workspace = None
        self.panel = None
        self.setObjectName("EuroSatLandCoverDock")
        missing = missing_packages()
        if missing:
            body = QWidget(self)
            layout = QVBoxLayout(body)
            self.notice = QLabel(missing_message(missing), body)
            self.notice.setObjectName("missingDependencies")
            self.notice.setWordWrap(True)
            self.notice.setTextInteractionFlags(Qt.TextSelectableByMouse)
            layout.addWidget(self.notice)
            layout.addStretch(1)
            self.setWidget(body)
        else:
            self.notice = None
            from .workspace import Workspace  # pages import the engine (torch) lazily

            self.workspace = Workspace(iface, self)
            self.panel = self.workspace.page("classifyPage")
            self.setWidget(self.workspace)

    def shutdown(self) -> None:
        """Release map tools and cancel running tasks before the plugin unloads."""
        if self.workspace is not None:
            self.workspace.shutdown()
