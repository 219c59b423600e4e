"""The workspace's Setup page: the plugin's packages (Repair, Remove), the optional ones (Install), and the
device torch will use."""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton

from ...toolbelt import dependencies
from ...toolbelt import requirements as reqs
from ..page_base import WorkspacePage
from .panel import InstallPanel


class SetupPage(WorkspacePage):
    title = "Setup"
    object_name = "setupPage"

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(iface, workspace, parent)
        body, layout = self.scrolling_body()
        self.optional_box = QGroupBox("Optional packages", body)
        self.optional_box.setObjectName("optionalPackages")
        grid = QGridLayout(self.optional_box)
        self.optional_rows = {}
        for row, requirement in enumerate(reqs.OPTIONAL):
            label = QLabel(self.optional_box)
            label.setWordWrap(True)
            button = QPushButton("Install\u2026", self.optional_box)
            button.setObjectName(f"install_{requirement.name}")
            button.clicked.connect(lambda _checked=False, r=requirement: self.install_optional(r))
            grid.addWidget(label, row, 0)
            grid.addWidget(button, row, 1)
            self.optional_rows[requirement.name] = (label, button)
        self.panel = InstallPanel(iface, [], body)
        self.panel.finished.connect(self.refresh_optional)
        layout.addWidget(self.panel)
        layout.addWidget(self.optional_box)
        layout.addStretch(1)
        self._asked = False
        self.refresh_optional()

    def refresh_optional(self) -> None:
        """Each optional package: what it is for, installed (version) or not, and an Install button."""
        for status in dependencies.check(reqs.OPTIONAL):
            r = status.requirement
            label, button = self.optional_rows[r.name]
            state = f"{status.version or 'installed'}" if status.ok else status.describe().split(" ", 1)[1]
            label.setText(f"{r.name}{r.extras}: {r.purpose} \u2014 {state}")
            button.setVisible(not status.ok)
            button.setEnabled(self.panel.task is None)

    def install_optional(self, requirement: reqs.Requirement) -> None:
        """Plan (then, on confirmation, install) one optional package into the plugin's folder."""
        self.panel.requirements = [requirement.line]
        self.panel.start_plan()
        self.refresh_optional()

    def showEvent(self, event):  # noqa: N802 (Qt API name)
        super().showEvent(event)
        if not self._asked:  # torch is asked in a fresh interpreter: only once the page is looked at
            self._asked = True
            self.panel.check_device()

    def shutdown(self) -> None:
        self.panel.shutdown()
