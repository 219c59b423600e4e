"""Background tasks for the install panel: plan, install (then ask torch for the device), remove.

Each runs one plain function of toolbelt/installer.py in QGIS's task manager; pip's output goes, line by
line, to the plugin's log tab and to the ``line`` signal (delivered on the main thread). The panel reads
``outcome`` (a value) or ``error`` (one readable line) when it finishes (see qgis_bridge/background.py).
"""

from __future__ import annotations

from typing import Callable, Optional

from qgis.PyQt.QtCore import pyqtSignal

from ...core.progress import Progress
from ...qgis_bridge.background import BackgroundTask
from ...toolbelt.log import log

INSTALL = "install"  # the stage of the install tasks' progress reports


def qgis_proxy():
    """QGIS's HTTP proxy (Settings > Options > Network) as ``http://[user:password@]host:port``, or None
    (no proxy, or the system's, which pip reads from the environment itself)."""
    from urllib.parse import quote

    from qgis.core import QgsSettings

    settings = QgsSettings()
    if not settings.value("proxy/proxyEnabled", False, type=bool):
        return None
    if settings.value("proxy/proxyType", "", type=str) not in ("HttpProxy", "HttpCachingProxy"):
        return None
    host = settings.value("proxy/proxyHost", "", type=str).strip()
    if not host:
        return None
    port = settings.value("proxy/proxyPort", "", type=str).strip()
    user = settings.value("proxy/proxyUser", "", type=str)
    password = settings.value("proxy/proxyPassword", "", type=str)
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
    return f"http://{credentials}{host}{':' + port if port else ''}"


class InstallTask(BackgroundTask):
    """A :class:`BackgroundTask` whose progress lines are pip's: logged, and sent to ``line`` for the panel.

    ``refused`` keeps an InstallRefused (shown with its manual command); ``outcome`` is the result.
    """

    line = pyqtSignal(str)
    CANCELLED = ""  # the panel says what a cancel left behind

    def __init__(self, description: str, work: Callable, on_done: Optional[Callable] = None):
        super().__init__(description, work, on_done)
        self.refused = None

    @property
    def outcome(self):
        return self.result

    def report(self, report: Progress) -> None:
        message = report.message
        if message:
            log(f"pip: {message}" if not message.startswith("$") else message)
            self.line.emit(message)
        super().report(report)

    def readable(self, exc) -> str:
        from ...toolbelt.installer import InstallRefused

        if isinstance(exc, InstallRefused):
            self.refused = exc
            return exc.reason
        return str(exc)


def install_work(plan) -> Callable:
    """Install, then ask a fresh interpreter which device torch will use."""
    count = max(len(plan.packages), 1)

    def work(progress, is_cancelled):
        from ...toolbelt import installer

        seen = {"files": 0, "fraction": 0.0}

        def follow(text):  # pip's lines; the bar moves on the lines that mark a step, stays on the others
            if text.startswith(("Processing ", "Downloading ", "Collecting ")):
                seen["files"] += 1
                seen["fraction"] = min(0.80, 0.05 + 0.75 * seen["files"] / count)
            elif text.startswith("Installing collected packages"):
                seen["fraction"] = 0.85
            progress(Progress(seen["fraction"], INSTALL, text))

        installed = installer.install(plan, on_line=follow, is_canceled=is_cancelled)
        progress(Progress(0.92, INSTALL, "Asking torch which device it will use\u2026"))
        device = installer.device_summary(installer.probe_device(plan.python, plan.target), plan.machine)
        progress(Progress(1.0, INSTALL))
        return installed, device

    return work


def remove_work() -> Callable:
    def work(progress, is_cancelled):
        from ...toolbelt import installer

        removed = installer.remove()
        progress(Progress(1.0, INSTALL, f"removed {removed}" if removed else "nothing to remove"))
        return removed

    return work


def device_work() -> Callable:
    def work(progress, is_cancelled):
        from ...toolbelt import installer
        from ...toolbelt.torch_build import detect_machine

        return installer.device_summary(installer.probe_device(), detect_machine())

    return work
