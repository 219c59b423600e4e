"""The INT8 CPU path in map mode (models/int8_map.py): the fixed-shape network is the map network at the tile
size, ``--fast-path int8`` runs the quantized module where the CPU has VNNI and it agrees with fp32 on the
bundled sample, the entry is cached on disk and reused, and a run without calibration data falls back to
fp32 with a note."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eurosat_landcover.core.pipeline import classify  # noqa: E402
from eurosat_landcover.core.request import ClassificationRequest  # noqa: E402
from eurosat_landcover.models import int8_map, int8_path, model_cache  # noqa: E402
from eurosat_landcover.models.checkpoint import default_card_path, default_map_card_path, load_model  # noqa: E402

SAMPLE = default_card_path().parents[2] / "sample_data" / "eurosat_mosaic_rgb.tif"
AGREEMENT = 0.99  # INT8's classes = fp32's on 99.35 % of the sample's pixels (benchmarks/results_int8.md, map mode)


def _run(out, fast_path: str, threads=1) -> tuple[dict, np.ndarray]:
    from osgeo import gdal

    req = ClassificationRequest(str(SAMPLE), str(out), mode="map", device="cpu", fast_path=fast_path, threads=threads)
    summary = json.loads(classify(req).summary_path.read_text())
    return summary, gdal.Open(summary["outputs"]["classes"]).ReadAsArray()


def test_tile_net_is_the_map_network_at_the_tile_shape():
    """What is quantized: MapNet's forward at a fixed 256 px tile, its "same" padding fixed and batch norms folded."""
    model, _ = load_model(default_map_card_path())
    x = (torch.rand(2, 3, 256, 256) * 255 - model.mean) / model.std
    fixed = int8_path.static_padding(int8_map.TileNet(model.net, 256).eval(), x)
    with torch.inference_mode():
        assert torch.allclose(fixed(x), model.net(x), atol=1e-3)
    assert not any(type(m).__name__ in ("Conv2dSame", "BatchNormAct2d") for m in fixed.modules())


def test_map_mode_int8_runs_the_quantized_module_agrees_with_fp32_and_is_cached(tmp_path, monkeypatch, eurosat_rgb_zip):
    if not int8_path.int8_flags():
        pytest.skip("this CPU has no integer dot-product instructions (VNNI / AMX): map mode keeps fp32")
    monkeypatch.setenv("EUROSAT_LANDCOVER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(int8_path.CALIBRATION_ENV, str(eurosat_rgb_zip))
    model_cache.release()
    fp32, classes32 = _run(tmp_path / "fp32", "on")
    int8, classes8 = _run(tmp_path / "int8", "int8")
    assert fp32["fast_path"]["path"] == "torchscript+onednn"
    assert int8["fast_path"]["path"] == "int8" and "INT8 map model" in int8["fast_path"]["reason"], int8["fast_path"]
    assert "quantized and cached" in int8["fast_path"]["graph_cache"] and not int8["warnings"]
    assert list((tmp_path / "cache" / "graphs").glob("int8map_*.pt"))
    assert (classes8 == classes32).mean() >= AGREEMENT
    model_cache.release()  # a new session: the quantized module comes from the disk cache, checked on its probe tiles
    again, classes_again = _run(tmp_path / "again", "int8", threads=None)  # on the idle CPUs, as in windows mode
    assert again["fast_path"]["path"] == "int8" and again["fast_path"]["graph_cache"].startswith("loaded ")
    assert "INT8 run on " in again["fast_path"]["reason"]
    assert again["timings_s"]["model_prepare"] < int8["timings_s"]["model_prepare"] / 3
    assert np.array_equal(classes_again, classes8)


def test_map_mode_int8_without_calibration_data_runs_fp32_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv("EUROSAT_LANDCOVER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(int8_path.CALIBRATION_ENV, str(tmp_path / "absent.zip"))
    model_cache.release()
    summary, _ = _run(tmp_path / "out", "int8")
    why = "the INT8 path is not available: no EuroSAT training data to calibrate on"
    assert summary["fast_path"]["path"] != "int8" and summary["fast_path"]["reason"].startswith(why)
    assert "fast_path=auto" in summary["fast_path"]["reason"]
    assert any(w.startswith(why) and int8_path.CALIBRATION_ENV in w for w in summary["warnings"])
    model_cache.release()  # the fallback is remembered in this process; the next test's data may differ


def test_a_calibrated_map_card_runs_int8_behind_its_input_calibration(monkeypatch):
    """models/model_cache sends a map model to models/int8_map.prepare through input_calibration.prepare_int8,
    as the windows classifier: the network is quantized without the card's calibration, which runs before it."""
    from dataclasses import replace

    from eurosat_landcover.models.fast_path import FastPathReport
    from eurosat_landcover.models.input_calibration import CalibratedModule

    model, card = load_model(default_map_card_path())
    look = {"matrix": [[0.9, 0.05, 0], [0, 1, 0], [0, 0, 1]], "gamma": [1.1, 1, 1], "offset": [2.0, 0, 0]}
    model.card = replace(card, input_calibration=look)
    got = []
    int8 = torch.nn.Identity()
    int8.mean = torch.zeros(1, 3, 1, 1)

    def fake(m, bands, tile):
        got.append((m.card.input_calibration, bands, tile))
        return int8, FastPathReport("int8", "stub")

    monkeypatch.setattr(int8_map, "prepare", fake)
    module, report = model_cache.fast_path_module(model, None, 0, 3, 256, int8=True)
    assert got == [({}, 3, 256)] and report.used
    assert isinstance(module, CalibratedModule) and module.module is int8 and module.mean is int8.mean
