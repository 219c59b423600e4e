"""The plugin's dock widget."""

from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..__about__ import PLUGIN_NAME
from ..toolbelt.dependencies import missing_message, missing_packages


class LandCoverDock(QgsDockWidget):
    """Dock that holds the classification panel, or explains which packages are missing."""

    def __init__(self, iface, parent=None):
        super().__init__(PLUGIN_NAME, parent)
        self.iface = iface
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
            from .panel import ClassifyPanel  # imports the engine (torch) lazily

            self.panel = ClassifyPanel(iface, self)
            self.setWidget(self.panel)

    def shutdown(self) -> None:
        """Release map tools and cancel running tasks before the plugin unloads."""
        if self.panel is not None:
            self.panel.shutdown()
