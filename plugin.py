"""The QGIS plugin object: toolbar button, Raster menu entry, the dock, the Processing provider.

Nothing here imports torch: the dock explains missing packages instead of the plugin failing to load.
"""

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QAction

from .__about__ import PLUGIN_NAME
from .toolbelt.advice import missing_message
from .toolbelt.dependencies import missing_packages
from .toolbelt.icons import icon
from .toolbelt.log import log_warning

MENU = f"&{PLUGIN_NAME}"


class EuroSatLandCoverPlugin:
    """Adds the plugin's action, dock and Processing provider, and removes all of them on unload."""

    def __init__(self, iface):
        self.iface = iface
        self.action = None
        self.dock = None
        self.provider = None

    # QGIS entry points -------------------------------------------------------------------------
    def initGui(self):  # noqa: N802 (QGIS API name)
        self.action = QAction(icon("icon.svg"), f"{PLUGIN_NAME}…", self.iface.mainWindow())
        self.action.setObjectName("eurosatLandCoverAction")
        self.action.setCheckable(True)
        self.action.setToolTip(f"{PLUGIN_NAME}: classify land cover in a raster layer")
        self.action.toggled.connect(self.set_dock_visible)
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(MENU, self.action)
        self._init_processing()

        missing = missing_packages()
        if missing:
            message = missing_message(missing)
            log_warning(message)
            self.iface.messageBar().pushWarning(PLUGIN_NAME, message.replace("\n", " "))

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        """Called by QGIS (hasProcessingProvider=yes) and by initGui; registers the provider once."""
        self._init_processing()

    def unload(self):
        if self.dock is not None:
            self.dock.shutdown()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.action is not None:
            self.iface.removePluginRasterMenu(MENU, self.action)
            self.iface.removeToolBarIcon(self.action)
            self.action.deleteLater()
            self.action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        from .models import model_cache  # no torch import: only frees what earlier runs kept

        model_cache.release()

    # Dock ----------------------------------------------------------------------------------------
    def set_dock_visible(self, visible: bool) -> None:
        """Show or hide the dock, creating it on first use."""
        if visible and self.dock is None:
            from .ui.dock import LandCoverDock

            self.dock = LandCoverDock(self.iface, self.iface.mainWindow())
            self.dock.visibilityChanged.connect(self._sync_action)
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        if self.dock is not None:
            self.dock.setVisible(visible)
            if visible:
                self.dock.raise_()

    def _sync_action(self, visible: bool) -> None:
        if self.action is not None and self.action.isChecked() != visible:
            self.action.setChecked(visible)

    # Processing ----------------------------------------------------------------------------------
    def _init_processing(self) -> None:
        if self.provider is not None:
            return
        from .eurosat_processing.provider import LandCoverProvider

        self.provider = LandCoverProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)
