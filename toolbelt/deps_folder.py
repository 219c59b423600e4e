"""The folder the plugin owns for the packages it installs, and putting it on the import path.

``<QGIS profile>/python/eurosat_landcover_deps/py<major>.<minor>``: inside the profile (the user can write
there on every platform, no administrator rights), outside the plugin folder (a plugin update does not
delete it), one sub-folder per Python version (compiled wheels are built for one). The environment
variable ``EUROSAT_LANDCOVER_DEPS`` replaces the ``eurosat_landcover_deps`` folder (tests, shared installs).

Cheap: called from the plugin's ``classFactory`` before anything else; imports no Qt widgets and no torch.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
from pathlib import Path

from .requirements import normalize

ENV_VAR = "EUROSAT_LANDCOVER_DEPS"
FOLDER_NAME = "eurosat_landcover_deps"
# Never installed into the plugin's folder, whatever pip thinks: QGIS and GDAL are built against these.
PROTECTED = (
    "numpy",
    "gdal",
    "pyqt5",
    "pyqt5-sip",
    "pyqt5-qt5",
    "pyqt6",
    "pyqt6-sip",
    "pyqt6-qt6",
    "sip",
    "qscintilla",
    "pyqt5-qscintilla",
    "qgis",
)
# Top-level import names of the protected distributions, for pruning a folder filled by hand.
PROTECTED_MODULES = ("numpy", "osgeo", "PyQt5", "PyQt6", "sip", "qgis")


def deps_root() -> Path:
    """The folder Remove deletes: every Python version's packages."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    settings = ""
    try:
        from qgis.core import QgsApplication

        settings = QgsApplication.qgisSettingsDirPath()
    except Exception:  # outside QGIS (CLI, tests without QGIS)
        settings = ""
    if settings:
        return Path(settings) / "python" / FOLDER_NAME
    return Path.home() / ".local" / "share" / FOLDER_NAME


def deps_folder(root: Path | None = None) -> Path:
    """Where pip installs for the running Python (``py3.11``)."""
    return (root or deps_root()) / f"py{sys.version_info[0]}.{sys.version_info[1]}"


def pending_removal_marker(root: Path) -> Path:
    return Path(root).with_name(Path(root).name + ".remove-pending")


def add_to_sys_path(folder: Path | None = None) -> bool:
    """Put the plugin's package folder first on ``sys.path`` (when it exists); True when it is there.

    First, so a compatible torch installed there wins over an older one elsewhere; the installer never puts
    numpy, GDAL or anything else the running Python already provides in it, so nothing of QGIS's is shadowed.
    """
    folder = Path(folder) if folder is not None else deps_folder()
    marker = pending_removal_marker(folder.parent)
    if marker.exists():  # Remove could not delete it while QGIS had it loaded (Windows): now it can
        shutil.rmtree(folder.parent, ignore_errors=True)
        if not folder.parent.exists():
            marker.unlink()
    if not folder.is_dir():
        return False
    if any((folder / name).exists() for name in PROTECTED_MODULES):  # e.g. after the manual `pip install --target`
        prune_protected(folder)
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)
        importlib.invalidate_caches()
    return True


def prune_protected(target: Path) -> list:
    """Delete numpy, GDAL, PyQt... from the plugin's folder (e.g. after a manual ``pip install --target``)."""
    target = Path(target)
    if not target.is_dir():
        return []
    removed = []
    for entry in list(target.iterdir()):
        stem = re.split(r"-\d", entry.name, maxsplit=1)[0] if entry.suffix == ".dist-info" else entry.name
        if entry.name in PROTECTED_MODULES or (
            entry.suffix in (".dist-info", ".egg-info") and normalize(stem) in PROTECTED
        ):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    for extra in target.glob("numpy.libs"):
        shutil.rmtree(extra)
        removed.append(extra.name)
    return removed
