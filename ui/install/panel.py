"""Install, Repair and Remove the plugin's Python packages from the dock, without a terminal.

What is missing -> "Install dependencies…" resolves a plan in the background (what will be downloaded,
how big, which PyTorch build and why) -> "Download and install" runs pip in a QgsTask with progress, the
pip log in the plugin's log tab and in the panel -> the device the plugin will use, and a warning when a GPU
is present but the installed torch cannot use it. When automatic installation is not possible the panel
says why and shows the command that works on this platform (selectable text).
"""

from __future__ import annotations

import sys
import time
from typing import Optional

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import Qt, QTimer, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QGridLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.progress import Progress
from ...toolbelt.deps_folder import deps_folder, deps_root
from ...toolbelt.installer import format_size
from ...toolbelt.log import log
from .tasks import INSTALL, InstallTask, device_work, install_work, qgis_proxy, remove_work

_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse


def stage_of(line: str) -> str:
    """Words for the stage a pip output line starts ("" when the line starts none)."""
    text = line.strip()
    if text.startswith("Collecting "):
        return f"Looking up {text.split()[1]}"
    if text.startswith("Downloading "):
        return f"Downloading {' '.join(text.split()[1:3])}"
    if text.startswith("Installing collected packages"):
        count = len(text.split(":", 1)[-1].split(","))
        return f"Unpacking and installing {count} package(s); torch alone takes minutes"
    if text.startswith("Successfully installed"):
        return "Installed; checking which device torch will use"
    if text.startswith("Asking torch"):
        return "Asking torch which device it will use"
    return ""


