"""Shared test fixtures: repository paths and the shared EuroSAT datasets."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The engine's disk caches (verified weights, frozen CPU graphs) go to a folder of this test session, never
# to the user's ~/.cache: tests start from an empty cache and leave nothing behind (inherited by subprocesses).
os.environ["EUROSAT_LANDCOVER_CACHE_DIR"] = tempfile.mkdtemp(prefix="eurosat-landcover-test-cache-")
atexit.register(shutil.rmtree, os.environ["EUROSAT_LANDCOVER_CACHE_DIR"], True)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = Path(os.environ.get("EUROSAT_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))
EUROSAT_RGB_ZIP = SHARED_DATASETS / "eurosat-rgb" / "EuroSAT_RGB.zip"
EUROSAT_MS_ZIP = SHARED_DATASETS / "eurosat-ms-sample" / "EuroSAT_MS_sample.zip"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def eurosat_rgb_zip() -> Path:
    if not EUROSAT_RGB_ZIP.is_file():
        pytest.skip(f"EuroSAT RGB zip not found at {EUROSAT_RGB_ZIP} (set EUROSAT_DATASETS)")
    return EUROSAT_RGB_ZIP


@pytest.fixture(scope="session")
def eurosat_ms_zip() -> Path:
    if not EUROSAT_MS_ZIP.is_file():
        pytest.skip(f"EuroSAT MS sample zip not found at {EUROSAT_MS_ZIP} (set EUROSAT_DATASETS)")
    return EUROSAT_MS_ZIP
