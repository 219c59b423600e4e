"""The built zip holds the plugin and nothing else, and loads from a temporary plugins folder."""

import json
import subprocess
import sys
import textwrap
import zipfile


def _build(repo_root, tmp_path):
    result = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "build_zip.py"), "--output", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (zip_path,) = (tmp_path / "dist").glob("eurosat_landcover.*.zip")
    return zip_path


def test_zip_contents(repo_root, tmp_path):
    names = zipfile.ZipFile(_build(repo_root, tmp_path)).namelist()
    assert all(n.startswith("eurosat_landcover/") for n in names)
    for required in ["metadata.txt", "__init__.py", "plugin.py", "icons/icon.png", "resources.qrc"]:
        assert f"eurosat_landcover/{required}" in names
    for forbidden in ["/tests/", "/.venv/", "/.git/", "__pycache__", ".pyc", "/sample_data/", "/runs/"]:
        assert not [n for n in names if forbidden in n], forbidden


def test_zip_loads_from_a_plugins_folder(repo_root, tmp_path):
    """In a fresh QGIS Python (Debian's, outside the venv) the unzipped plugin loads and starts."""
    plugins = tmp_path / "plugins"
    zipfile.ZipFile(_build(repo_root, tmp_path)).extractall(plugins)
    code = textwrap.dedent(
        f"""
        import json, sys
        from qgis.core import QgsApplication
        app = QgsApplication([], True)
        app.initQgis()
        from unittest.mock import MagicMock
        from qgis.PyQt.QtWidgets import QMainWindow
        import qgis.utils
        iface = MagicMock()
        window = QMainWindow()
        iface.mainWindow.return_value = window
        qgis.utils.iface = iface
        qgis.utils.plugin_paths = [{str(plugins)!r}]
        sys.path.insert(0, {str(plugins)!r})
        qgis.utils.updateAvailablePlugins()
        loaded = qgis.utils.loadPlugin("eurosat_landcover")
        started = qgis.utils.startPlugin("eurosat_landcover")
        module = sys.modules["eurosat_landcover"].__file__
        unloaded = qgis.utils.unloadPlugin("eurosat_landcover")
        toolbar_added = iface.addToolBarIcon.called and iface.addPluginToRasterMenu.called
        print(json.dumps(dict(loaded=loaded, started=started, module=module, unloaded=unloaded,
                              toolbar_added=toolbar_added, removed=iface.removeToolBarIcon.called)))
        """
    )
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    result = subprocess.run(
        ["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] and report["started"] and report["unloaded"], report
    assert report["toolbar_added"] and report["removed"], report
    assert report["module"].startswith(str(plugins)), report


def test_plugins_xml_is_read_by_the_qgis_plugin_manager(repo_root, tmp_path):
    """QGIS's own repository code (pyplugin_installer) loads plugins.xml as a custom repository (file:// URL)
    and sees the plugin under its folder name, with the version of metadata.txt and the zip's address."""
    zip_path = _build(repo_root, tmp_path)
    xml = zip_path.parent / "plugins.xml"
    code = textwrap.dedent(
        f"""
        import json, sys, time
        from unittest.mock import MagicMock
        from qgis.core import QgsApplication
        app = QgsApplication([], False)
        app.initQgis()
        import qgis.utils
        qgis.utils.iface = MagicMock()
        sys.path.insert(0, QgsApplication.pkgDataPath() + "/python")
        from pyplugin_installer.installer_data import Relay, Repositories, plugins
        from qgis.PyQt.QtCore import QCoreApplication
        repos = Repositories()
        repos.mRepositories = {{"custom": dict(url={xml.as_uri()!r}, authcfg="", enabled=True, valid=True,
                                              Relay=Relay("custom"), xmlData=None, state=0, error="")}}
        repos.requestFetching("custom")
        start = time.time()
        while repos.mRepositories["custom"]["state"] == Repositories.STATE_LOADING and time.time() - start < 30:
            QCoreApplication.processEvents()
            time.sleep(0.01)
        found = [dict(id=p["id"], version=p["version_available"], url=p["download_url"])
                 for p in plugins.repoCache.get("custom", [])]
        print(json.dumps(dict(state=repos.mRepositories["custom"]["state"], plugins=found)))
        """
    )
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    result = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    version = next(
        line.split("=", 1)[1]
        for line in (repo_root / "metadata.txt").read_text().splitlines()
        if line.startswith("version=")
    )
    assert report["state"] == 2, report  # Repositories.STATE_LOADED
    assert report["plugins"] == [dict(id="eurosat_landcover", version=version, url=zip_path.as_uri())], report