class InstallPanel(QWidget):
    """The dependency panel. ``installed`` is emitted after a successful install (the dock then opens)."""

    installed = pyqtSignal()
    finished = pyqtSignal()  # any background task ended (plan, install, remove, device)

    def __init__(self, iface=None, missing: Optional[list] = None, parent=None, requirements=None, index_url=None):
        super().__init__(parent)
        self.setObjectName("installPanel")
        self.iface = iface
        self.missing = list(missing or [])
        self.requirements = requirements
        self.index_url = index_url
        self.plan = None
        self.task: Optional[InstallTask] = None
        self.device_text = ""
        self.device_warning: Optional[str] = None
        self.status_text: Optional[str] = None  # after an install or a removal

        layout = QVBoxLayout(self)
        self.notice = QLabel(self)
        self.notice.setObjectName("missingDependencies")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(_SELECTABLE)
        layout.addWidget(self.notice)

        self.plan_label = self._label("installPlan")
        self.error_label = self._label("installError")
        self.error_label.setStyleSheet("color: #b00020;")
        self.device_label = self._label("deviceLine")
        self.warning_label = self._label("deviceWarning")
        self.warning_label.setStyleSheet("color: #a35200;")
        for label in (self.plan_label, self.error_label, self.device_label, self.warning_label):
            layout.addWidget(label)

        buttons = QGridLayout()  # two rows: the dock may be 300 px wide
        self.install_button = self._button("installButton", "Install dependencies\u2026", self.start_plan)
        self.confirm_button = self._button("confirmInstallButton", "Download and install", self.start_install)
        self.repair_button = self._button("repairButton", "Repair", self.start_repair)
        self.remove_button = self._button("removeButton", "Remove", self.start_remove)
        self.cancel_button = self._button("cancelInstallButton", "Cancel", self.cancel)
        self.open_button = self._button("openWorkspaceButton", "Open the workspace", self.installed.emit)
        for i, button in enumerate(
            (
                self.install_button,
                self.confirm_button,
                self.cancel_button,
                self.open_button,
                self.repair_button,
                self.remove_button,
            )
        ):
            buttons.addWidget(button, i // 3, i % 3)
        layout.addLayout(buttons)

        self.stage_label = self._label("installStage")  # what the running task does now, and for how long
        layout.addWidget(self.stage_label)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("installProgress")
        layout.addWidget(self.progress)
        self.stage = ""
        self.started = 0.0
        self.clock = QTimer(self)
        self.clock.setInterval(1000)
        self.clock.timeout.connect(self.show_stage)
        self.log_view = QPlainTextEdit(self)
        self.log_view.setObjectName("installLog")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(400)
        self.log_view.setPlaceholderText("pip's output appears here (and in the log panel, plugin tab).")
        layout.addWidget(self.log_view, 1)
        layout.addStretch(0)
        self.show_state()

    def _label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(_SELECTABLE)
        label.hide()
        return label

    def _button(self, name: str, text: str, slot) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    # State ------------------------------------------------------------------------------------------------
    def show_state(self) -> None:
        """Buttons and texts for the current state (missing, planned, running, installed)."""
        from ...toolbelt import dependencies
        from ...toolbelt.advice import missing_message

        running = self.task is not None
        folder = deps_folder()
        if self.status_text:
            self.notice.setText(self.status_text)
        elif self.missing:
            self.notice.setText(missing_message(self.missing))
        else:
            found = ", ".join(f"{s.requirement.name} {s.version}" for s in dependencies.check())
            where = f"in {folder}" if folder.is_dir() else "in the Python that runs QGIS"
            self.notice.setText(f"Installed: {found} ({where}).")
        self.install_button.setVisible(bool(self.missing) and self.plan is None and not self.device_text)
        self.install_button.setEnabled(not running)
        self.confirm_button.setVisible(self.plan is not None and not running)
        if self.plan is not None:
            size = format_size(self.plan.total_size) if self.plan.packages else "nothing to download"
            self.confirm_button.setText(f"Download and install ({size})")
        self.repair_button.setVisible(folder.is_dir() and self.plan is None)
        self.repair_button.setEnabled(not running)
        self.remove_button.setVisible(deps_root().is_dir() and self.plan is None)
        self.remove_button.setEnabled(not running)
        self.cancel_button.setVisible(running or self.plan is not None)
        self.open_button.setVisible(bool(self.missing) and bool(self.device_text) and not running)
        self.progress.setVisible(running)
        self.log_view.setVisible(running or bool(self.log_view.toPlainText()))
        self.device_label.setVisible(bool(self.device_text))
        self.device_label.setText(f"The plugin will use: {self.device_text}" if self.device_text else "")
        self.warning_label.setVisible(bool(self.device_warning))
        self.warning_label.setText(self.device_warning or "")

    def _run(self, description: str, work, on_done) -> None:
        self.error_label.hide()
        self.task = InstallTask(description, work)
        self.task.line.connect(self._append)
        self.task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))
        task = self.task
        task.taskCompleted.connect(lambda: self._finished(task, on_done))
        task.taskTerminated.connect(lambda: self._finished(task, None))
        self.progress.setValue(0)
        self.stage, self.started = description.split(": ", 1)[-1], time.monotonic()
        self.clock.start()
        self.show_stage()
        QgsApplication.taskManager().addTask(task)
        self.show_state()

    def _finished(self, task: InstallTask, on_done) -> None:
        if self.task is not task:
            return
        self.task = None
        self.clock.stop()
        self.stage_label.hide()
        if on_done is not None and not task.error:
            on_done(task.outcome)
        elif task.refused is not None:
            self._error(f"{task.refused.reason}.\n{task.refused.manual}")
        elif task.error:
            self._error(task.error)
        else:
            self._error("Cancelled: nothing was installed." if self.plan is not None else "Cancelled.")
        self.show_state()
        self.finished.emit()

    def _error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        log(text, Qgis.MessageLevel.Warning)

    def _append(self, text: str) -> None:
        self.log_view.appendPlainText(text)
        self.log_view.show()
        self.log_view.verticalScrollBar().setValue(self.log_view.verticalScrollBar().maximum())  # follow pip
        stage = stage_of(text)
        if stage:
            self.stage = stage
            self.show_stage()

    def show_stage(self) -> None:
        """The stage line under the buttons: what pip does now and the time since the task started."""
        if self.task is None:
            return
        seconds = int(time.monotonic() - self.started)
        self.stage_label.setText(f"{self.stage}… ({seconds // 60} min {seconds % 60:02d} s)")
        self.stage_label.show()

    # Actions ----------------------------------------------------------------------------------------------
    def start_plan(self, repair: bool = False) -> None:
        options = {"requirements": self.requirements, "index_url": self.index_url, "proxy": qgis_proxy()}

        def work(progress, is_cancelled):
            from ...toolbelt import installer

            progress(Progress(0.05, INSTALL))
            on_line = lambda text: progress(Progress(0.05, INSTALL, text))  # noqa: E731
            if repair:
                return installer.repair_plan(on_line=on_line, **options)
            return installer.make_plan(on_line=on_line, **options)

        self._run("EuroSAT Land Cover: what to install", work, self._planned)

    def start_repair(self) -> None:
        answer = QMessageBox.question(
            self,
            "Repair the plugin's packages",
            f"Delete {deps_folder()} and install the packages again?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.device_text, self.device_warning = "", None
            self.start_plan(repair=True)

    def _planned(self, plan) -> None:
        self.plan = plan
        self.plan_label.setText(plan.describe())
        self.plan_label.show()
        log(plan.describe())

    def start_install(self) -> None:
        plan = self.plan
        if plan is None:
            return
        self.plan_label.hide()
        self._run("EuroSAT Land Cover: installing packages", install_work(plan), self._installed)

    def _installed(self, outcome) -> None:
        installed, (device, warning) = outcome
        target, self.plan = self.plan.target, None
        from ...toolbelt.deps_folder import add_to_sys_path

        add_to_sys_path(target)  # importable in this session (a new folder was not on the path)
        self.device_text, self.device_warning = device, warning
        names = ", ".join(installed) if installed else "nothing new"
        self.status_text = f"Installed into {target}: {names}."
        if any(name in sys.modules for name in ("torch", "torchvision", "timm")):
            self.status_text += " Restart QGIS to use them (this session has loaded the previous ones)."
        message = f"Packages installed ({names}). The plugin will use: {device}"
        log(message, Qgis.MessageLevel.Success)
        if warning:
            log(warning, Qgis.MessageLevel.Warning)
        if self.iface is not None:
            self.iface.messageBar().pushMessage("EuroSAT Land Cover", message, Qgis.MessageLevel.Success, 10)

    def start_remove(self) -> None:
        answer = QMessageBox.question(
            self,
            "Remove the plugin's packages",
            f"Delete {deps_root()} (the packages this plugin installed)? QGIS must restart afterwards.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._run("EuroSAT Land Cover: removing packages", remove_work(), self._removed)

    def _removed(self, removed) -> None:
        self.device_text, self.device_warning = "", None
        if removed is None:
            self.status_text = "There was nothing to remove."
        elif removed.name.endswith(".remove-pending"):  # Windows: in use by this session
            self.status_text = "The packages are in use by this QGIS session: they are deleted when QGIS restarts."
        else:
            self.status_text = f"Removed {removed}. Restart QGIS."
        log(self.status_text)

    def check_device(self) -> None:
        """Ask torch (in a fresh interpreter) which device it will use, and show it."""
        self._run("EuroSAT Land Cover: asking torch which device it will use", device_work(), self._device)

    def _device(self, outcome) -> None:
        self.device_text, self.device_warning = outcome

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
        else:
            self.plan = None
            self.plan_label.hide()
            self.show_state()

    def shutdown(self) -> None:
        if self.task is not None:
            self.task.cancel()
