"""``python -m eurosat_landcover predict``: one image file -> the classes evaluate and the engine give."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from engine_testlib import RGB_ZIP, write_geotiff
from eurosat_landcover.cli import main

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not RGB_ZIP.exists(), reason=f"{RGB_ZIP} is missing")

REPO = Path(__file__).resolve().parents[2]
S2_SAMPLE = REPO / "sample_data" / "sentinel2_13band.tif"
PICKS = ("Forest", "Industrial", "SeaLake", "Residential")


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> Path:
    """A EuroSAT-layout folder with one real JPEG per class in PICKS."""
    root = tmp_path_factory.mktemp("jpegs") / "EuroSAT_RGB"
    with zipfile.ZipFile(RGB_ZIP) as zf:
        names = zf.namelist()
        for cls in PICKS:
            member = sorted(n for n in names if f"/{cls}/" in n)[7]
            (root / cls).mkdir(parents=True)
            (root / cls / Path(member).name).write_bytes(zf.read(member))
    return root


def predict_json(capsys, *args) -> dict:
    assert main(["predict", *map(str, args), "--json", "--device", "cpu"]) == 0
    return json.loads(capsys.readouterr().out)


def test_predict_gives_the_class_and_probabilities_evaluate_gives(jpegs, capsys, tmp_path):
    from eurosat_landcover.models.checkpoint import load_model
    from eurosat_landcover.models.dataset import list_eurosat, load_arrays
    from eurosat_landcover.models.evaluate import predict_logits

    model, card = load_model(None, device="cpu")
    listing = list_eurosat(jpegs, card.class_names)
    items = sorted((m, card.class_names.index(c)) for c, ms in listing.items() for m in ms)
    images, _labels = load_arrays(jpegs, items, size=card.patch_size)
    ev = torch.softmax(predict_logits(model, images, batch_size=256, device="cpu")[0], 1).numpy()
    # the evaluate command itself, on the same folder: its confusion matrix says what it predicted
    out_json = tmp_path / "eval.json"
    assert main(["evaluate", str(jpegs), "--device", "cpu", "--json", str(out_json)]) == 0
    capsys.readouterr()
    cm = np.asarray(json.loads(out_json.read_text())["confusion"])
    for k, (member, label) in enumerate(items):
        res = predict_json(capsys, jpegs / member, "--top-k", "10")
        assert res["input"] == "as is"
        probs = np.array([res["probabilities"][c] for c in card.class_names])
        np.testing.assert_allclose(probs, ev[k], atol=2e-6)
        assert res["class"] == card.class_names[int(ev[k].argmax())]
        assert cm[label, card.class_names.index(res["class"])] == 1
        assert [t["class"] for t in res["top"]] == [card.class_names[i] for i in np.argsort(-ev[k])]


def test_text_output_and_the_grad_cam_png(jpegs, capsys, tmp_path):
    from PIL import Image

    jpg = next((jpegs / "Industrial").glob("*.jpg"))
    png = tmp_path / "cam.png"
    assert main(["predict", str(jpg), "--top-k", "2", "--gradcam", str(png), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "input: as is (64 x 64 px)" in text and "  1. Industrial" in text and "  3." not in text
    im = np.asarray(Image.open(png))
    umask = os.umask(0)
    os.umask(umask)
    assert png.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert im.shape[1] > 2 * 256 and im.shape[2] == 3
    # never overwritten without --overwrite; no temporary file left behind
    before = png.read_bytes()
    assert main(["predict", str(jpg), "--gradcam", str(png), "--class", "SeaLake", "--device", "cpu"]) == 2
    assert "exists" in capsys.readouterr().err and png.read_bytes() == before
    args = ["predict", str(jpg), "--gradcam", str(png), "--class", "seaLake", "--overwrite", "--device", "cpu"]
    assert main(args) == 0
    assert "grad-cam: SeaLake" in capsys.readouterr().out and png.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.png"]
    assert main(["predict", str(jpg), "--gradcam", str(tmp_path / "x.png"), "--class", "Beach"]) == 2
    assert "Forest" in capsys.readouterr().err  # the error lists the model's classes
    assert main(["predict", str(jpg), "--class", "Forest"]) == 2
    assert "--gradcam" in capsys.readouterr().err


def test_other_sizes_are_resized_and_say_so(jpegs, capsys, tmp_path):
    from eurosat_landcover.core.inspect import engine_probabilities
    from eurosat_landcover.models.checkpoint import load_model
    from PIL import Image

    big = Image.open(next((jpegs / "Forest").glob("*.jpg"))).convert("RGB").resize((100, 80))
    big.save(tmp_path / "big.png")
    res = predict_json(capsys, tmp_path / "big.png", "--top-k", "10")
    assert res["input"] == "resized" and "from 100 x 80 px to 64 x 64 px" in res["input_text"]
    model, card = load_model(None, device="cpu")
    x = np.asarray(big.resize((64, 64), Image.BILINEAR), np.float32).transpose(2, 0, 1)[None]
    want = engine_probabilities(model, torch.device("cpu"), x)[0]
    np.testing.assert_allclose([res["probabilities"][c] for c in card.class_names], want, atol=2e-6)


def test_a_georeferenced_raster_is_windowed_like_a_run(jpegs, capsys, tmp_path):
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest
    from osgeo import gdal
    from PIL import Image

    tiles = [np.asarray(Image.open(next((jpegs / c).glob("*.jpg"))).convert("RGB")) for c in PICKS]
    mosaic = np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0).transpose(2, 0, 1)
    src = write_geotiff(tmp_path / "m.tif", mosaic)
    res = predict_json(capsys, src, "--top-k", "10", "--gradcam", tmp_path / "m.png")
    assert res["input"] == "windowed" and res["windows"] == 4 and "2 x 2 window(s) of 64 px" in res["input_text"]
    req = ClassificationRequest(
        str(src), str(tmp_path / "out"), stride=64, probabilities_dtype="float32", device="cpu", mode="windows"
    )
    run = classify(req)
    probs = gdal.Open(str(run.probabilities_path)).ReadAsArray().reshape(10, -1).mean(axis=1)
    np.testing.assert_allclose(list(res["probabilities"].values()), probs, atol=1e-5)
    assert (tmp_path / "m.png").is_file()


def test_sentinel2_13_band_tile(capsys):
    if not S2_SAMPLE.is_file():
        pytest.skip("sample_data/sentinel2_13band.tif missing")
    res = predict_json(capsys, S2_SAMPLE)
    assert res["input"] == "windowed" and res["windows"] == 1
    assert "label: AnnualCrop" in S2_SAMPLE.with_suffix(".txt").read_text()
    assert res["class"] == "AnnualCrop"
    assert "radiometry sentinel2_l1c" not in res["input_text"] and "at 10 m" in res["input_text"]
