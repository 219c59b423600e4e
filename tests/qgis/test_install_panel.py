"""The dock's install panel against the real QGIS: plan, install from PyPI in a QgsTask, refusals, Remove."""

import os
import sys
import time

import pytest
from eurosat_landcover.toolbelt import installer
from eurosat_landcover.toolbelt.deps_folder import ENV_VAR
from eurosat_landcover.ui.install.panel import InstallPanel
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import QMessageBox

PYPI = "https://pypi.org/simple"
SMALL = "tifffile"


@pytest.fixture
def deps_root(tmp_path, monkeypatch):
    root = tmp_path / "eurosat_landcover_deps"
    monkeypatch.setenv(ENV_VAR, str(root))
    return root


@pytest.fixture
def log_lines():
    lines = []

    def keep(message, tag, level):
        if tag == "EuroSAT Land Cover":
            lines.append(message)

    QgsApplication.messageLog().messageReceived.connect(keep)
    yield lines
    QgsApplication.messageLog().messageReceived.disconnect(keep)


def _wait(panel, timeout=240):
    """Let the task manager run the panel's task to its end (events processed, as in QGIS)."""
    deadline = time.monotonic() + timeout
    QCoreApplication.processEvents()
    while panel.task is not None and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert panel.task is None, "the task did not finish"
    QCoreApplication.processEvents()


def _click(button):
    assert button.isVisibleTo(button.parentWidget()) and button.isEnabled(), button.objectName()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def test_install_from_the_panel(qgis_iface, deps_root, log_lines, monkeypatch):
    why = installer.unreachable(PYPI)
    if why:
        pytest.skip(f"{PYPI} cannot be reached ({why})")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the panel puts the new folder on the path
    panel = InstallPanel(qgis_iface, [SMALL], requirements=[SMALL], index_url=PYPI)
    panel.show()
    assert SMALL in panel.notice.text() and "--target" in panel.notice.text()
    assert not panel.remove_button.isVisible()  # nothing installed yet

    _click(panel.install_button)  # plan in the background
    _wait(panel)
    assert panel.plan is not None, panel.error_label.text()
    assert "Download 1 package(s)" in panel.plan_label.text() and SMALL in panel.plan_label.text()
    assert panel.confirm_button.isVisible() and "kB)" in panel.confirm_button.text()
    assert not (deps_root / "py3.11").exists() or not any((deps_root / "py3.11").iterdir())

    _click(panel.confirm_button)  # install in a QgsTask
    assert panel.progress.isVisible() and panel.cancel_button.isVisible()
    _wait(panel)
    target = deps_root / f"py{sys.version_info[0]}.{sys.version_info[1]}"
    assert (target / SMALL).is_dir() and not (target / "numpy").exists()
    assert panel.device_label.isVisible() and "The plugin will use: " in panel.device_label.text()
    assert "CPU" in panel.device_label.text() or "GPU" in panel.device_label.text()
    assert f"Installed into {target}" in panel.notice.text()
    assert any("Successfully installed" in line for line in log_lines), log_lines  # pip's log in the log tab
    assert "Successfully installed" in panel.log_view.toPlainText()
    assert panel.open_button.isVisible() and panel.remove_button.isVisible() and panel.repair_button.isVisible()
    opened = []
    panel.installed.connect(lambda: opened.append(True))
    _click(panel.open_button)
    assert opened == [True]

    # Remove: asks first, then deletes the whole folder.
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    _click(panel.remove_button)
    _wait(panel)
    assert not deps_root.exists()
    assert "Removed" in panel.notice.text()


def test_no_network_is_refused_with_the_manual_command(qgis_iface, deps_root):
    panel = InstallPanel(qgis_iface, [SMALL], requirements=[SMALL], index_url="http://127.0.0.1:9/simple")
    panel.show()
    _click(panel.install_button)
    _wait(panel)
    assert panel.plan is None and panel.error_label.isVisible()
    text = panel.error_label.text()
    assert "http://127.0.0.1:9/simple cannot be reached" in text
    assert "pip install --target" in text and str(deps_root) in text
    assert not deps_root.exists()


