"""Background tasks for the install panel: plan, install (then ask torch for the device), remove.

Each runs one plain function of toolbelt/installer.py in QGIS's task manager; pip's output goes, line by
line, to the plugin's log tab and to the ``line`` signal (delivered on the main thread). No exception
escapes ``run``: the panel reads ``outcome`` (a value or ``error``, one readable line) when it finishes.
"""

from __future__ import annotations

from typing import Callable

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

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


class FunctionTask(QgsTask):
    """Runs ``work(on_line, is_canceled, set_progress)`` in the background."""

    line = pyqtSignal(str)

    def __init__(self, description: str, work: Callable):
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.work = work
        self.outcome = None
        self.error = ""
        self.refused = None  # an InstallRefused, shown with its manual command

    def emit_line(self, text: str) -> None:
        log(f"pip: {text}" if not text.startswith("$") else text)
        self.line.emit(text)

    def run(self) -> bool:  # worker thread
        from ...toolbelt.installer import InstallFailed, InstallRefused

        try:
            self.outcome = self.work(self.emit_line, self.isCanceled, self.setProgress)
            return not self.isCanceled()
        except InstallRefused as exc:
            self.refused = exc
            self.error = exc.reason
        except InstallFailed as exc:
            self.error = str(exc)
        except Exception as exc:  # one readable line; the traceback goes to the log
            import traceback

            log(traceback.format_exc())
            self.error = f"{type(exc).__name__}: {exc}"
        return False


def install_work(plan) -> Callable:
    """Install, then ask a fresh interpreter which device torch will use."""
    count = max(len(plan.packages), 1)

    def work(on_line, is_canceled, set_progress):
        from ...toolbelt import installer

        seen = {"files": 0}

        def follow(text):
            if text.startswith(("Processing ", "Downloading ", "Collecting ")):
                seen["files"] += 1
                set_progress(min(80, 5 + 75 * seen["files"] / count))
            elif text.startswith("Installing collected packages"):
                set_progress(85)
            on_line(text)

        installed = installer.install(plan, on_line=follow, is_canceled=is_canceled)
        set_progress(92)
        on_line("Asking torch which device it will use\u2026")
        device = installer.device_summary(installer.probe_device(plan.python, plan.target), plan.machine)
        set_progress(100)
        return installed, device

    return work


def remove_work() -> Callable:
    def work(on_line, is_canceled, set_progress):
        from ...toolbelt import installer

        removed = installer.remove()
        on_line(f"removed {removed}" if removed else "nothing to remove")
        return removed

    return work


def device_work() -> Callable:
    def work(on_line, is_canceled, set_progress):
        from ...toolbelt import installer
        from ...toolbelt.torch_build import detect_machine

        return installer.device_summary(installer.probe_device(), detect_machine())

    return work
