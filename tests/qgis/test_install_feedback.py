"""Issue 25 item 13: the install panel says what pip does and for how long (no silent bar), follows pip's
log; "Open the workspace" says it is busy and takes the start's "needs torch" warning off the message bar."""

from __future__ import annotations

import re
import time

from eurosat_landcover.core.progress import Progress
from eurosat_landcover.toolbelt.advice import MISSING_WORDS, missing_message
from eurosat_landcover.ui.install.panel import InstallPanel
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QApplication

PIP_LINES = [  # what pip 23 prints during `pip install --target … --no-deps URL…`
    "Collecting tifffile==2026.3.3",
    "Downloading tifffile-2026.3.3-py3-none-any.whl (244 kB)",
    "Installing collected packages: tifffile, imagecodecs",
]


def _pump(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.02)


def test_the_install_stage_and_its_clock_show_while_pip_works(qgis_iface):
    panel = InstallPanel(qgis_iface, ["tifffile"], requirements=["tifffile"])
    panel.show()
    seen = []

    def work(progress, is_cancelled):  # the BackgroundTask signature (qgis_bridge/background.py)
        for line in PIP_LINES:
            progress(Progress(0.05, "install", line))
            time.sleep(0.3)
        progress(Progress(0.85, "install"))
        time.sleep(2.5)  # the long silent part: pip unpacks torch
        return "done"

    panel._run("EuroSAT Land Cover: installing packages", work, seen.append)
    stages = []
    end = time.monotonic() + 10
    while panel.task is not None and time.monotonic() < end:
        QCoreApplication.processEvents()
        if panel.stage_label.isVisible():
            stages.append(panel.stage_label.text())
        time.sleep(0.02)
    assert seen == ["done"]
    assert any(s.startswith("Downloading tifffile-2026.3.3") for s in stages), stages
    unpacking = [s for s in stages if s.startswith("Unpacking and installing 2 package(s)")]
    assert unpacking and unpacking[0] != unpacking[-1], "the clock ticks while pip is silent"
    # the clock counts seconds of silence (ticks of 1 s on a loaded machine may come late, never early)
    seconds = [int(re.search(r"\((\d+) min (\d+) s\)$", s).group(2)) for s in unpacking]
    assert seconds == sorted(seconds) and seconds[-1] - seconds[0] >= 1 and seconds[-1] <= 4, unpacking
    bar = panel.log_view.verticalScrollBar()
    assert bar.value() == bar.maximum() and "Installing collected packages" in panel.log_view.toPlainText()
    assert not panel.stage_label.isVisible(), "the stage line goes when the task ends"


def test_open_the_workspace_says_it_is_busy_and_clears_the_missing_warning(qgis_iface, monkeypatch):
    import eurosat_landcover.ui.dock as dock_module
    from eurosat_landcover.toolbelt import dependencies
    from eurosat_landcover.ui import workspace as workspace_module
    from eurosat_landcover.ui.dock import LandCoverDock

    bar = qgis_iface.messageBar()
    QgsMessageBar.pushWarning(bar, "EuroSAT Land Cover", missing_message(["torch"]))  # as plugin.initGui does
    assert any(MISSING_WORDS in item.text() for item in bar.items())
    monkeypatch.setattr(dock_module, "missing_packages", lambda: ["torch"])
    dock = LandCoverDock(qgis_iface)
    during = []
    real_init = workspace_module.Workspace.__init__

    def watched_init(self, *args, **kwargs):  # the real Workspace, observed while it is being built
        cursor = QApplication.overrideCursor()
        during.append((dock.install_panel.notice.text(), cursor.shape() if cursor is not None else None))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(workspace_module.Workspace, "__init__", watched_init)
    try:
        monkeypatch.setattr(dock_module, "missing_packages", dependencies.missing_packages)
        dock.install_panel.installed.emit()  # "Open the workspace"
        assert dock.workspace is not None
        text, cursor = during[0]
        assert text.startswith("Opening the workspace") and cursor is not None
        assert QApplication.overrideCursor() is None, "the busy cursor is put back"
        _pump(0.5)  # the bar removes its widget on the event loop
        assert not any(MISSING_WORDS in item.text() for item in bar.items()), "the 'needs torch' warning is cleared"
    finally:
        dock.shutdown()
        dock.deleteLater()
