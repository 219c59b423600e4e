"""Fixtures for the engine tests: a random-weight model and real GeoTIFFs written with GDAL."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_NUM_THREADS", "2")

from engine_testlib import BrightnessModel, make_card


@pytest.fixture(scope="session")
def random_card(tmp_path_factory) -> Path:
    """A random-weight EfficientNet-Lite0 checkpoint + card (seeded)."""
    import torch
    from eurosat_landcover.models.checkpoint import save_checkpoint
    from eurosat_landcover.models.registry import build_model

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("model")
    save_checkpoint(build_model("tf_efficientnet_lite0"), make_card(), d / "m.json")
    return d / "m.json"


@pytest.fixture(scope="session")
def loaded_model(random_card):
    from eurosat_landcover.models.checkpoint import load_model

    return load_model(random_card, device="cpu")


@pytest.fixture
def brightness_model():
    return BrightnessModel(), make_card()
