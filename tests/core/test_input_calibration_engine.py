"""A card's input calibration through the engine: windows mode on a real GeoTIFF, eager, the traced CPU graph
(cached on disk, never shared with the uncalibrated card's) and the INT8 module all apply it.

The raster is the bundled sample mosaic (EuroSAT test patches) under bench_finetune's ``sensor_crosstalk``;
the calibrated card is the bundled card and weights with that shift's inverse as ``input_calibration``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from eurosat_landcover.models.checkpoint import default_card_path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data" / "eurosat_mosaic_rgb.tif"
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_finetune import INVERSE_CALIBRATION as INVERSE  # noqa: E402
from bench_finetune import sensor_crosstalk  # noqa: E402


@pytest.fixture(scope="module")
def scene(tmp_path_factory, card_with_calibration):
    """(shifted raster, plain raster, calibrated card) in a folder of this module."""
    from osgeo import gdal

    folder = tmp_path_factory.mktemp("calibrated")
    plain = folder / "plain.tif"
    gdal.Translate(str(plain), str(SAMPLE), srcWin=[0, 0, 384, 256], bandList=[1, 2, 3])
    ds = gdal.Open(str(plain))
    data = ds.ReadAsArray()
    shifted = folder / "shifted.tif"
    out = gdal.GetDriverByName("GTiff").CreateCopy(str(shifted), ds)
    moved = sensor_crosstalk(data[None])[0]
    for b in range(3):
        out.GetRasterBand(b + 1).WriteArray(moved[b])
    out = ds = None
    return shifted, plain, card_with_calibration(default_card_path(), folder, INVERSE, "calibrated.json")


def run(image: Path, out: Path, card, fast_path: str):
    """(classes, confidence, the summary's fast_path) of a stride-64 run."""
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest
    from osgeo import gdal

    req = ClassificationRequest(image, out, model_card=card and str(card), stride=64, radiometry="8bit", mode="windows",
                                threads=1, write_probabilities=False, overwrite=True, fast_path=fast_path)  # fmt: skip
    classify(req)
    read = {k: gdal.Open(str(out / f"{image.stem}_{k}.tif")).ReadAsArray() for k in ("classes", "confidence")}
    summary = json.loads((out / f"{image.stem}_summary.json").read_text())
    return read["classes"], read["confidence"], summary["fast_path"]


def test_every_model_path_applies_the_cards_calibration(scene, tmp_path):
    shifted, plain, card = scene
    _parent, parent_conf, _ = run(shifted, tmp_path / "p", None, "off")
    parent_plain, _, _ = run(plain, tmp_path / "u", None, "off")
    eager, eager_conf, fp = run(shifted, tmp_path / "e", card, "off")
    assert fp["path"] == "eager"
    # the calibration undoes the shift: the calibrated card on the shifted scene answers as the parent does on
    # the plain one (rounding to 8 bits aside), and its answers differ from the parent's on the shifted scene
    assert (eager == parent_plain).mean() >= 0.95
    assert not np.array_equal(eager_conf, parent_conf)
    traced, traced_conf, fp = run(shifted, tmp_path / "t", card, "on")
    if fp["path"] != "eager":
        assert np.array_equal(traced, eager) and np.abs(traced_conf.astype(int) - eager_conf.astype(int)).max() <= 1
    int8, _conf, fp = run(shifted, tmp_path / "i", card, "int8")
    if fp["path"] == "int8":
        assert (int8 == eager).mean() >= 0.9, fp


def test_a_calibrated_card_never_loads_the_uncalibrated_cards_cached_graph(scene, tmp_path, monkeypatch):
    """Same weights (same sha256), other calibration: the disk graph cache keys them apart (fails before:
    the key held weights, architecture and normalisation only, and the calibrated card loaded the parent's
    graph, giving the parent's answers)."""
    from eurosat_landcover.models import model_cache, weights_memo

    monkeypatch.setenv(weights_memo.ENV, str(tmp_path / "cache"))
    model_cache.release()
    shifted, _plain, card = scene
    _c, parent_conf, first = run(shifted, tmp_path / "p", None, "on")
    if first["path"] == "eager":
        pytest.skip(f"no CPU fast path on this machine: {first['reason']}")
    assert "cached" in (first["graph_cache"] or "")
    model_cache.release()  # a new process's view: only the disk cache is left
    classes, conf, second = run(shifted, tmp_path / "c", card, "on")
    assert not (second["graph_cache"] or "").startswith("loaded"), second
    eager, _conf, _ = run(shifted, tmp_path / "e", card, "off")
    assert np.array_equal(classes, eager) and not np.array_equal(conf, parent_conf)


def test_map_mode_applies_a_map_cards_calibration(scene, tmp_path, card_with_calibration):
    """The per-pixel model of map mode is built by the same classifier: a map card's input calibration
    undoes the shift there too (the calibrated map card on the shifted scene answers as the bundled map
    model does on the plain one, rounding aside)."""
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest
    from eurosat_landcover.models.checkpoint import default_map_card_path
    from osgeo import gdal

    shifted, plain, _card = scene
    card = card_with_calibration(default_map_card_path(), tmp_path, INVERSE, "map_calibrated.json")

    def classes(image, out, model):
        req = ClassificationRequest(image, out, model_card=model and str(model), mode="map", radiometry="8bit",
                                    threads=1, write_probabilities=False, overwrite=True, fast_path="off")  # fmt: skip
        classify(req)
        return gdal.Open(str(out / f"{image.stem}_classes.tif")).ReadAsArray()

    parent_plain = classes(plain, tmp_path / "u", None)
    parent_shifted = classes(shifted, tmp_path / "p", None)
    calibrated = classes(shifted, tmp_path / "c", card)
    assert (calibrated == parent_plain).mean() >= 0.95
    assert (calibrated == parent_plain).mean() > (parent_shifted == parent_plain).mean()
