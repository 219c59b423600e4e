"""The plugin's dock widget: the workspace of pages, or an explanation of what is missing."""

from qgis.gui import QgsDockWidget

from ..__about__ import PLUGIN_NAME
from ..toolbelt.advice import MISSING_WORDS
from ..toolbelt.dependencies import missing_packages


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
        self.install_panel = None
        missing = missing_packages()
        if missing:  # what is missing, and an Install button (ui/install)
            from .install.panel import InstallPanel

            self.install_panel = InstallPanel(iface, missing, self)
            self.install_panel.installed.connect(self.open_workspace)
            self.notice = self.install_panel.notice
            self.setWidget(self.install_panel)
        else:
            self.notice = None
            self.open_workspace()

    def open_workspace(self) -> None:
        """Show the workspace of pages (also right after the install panel installed the packages)."""
        from ..toolbelt.deps_folder import add_to_sys_path

        add_to_sys_path()  # the folder the installer just made
        if missing_packages():
            self.install_panel.status_text = "Installed, but not importable in this session: restart QGIS."
            self.install_panel.show_state()
            return
        from qgis.PyQt.QtCore import Qt
        from qgis.PyQt.QtWidgets import QApplication

        from .workspace import Workspace  # pages import the engine (torch) lazily

        if self.install_panel is not None:  # importing torch & co takes seconds: say so while QGIS waits
            self.install_panel.notice.setText("Opening the workspace: loading torch and the pages (a few seconds)…")
            self.install_panel.open_button.setEnabled(False)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        QApplication.processEvents()
        try:
            self.workspace = Workspace(self.iface, self)
        finally:
            QApplication.restoreOverrideCursor()
        self.clear_missing_warning()
        self.panel = self.workspace.page("classifyPage")
        if self.install_panel is not None:
            self.install_panel.hide()
        self.setWidget(self.workspace)
        self.workspace.show()

    def clear_missing_warning(self) -> None:
        """Take the "needs the Python package(s) …" warning of the plugin's start off the message bar."""
        bar = self.iface.messageBar() if self.iface is not None else None
        for item in list(bar.items()) if bar is not None else []:
            if MISSING_WORDS in item.text():
                bar.popWidget(item)

    def shutdown(self) -> None:
        """Release map tools and cancel running tasks before the plugin unloads."""
        if self.install_panel is not None:
            self.install_panel.shutdown()
        if self.workspace is not None:
            self.workspace.shutdown()
