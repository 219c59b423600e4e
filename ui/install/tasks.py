"""Background tasks for the install panel: plan, install (then ask torch for the device), remove.

Each runs one plain function of toolbelt/installer.py in QGIS's task manager; pip's output goes, line by
line, to the plugin's log tab and to the ``line`` signal (delivered on the main thread). The panel reads
``outcome`` (a value) or ``error`` (one readable line) when it finishes (see qgis_bridge/background.py).
"""

from __future__ import annotations

from typing import Callable, Optional

from qgis.PyQt.QtCore import pyqtSignal

from ...qgis_bridge.background import BackgroundTask
from ...toolbelt.log import log


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

    def progress(self, fraction: Optional[float] = None, message: str = "") -> None:
        if message:
            log(f"pip: {message}" if not message.startswith("$") else message)
            self.line.emit(message)
        super().progress(fraction, message)

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

        seen = {"files": 0}

        def follow(text):
            fraction = None
            if text.startswith(("Processing ", "Downloading ", "Collecting ")):
                seen["files"] += 1
                fraction = min(0.80, 0.05 + 0.75 * seen["files"] / count)
            elif text.startswith("Installing collected packages"):
                fraction = 0.85
            progress(fraction, text)

        installed = installer.install(plan, on_line=follow, is_canceled=is_cancelled)
        progress(0.92, "Asking torch which device it will use\u2026")
        device = installer.device_summary(installer.probe_device(plan.python, plan.target), plan.machine)
        progress(1.0)
        return installed, device

    return work


def remove_work() -> Callable:
    def work(progress, is_cancelled):
        from ...toolbelt import installer

        removed = installer.remove()
        progress(None, f"removed {removed}" if removed else "nothing to remove")
        return removed

    return work


def device_work() -> Callable:
    def work(progress, is_cancelled):
        from ...toolbelt import installer
        from ...toolbelt.torch_build import detect_machine

        return installer.device_summary(installer.probe_device(), detect_machine())

    return work