def test_qgis_proxy_setting_reaches_the_installer(qgis_iface, deps_root):
    """QGIS's proxy (Options > Network) is what pip and the checks use: an unreachable one is reported."""
    from eurosat_landcover.ui.install.tasks import qgis_proxy
    from qgis.core import QgsSettings

    settings = QgsSettings()
    keys = ("proxyEnabled", "proxyType", "proxyHost", "proxyPort", "proxyUser", "proxyPassword")
    saved = {k: settings.value(f"proxy/{k}") for k in keys}
    try:
        for key, value in zip(keys, (True, "HttpProxy", "127.0.0.1", "9", "ana lyst", "s3cr@t")):
            settings.setValue(f"proxy/{key}", value)
        assert qgis_proxy() == "http://ana%20lyst:s3cr%40t@127.0.0.1:9"
        panel = InstallPanel(qgis_iface, [SMALL], requirements=[SMALL], index_url=PYPI)
        panel.show()
        _click(panel.install_button)
        _wait(panel)
        text = panel.error_label.text()
        assert "cannot be reached through the proxy http://ana%20lyst:***@127.0.0.1:9" in text, text
        assert "s3cr" not in text
        settings.setValue("proxy/proxyType", "DefaultProxy")  # the system's: pip reads the environment
        assert qgis_proxy() is None
    finally:
        for key, value in saved.items():
            settings.remove(f"proxy/{key}") if value is None else settings.setValue(f"proxy/{key}", value)


def test_setup_page_offers_the_optional_packages(qgis_iface, deps_root, monkeypatch):
    """The Setup page lists captum and dask with what they are for; a missing one gets an Install button
    whose plan goes through the same panel (here captum is in the venv: nothing to download)."""
    from eurosat_landcover.toolbelt import dependencies
    from eurosat_landcover.ui.install.page import SetupPage

    real_check = dependencies.check

    def captum_missing(requirements=dependencies.reqs.RUNTIME):
        return [dependencies.Status(s.requirement, None) if s.requirement.name == "captum" else s
                for s in real_check(requirements)]  # fmt: skip

    monkeypatch.setattr(dependencies, "check", captum_missing)
    page = SetupPage(qgis_iface)
    page.panel.check_device = lambda: None  # the device line is covered by the install test
    page.show()
    label, button = page.optional_rows["captum"]
    assert "captum: Grad-CAM heat maps" in label.text() and "(missing)" in label.text()
    assert button.isVisible()
    dask_label, dask_button = page.optional_rows["dask"]
    assert "dask[distributed]" in dask_label.text() and not dask_button.isVisible()
    _click(button)
    _wait(page.panel)
    assert page.panel.plan is not None, page.panel.error_label.text()
    assert page.panel.plan.requirements == ["captum>=0.8,<0.10"]
    assert "Nothing to download" in page.panel.plan_label.text()
    assert "nothing to download" in page.panel.confirm_button.text()
    page.shutdown()


def test_the_dock_offers_install_when_torch_is_missing(qgis_iface, deps_root, monkeypatch):
    from eurosat_landcover.toolbelt import dependencies
    from eurosat_landcover.ui.dock import LandCoverDock

    monkeypatch.setattr(dependencies, "missing_packages", lambda: ["torch", "torchvision"])
    import eurosat_landcover.ui.dock as dock_module

    monkeypatch.setattr(dock_module, "missing_packages", dependencies.missing_packages)
    dock = LandCoverDock(qgis_iface)
    try:
        assert dock.workspace is None and dock.install_panel is not None
        assert dock.widget() is dock.install_panel
        assert "torch" in dock.notice.text() and "--target" in dock.notice.text()
        assert dock.install_panel.install_button.isVisibleTo(dock.install_panel)
        # After an install the packages import: the dock switches to the workspace with its Setup page.
        monkeypatch.setattr(dock_module, "missing_packages", lambda: [])
        dock.install_panel.installed.emit()
        assert dock.workspace is not None and dock.widget() is dock.workspace
        assert dock.workspace.page("setupPage") is not None
    finally:
        dock.shutdown()
        dock.deleteLater()


def test_install_code_has_nothing_qt6_would_reject(repo_root, tmp_path):
    """scripts/check_qt6.py (QGIS's migration checks, Qt enum names from the installed PyQt5) on this code."""
    from .landcover_helpers import load_script

    check_qt6 = load_script("check_qt6")
    enums, ambiguous = check_qt6.scoped_enums()
    assert enums["Qt.AlignLeft"] == "AlignmentFlag" and enums["Qgis.Info"] == "MessageLevel"
    paths = [repo_root / p for p in ("__init__.py", "toolbelt", "ui/install", "scripts/build_zip.py")]
    findings = {
        str(path.relative_to(repo_root)): check_qt6.check_file(path, enums, ambiguous)
        for path in check_qt6.python_files(paths)
    }
    assert {path: found for path, found in findings.items() if found} == {}
    qt5_style = tmp_path / "qt5_style.py"  # the checker does find what it looks for
    qt5_style.write_text("from PyQt5.QtCore import Qt\nx = Qt.AlignLeft\ny = dialog.exec_()\n")
    messages = [m for _line, _col, m in check_qt6.check_file(qt5_style, enums, {})]
    assert "Qt.AlignLeft -> Qt.AlignmentFlag.AlignLeft" in messages
    assert "exec_() is exec() in PyQt6" in messages
    assert any(m.startswith("from PyQt5.QtCore import") for m in messages)
