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


def _card_with_calibration(src: Path, folder: Path, calibration, name: str) -> Path:
    """A copy of the card ``src`` in ``folder`` (its weights file beside it) carrying ``calibration``."""
    import json

    shutil.copy(src.with_suffix(".safetensors"), folder / src.with_suffix(".safetensors").name)
    d = json.loads(src.read_text(encoding="utf-8"))
    d["input_calibration"] = calibration
    out = folder / name
    out.write_text(json.dumps(d), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def card_with_calibration():
    """``card_with_calibration(src, folder, calibration, name)``: a calibrated copy of a model card."""
    return _card_with_calibration
