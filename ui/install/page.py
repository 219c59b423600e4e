"""The workspace's Setup page: the plugin's packages (Repair, Remove) and the device torch will use."""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QVBoxLayout

from ..page_base import WorkspacePage
from .panel import InstallPanel


class SetupPage(WorkspacePage):
    title = "Setup"
    object_name = "setupPage"

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(iface, workspace, parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.panel = InstallPanel(iface, [], self)
        layout.addWidget(self.panel)
        self._asked = False

    def showEvent(self, event):  # noqa: N802 (Qt API name)
        super().showEvent(event)
        if not self._asked:  # torch is asked in a fresh interpreter: only once the page is looked at
            self._asked = True
            self.panel.check_device()

    def shutdown(self) -> None:
        self.panel.shutdown()
