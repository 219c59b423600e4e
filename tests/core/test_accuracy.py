"""Accuracy through the georeferenced pipeline with the trained default model.

- A mosaic of every TEST-split EuroSAT patch (stratified_split seed 42, never trained on) as a
  georeferenced GeoTIFF, classified at stride 64 (windows aligned to the 64 px blocks): the
  per-block accuracy must match the card's test accuracy within 0.5 points.
- The 50 real 13-band Sentinel-2 GeoTIFFs, one window each (13-band mapping -> B04 B03 B02,
  DN/2750*255 scaling): at least 90 % must agree with their labels.
Both skip while the trained default model (models/weights/eurosat_rgb_lite0.json) is absent.
"""

from __future__ import annotations

import zipfile

import pytest
from engine_testlib import MS_ZIP, RGB_ZIP
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest


def _default_card():
    from eurosat_landcover.models.checkpoint import default_card_path

    return default_card_path()


def _test_accuracy(card):
    t = (card.metrics or {}).get("test")
    if isinstance(t, dict) and "accuracy" in t:
        return float(t["accuracy"]), t
    return None, None


@pytest.fixture(scope="module")
def trained():
    path = _default_card()
    if not path.exists():
        pytest.skip(f"the trained default model {path} is not there yet (models helper delivers it)")
    from eurosat_landcover.models.checkpoint import load_model

    return load_model(path, device="cpu")


@pytest.mark.slow
@pytest.mark.skipif(not RGB_ZIP.exists(), reason=f"{RGB_ZIP} is missing")
@pytest.mark.parametrize("fast_path", ["off", "on"])
def test_mosaic_of_test_split_matches_card_accuracy(trained, tmp_path, fast_path):
    from eurosat_landcover.models.dataset import stratified_split
    from mosaic_testlib import block_accuracy, build_mosaic

    model, card = trained
    acc_card, _info = _test_accuracy(card)
    if acc_card is None:
        pytest.skip("the default model card records no test accuracy (metrics['test']['accuracy'])")
    items = stratified_split(RGB_ZIP, seed=42)["test"]
    truth = build_mosaic(RGB_ZIP, items, tmp_path / "mosaic.tif", columns=50, class_names=card.class_names)
    res = classify(
        ClassificationRequest(
            tmp_path / "mosaic.tif",
            tmp_path / "out",
            stride=64,
            batch_size=64,
            device="cpu",
            fast_path=fast_path,
            mode="windows",
        ),
        model=(model, card),
    )
    acc, n, _ = block_accuracy(res.classes_path, truth)
    path = res.summary["fast_path"]["path"]
    print(
        f"\nmosaic of {n} test patches ({path}): pipeline accuracy {acc:.4f}, card test accuracy {acc_card:.4f} "
        f"({res.windows_per_second:.0f} windows/s)"
    )
    assert path == ("eager" if fast_path == "off" else "torchscript+onednn")
    assert n == len(items) and res.windows == n
    assert abs(acc - acc_card) <= 0.005


@pytest.mark.skipif(not MS_ZIP.exists(), reason=f"{MS_ZIP} is missing")
def test_real_sentinel2_tiles_agree_with_labels(trained, tmp_path):
    model, card = trained
    with zipfile.ZipFile(MS_ZIP) as z:
        members = sorted(m for m in z.namelist() if m.endswith(".tif"))
    right = 0
    wrong = []
    for i, member in enumerate(members):
        label = member.split("/")[-2]
        res = classify(
            ClassificationRequest(
                f"/vsizip/{MS_ZIP}/{member}",
                tmp_path / f"o{i}",
                stride=64,
                batch_size=1,
                device="cpu",
                write_probabilities=False,
                mode="windows",
            ),
            model=(model, card),
        )
        assert res.radiometry["method"] == "sentinel2_l1c" and res.band_mapping["bands"] == [4, 3, 2]
        assert res.windows == 1
        got = max(res.area_km2, key=res.area_km2.get)
        if got == label:
            right += 1
        else:
            wrong.append(f"{member.split('/')[-1]} -> {got}")
    print(f"\nreal Sentinel-2 tiles: {right}/{len(members)} agree with their labels; wrong: {wrong}")
    assert right >= 0.9 * len(members)


@pytest.mark.skipif(not RGB_ZIP.exists(), reason=f"{RGB_ZIP} is missing")
@pytest.mark.parametrize("fast_path", ["off", "on"])
def test_mosaic_pipeline_equals_direct_model_predictions(loaded_model, tmp_path, fast_path):
    """Without the trained model: the pipeline must give, block for block, the model's own answer,
    on the eager model and on the CPU fast path (traced module, models/fast_path.py) alike."""
    import numpy as np
    import torch
    from eurosat_landcover.models.dataset import read_rgb, stratified_split
    from mosaic_testlib import block_accuracy, build_mosaic

    model, card = loaded_model
    items = stratified_split(RGB_ZIP, seed=42)["test"][::30][:70]  # 70 patches: 6 rows of 12, last row partial
    truth = build_mosaic(RGB_ZIP, items, tmp_path / "m.tif", columns=12, class_names=card.class_names)
    res = classify(
        ClassificationRequest(
            tmp_path / "m.tif",
            tmp_path / "out",
            stride=64,
            batch_size=32,
            device="cpu",
            fast_path=fast_path,
            mode="windows",
        ),
        model=(model, card),
    )
    assert res.windows == 70 and res.skipped_windows == 2  # two transparent blocks
    assert res.summary["fast_path"]["path"] == ("eager" if fast_path == "off" else "torchscript+onednn")
    _, _, pred = block_accuracy(res.classes_path, truth)
    x = torch.as_tensor(np.stack([read_rgb(RGB_ZIP, m) for m, _ in items]).transpose(0, 3, 1, 2)).float()
    with torch.inference_mode():
        direct = model(x).argmax(1).numpy()
    np.testing.assert_array_equal(pred, direct)


SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[2] / "sample_data"


@pytest.mark.skipif(not (SAMPLE / "eurosat_mosaic_rgb.tif").exists(), reason="sample_data not built")
def test_bundled_samples_run(loaded_model, tmp_path):
    import json

    truth = json.loads((SAMPLE / "eurosat_mosaic_rgb_truth.json").read_text())
    assert len(truth["blocks"]) == 96
    res = classify(
        ClassificationRequest(
            SAMPLE / "eurosat_mosaic_rgb.tif", tmp_path / "a", stride=64, device="cpu", mode="windows"
        ),
        model=loaded_model,
    )
    assert res.windows == 96 and res.summary["working_raster"]["crs"] == "EPSG:32632"
    res = classify(
        ClassificationRequest(SAMPLE / "sentinel2_13band.tif", tmp_path / "b", stride=64, device="cpu", mode="windows"),
        model=loaded_model,
    )
    assert res.windows == 1 and res.radiometry["method"] == "sentinel2_l1c"
