"""The shipped INT8 model (models/int8_shipped.py, made by models/int8_qat.py): its state rebuilds the module it
was saved from, the engine uses it without EuroSAT data when its parent is the loaded model's weights, and any
other parent (or a damaged file) takes the calibrated path as before."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eurosat_landcover.core.pipeline import classify  # noqa: E402
from eurosat_landcover.core.request import ClassificationRequest  # noqa: E402
from eurosat_landcover.models import int8_path, int8_shipped, model_cache  # noqa: E402
from eurosat_landcover.models.checkpoint import default_card_path  # noqa: E402
from eurosat_landcover.models.graph_cache import model_identity  # noqa: E402
from eurosat_landcover.models.lazy_model import materialise  # noqa: E402

SAMPLE = default_card_path().parents[2] / "sample_data" / "eurosat_mosaic_rgb.tif"


@pytest.fixture(scope="module")
def loaded():
    model, card, _ = model_cache.cached_model(default_card_path(), "cpu")
    return model, card


@pytest.fixture(scope="module")
def windows():
    """Real windows: the sample's (EuroSAT test patches in a mosaic) at stride 32, float 0-255."""
    from eurosat_landcover.models.int8_cells import windows_of
    from osgeo import gdal

    return torch.from_numpy(windows_of(gdal.Open(str(SAMPLE)).ReadAsArray(), stride=32)[2]).float()


@pytest.fixture(scope="module")
def written(loaded, windows, tmp_path_factory):
    """An INT8 module (quantized on the sample's windows) written in the shipped format: (folder, module)."""
    model, card = loaded
    folder = tmp_path_factory.mktemp("shipped")
    module = int8_path.quantize(materialise(model).eval(), windows[::4])
    probe = windows[1::5][:64]
    int8_shipped.write(folder, card.name, module, model_identity(model), card.patch_size, 3, probe, "test model")
    return folder, module


def no_data_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EUROSAT_LANDCOVER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(int8_path.CALIBRATION_ENV, str(tmp_path / "absent.zip"))
    model_cache.release()


def test_shipped_state_rebuilds_the_module_it_was_saved_from(loaded, windows, written):
    model, card = loaded
    folder, module = written
    found = int8_shipped.find(model_identity(model), 3, card.patch_size, folder=folder)
    assert found is not None and found[0].name == f"{card.name}_int8.json"
    assert found[1]["parent_sha256"] == card.weights_sha256
    rebuilt, probe = int8_path.from_shipped(materialise(model).eval(), *found)
    with torch.inference_mode():
        assert torch.equal(rebuilt(windows), module(windows))  # a real forward pass, bit for bit
        unloaded = int8_path.quantize(materialise(model).eval(), torch.zeros(1, 3, 64, 64), calibrate=False)
        assert not torch.equal(unloaded(windows), module(windows))  # the state, not the structure, gives it
    assert probe.dtype == torch.uint8 and probe.shape == (64, 3, 64, 64)
    assert int8_shipped.find(model_identity(model), 3, 32, folder=folder) is None  # another patch size


def test_engine_uses_the_shipped_model_without_calibration_data(loaded, written, tmp_path, monkeypatch):
    model, card = loaded
    monkeypatch.setattr(int8_shipped, "weights_dir", lambda: written[0])
    no_data_no_cache(monkeypatch, tmp_path)
    _, report = int8_path.prepare(model, 3, card.patch_size)
    assert report.path == "int8", report.reason
    assert "INT8 (quantization-aware fine-tuned, shipped" in report.reason
    assert f"the shipped test model model {card.name}_int8.pt" in report.graph_cache, report.graph_cache
    _, again = int8_path.prepare(model, 3, card.patch_size)  # cached like the calibrated model
    assert again.graph_cache.startswith("loaded ") and again.reason == report.reason


def test_another_parent_or_a_damaged_file_takes_the_calibrated_path(loaded, written, tmp_path, monkeypatch):
    model, card = loaded
    folder = tmp_path / "weights"
    folder.mkdir()
    meta = json.loads((written[0] / f"{card.name}_int8.json").read_text())
    (folder / f"{card.name}_int8.pt").write_bytes((written[0] / f"{card.name}_int8.pt").read_bytes())
    monkeypatch.setattr(int8_shipped, "weights_dir", lambda: folder)
    no_data_no_cache(monkeypatch, tmp_path)
    for parent, damaged in (("0" * 64, False), (card.weights_sha256, True)):
        (folder / f"{card.name}_int8.json").write_text(json.dumps(dict(meta, parent_sha256=parent)))
        if damaged:
            with open(folder / f"{card.name}_int8.pt", "r+b") as fh:
                fh.seek(-100, 2)
                fh.write(b"\0" * 8)
        key = int8_path.int8_key(model, 3, card.patch_size)
        assert ("shipped" in key) is damaged  # another parent: not even in the cache key
        module, report = int8_path.prepare(model, 3, card.patch_size)
        assert module is model and report.reason.startswith("INT8 path not available: "), report.reason
        assert "no EuroSAT training data to calibrate on" in report.reason  # the calibrated path, as before
        assert ("could not be used (ValueError" in report.reason) is damaged, report.reason


def test_the_bundled_int8_model_is_for_the_bundled_weights_and_runs_without_data(loaded, tmp_path, monkeypatch):
    from osgeo import gdal

    model, card = loaded
    found = int8_shipped.find(model_identity(model), 3, card.patch_size)
    if found is None:
        pytest.skip("no INT8 model shipped for the bundled weights")
    assert found[1]["parent_sha256"] == card.weights_sha256 and found[0].parent == default_card_path().parent
    assert (found[0].parent / found[1]["file"]).stat().st_size < 6e6
    no_data_no_cache(monkeypatch, tmp_path)
    maps = {}
    for mode in ("off", "int8"):
        res = classify(
            ClassificationRequest(SAMPLE, tmp_path / mode, stride=32, device="cpu", fast_path=mode, mode="windows")
        )
        maps[mode] = gdal.Open(str(res.classes_path)).ReadAsArray()
        fast = json.loads(res.summary_path.read_text())["fast_path"]
    if int8_path.int8_flags():
        assert fast["path"] == "int8", fast["reason"]
    if fast["path"] == "int8":
        assert "INT8 (quantization-aware fine-tuned, shipped" in fast["reason"]
        assert np.mean(maps["off"] == maps["int8"]) >= 0.97  # benchmarks/results_int8.md has the stride-16 figure
