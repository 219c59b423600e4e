"""Helpers and fixtures for the dock / Processing tests: real GeoTIFFs, a model card, waiting for tasks."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsApplication, QgsSettings
from qgis.PyQt.QtCore import QCoreApplication

os.environ.setdefault("OMP_NUM_THREADS", "2")

REPO_ROOT = Path(__file__).resolve().parents[2]
# the tests that start the real QGIS desktop application under Xvfb (scripts/replay_analyst.py)
NEEDS_QGIS_DESKTOP = pytest.mark.skipif(
    not (shutil.which("xvfb-run") and shutil.which("qgis")), reason="needs xvfb-run and qgis"
)


@contextlib.contextmanager
def plugin_log():
    """The plugin's messages (its tag in QGIS's message log) while the block runs, as a list."""
    from eurosat_landcover.__about__ import LOG_TAG

    lines = []

    def keep(message, tag, level):
        if tag == LOG_TAG:
            lines.append(message)

    QgsApplication.messageLog().messageReceived.connect(keep)
    try:
        yield lines
    finally:
        QgsApplication.messageLog().messageReceived.disconnect(keep)


@pytest.fixture
def logged():
    """The plugin's log messages during the test (:func:`plugin_log`)."""
    with plugin_log() as lines:
        yield lines


def load_script(name: str):
    """The module of ``scripts/<name>.py`` (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SETTINGS_GROUP = "eurosat_landcover"  # every page's settings (ui/settings.py, ui/*/settings.py)


def write_rgb_geotiff(path, size=192, epsg=32632, origin=(500000.0, 5000000.0), pixel=10.0, seed=0) -> Path:
    """An 8-bit RGB GeoTIFF (size x size px of `pixel` m) with a few land-cover-like patches."""
    from osgeo import gdal, osr

    rng = np.random.default_rng(seed)
    h = w = size
    img = np.zeros((3, h, w), np.uint8)
    img[:, : h // 2, : w // 2] = np.array([40, 90, 40])[:, None, None]  # dark green
    img[:, : h // 2, w // 2 :] = np.array([200, 190, 90])[:, None, None]  # yellow fields
    img[:, h // 2 :, : w // 2] = np.array([30, 60, 120])[:, None, None]  # water
    img[:, h // 2 :, w // 2 :] = np.array([150, 140, 140])[:, None, None]  # built-up
    img = np.clip(img.astype(np.int16) + rng.integers(-15, 15, img.shape), 0, 255).astype(np.uint8)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, 3, gdal.GDT_Byte, options=["TILED=YES"])
    ds.SetGeoTransform((origin[0], pixel, 0.0, origin[1], 0.0, -pixel))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    for i, interp in enumerate((gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand), start=1):
        band = ds.GetRasterBand(i)
        band.WriteArray(img[i - 1])
        band.SetColorInterpretation(interp)
    ds.FlushCache()
    ds = None
    return Path(path)


def default_card_path() -> Path:
    from eurosat_landcover.models.checkpoint import default_card_path as dcp

    return dcp()


@pytest.fixture(scope="session")
def model_card(tmp_path_factory) -> Path:
    """The bundled default model's card when it is installed, else a random-weight Lite0 in tmp."""
    default = default_card_path()
    if default.is_file():
        return default
    import torch
    from eurosat_landcover.models.checkpoint import save_checkpoint
    from eurosat_landcover.models.registry import build_model, eurosat_rgb_card

    card = eurosat_rgb_card(
        "tf_efficientnet_lite0",
        "test_random_lite0",
        title="Random Lite0 (tests)",
        metrics={"test": {"accuracy": 0.1}},
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "random_lite0.json"
    save_checkpoint(build_model("tf_efficientnet_lite0"), card, path)
    return path


def qgis_process(tmp_path, threads: int = 1, timeout: float = 300):
    """``qgis_process`` with a fresh profile in ``tmp_path`` (never the user's), the plugin found through
    QGIS_PLUGINPATH and enabled -> ``run(*args, timeout=timeout)`` giving a CompletedProcess.
    Skips the test where qgis_process is not installed."""
    import shutil
    import subprocess
    import sysconfig

    # Debian's /usr/bin/qgis_process wrapper adds QGIS_OPTS=--noversioncheck from /etc/default/qgis,
    # which qgis_process 3.22 rejects ("Command --noversioncheck not known!"): call the binary.
    exe = next(filter(None, (shutil.which(n) for n in ("qgis_process.bin", "qgis_process"))), None)
    if exe is None:
        pytest.skip("qgis_process is not installed")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "eurosat_landcover").symlink_to(REPO_ROOT, target_is_directory=True)
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_RUNTIME_DIR": str(runtime),
        "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),  # never the user's real profile
        "QGIS_PLUGINPATH": str(plugins),
        "PYTHONPATH": sysconfig.get_paths()["purelib"],  # the venv's torch for the system Python
        "OMP_NUM_THREADS": str(threads),
    }

    def run(*args, timeout=timeout):
        return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=timeout)

    enabled = run("plugins", "enable", "eurosat_landcover")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    return run


@pytest.fixture
def clean_settings():
    """The plugin's remembered settings (every page's) are removed before and after the test."""
    QgsSettings().remove(SETTINGS_GROUP)
    yield
    QgsSettings().remove(SETTINGS_GROUP)


def process_events_until(predicate, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def wait_for_tasks(timeout: float = 180.0) -> None:
    """Process events until QGIS's task manager is idle (finished() callbacks delivered)."""
    manager = QgsApplication.taskManager()
    ok = process_events_until(lambda: manager.countActiveTasks() == 0, timeout)
    for _ in range(20):  # deliver the queued finished() calls
        QCoreApplication.processEvents()
    assert ok, f"tasks still running after {timeout} s"


def files_under(folder) -> list:
    folder = Path(folder)
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
