"""Bad input -> a readable ClassificationError and nothing written."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from engine_testlib import BrightnessModel, make_card, write_geotiff
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest


def _req(inp, out, **kw):
    kw.setdefault("batch_size", 8)
    kw.setdefault("device", "cpu")
    kw.setdefault("mode", "windows")  # the windows engine (map mode: tests/core/test_map_mode.py)
    return ClassificationRequest(inp, out, **kw)


def _rgb(h=128, w=128):
    return np.full((3, h, w), 100, np.uint8)


def _assert_nothing_written(out):
    assert not out.exists() or list(out.iterdir()) == []


def test_no_georeference(tmp_path, brightness_model):
    src = write_geotiff(tmp_path / "plain.tif", _rgb(), epsg=None)
    with pytest.raises(ClassificationError, match="no georeference"):
        classify(_req(src, tmp_path / "out"), model=brightness_model)
    _assert_nothing_written(tmp_path / "out")


def test_unsupported_band_count_without_mapping(tmp_path, brightness_model):
    src = write_geotiff(tmp_path / "five.tif", np.full((5, 128, 128), 100, np.uint16))
    with pytest.raises(ClassificationError, match=r"5 band\(s\).*--bands"):
        classify(_req(src, tmp_path / "out"), model=brightness_model)
    _assert_nothing_written(tmp_path / "out")
    # ... and it works with an explicit mapping
    res = classify(_req(src, tmp_path / "out", bands=[3, 2, 1], stride=64), model=brightness_model)
    # values 0-255 in a UInt16 file: read as 8-bit data (core/radiometry_choice.py)
    assert res.band_mapping["bands"] == [3, 2, 1] and res.radiometry["method"] == "8bit"


def test_band_out_of_range(tmp_path, brightness_model):
    src = write_geotiff(tmp_path / "rgb.tif", _rgb())
    with pytest.raises(ClassificationError, match=r"do not exist.*3 band"):
        classify(_req(src, tmp_path / "out", bands=[4, 3, 2]), model=brightness_model)


def test_raster_smaller_than_one_window(tmp_path, brightness_model):
    src = write_geotiff(tmp_path / "small.tif", _rgb(40, 200))
    with pytest.raises(ClassificationError, match="smaller than one 64 x 64 px window"):
        classify(_req(src, tmp_path / "out"), model=brightness_model)
    _assert_nothing_written(tmp_path / "out")


def test_aoi_outside_raster(tmp_path, brightness_model):
    src = write_geotiff(tmp_path / "r.tif", _rgb(), epsg=32632, origin=(500000.0, 5000000.0))
    with pytest.raises(ClassificationError, match="does not overlap the raster"):
        classify(
            _req(src, tmp_path / "out", bounds=(2.0, 48.0, 2.1, 48.1), bounds_crs="EPSG:4326"), model=brightness_model
        )
    _assert_nothing_written(tmp_path / "out")


def test_aoi_smaller_than_a_window(tmp_path, brightness_model):
    src = write_geotiff(tmp_path / "r.tif", _rgb(), epsg=32632, origin=(500000.0, 5000000.0))
    with pytest.raises(ClassificationError, match=r"area of interest is .* smaller than one"):
        classify(_req(src, tmp_path / "out", bounds=(500000, 4999500, 500300, 5000000)), model=brightness_model)


def test_corrupt_file(tmp_path, brightness_model):
    good = write_geotiff(
        tmp_path / "good.tif",
        np.random.default_rng(0).integers(0, 255, (3, 256, 256), np.uint8),
        options=("TILED=YES", "COMPRESS=DEFLATE"),
    )
    bad = tmp_path / "bad.tif"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # truncated: header fine, tiles missing
    with pytest.raises(ClassificationError, match=r"cannot read|corrupt"):
        classify(_req(bad, tmp_path / "out", stride=64), model=brightness_model)
    _assert_nothing_written(tmp_path / "out")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"this is not a raster at all" * 10)
    with pytest.raises(ClassificationError, match="cannot open"):
        classify(_req(junk, tmp_path / "out2"), model=brightness_model)


def test_missing_input(tmp_path, brightness_model):
    with pytest.raises(ClassificationError, match="does not exist"):
        classify(_req(tmp_path / "nope.tif", tmp_path / "out"), model=brightness_model)


def test_unwritable_output_folder(tmp_path, brightness_model):
    src = write_geotiff(tmp_path / "r.tif", _rgb())
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ClassificationError, match="cannot create the output folder"):
        classify(_req(src, blocker / "out"), model=brightness_model)
    with pytest.raises(ClassificationError, match=r"not a folder|cannot create"):
        classify(_req(src, blocker), model=brightness_model)


def test_bad_stride(tmp_path, brightness_model):
    src = write_geotiff(tmp_path / "r.tif", _rgb())
    with pytest.raises(ClassificationError, match=r"stride 24 .*divide the patch size 64.*8, 16, 32, 64"):
        classify(_req(src, tmp_path / "out", stride=24), model=brightness_model)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"fast_path": "fast"}, "fast_path must be one of auto, on, off"),
        ({"batch_size": 0}, "batch size must be between 1 and"),
        ({"radiometry": "16bit"}, "unknown radiometry '16bit'"),
    ],
)
def test_bad_options(tmp_path, brightness_model, option, message):
    src = write_geotiff(tmp_path / "r.tif", _rgb())
    with pytest.raises(ClassificationError, match=message):
        classify(_req(src, tmp_path / "out", **option), model=brightness_model)
    _assert_nothing_written(tmp_path / "out")


def test_model_card_missing(tmp_path):
    src = write_geotiff(tmp_path / "r.tif", _rgb())
    with pytest.raises(ClassificationError, match="does not exist"):
        classify(_req(src, tmp_path / "out", model_card=tmp_path / "nope.json"))


def test_weights_missing_or_not_matching_card(tmp_path, random_card):
    src = write_geotiff(tmp_path / "r.tif", _rgb())
    d = tmp_path / "m"
    shutil.copytree(random_card.parent, d)
    card = d / random_card.name
    weights = next(d.glob("*.safetensors"))
    weights.unlink()
    with pytest.raises(ClassificationError, match=r"cannot load the model.*does not exist"):
        classify(_req(src, tmp_path / "out", model_card=card))
    _assert_nothing_written(tmp_path / "out")
    # weights of another model behind the card: sha256 mismatch
    shutil.copy(next(random_card.parent.glob("*.safetensors")), weights)
    with weights.open("r+b") as f:
        f.seek(-16, 2)
        f.write(b"\x00" * 16)
    with pytest.raises(ClassificationError, match=r"cannot load the model.*sha256"):
        classify(_req(src, tmp_path / "out", model_card=card))
    _assert_nothing_written(tmp_path / "out")


def test_device_not_available_falls_back_with_warning(tmp_path, brightness_model):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: no fallback to test")
    src = write_geotiff(tmp_path / "r.tif", _rgb())
    res = classify(_req(src, tmp_path / "out", device="cuda", stride=64), model=brightness_model)
    assert res.device.startswith("cpu")
    assert any("CUDA is not available" in w for w in res.warnings)
    assert any("CUDA is not available" in w for w in res.summary["warnings"])


def test_out_of_memory_retries_with_half_the_batch(tmp_path):
    img = np.full((3, 128, 256), 100, np.uint8)
    img[:, :, 128:] = 240
    src = write_geotiff(tmp_path / "r.tif", img)
    model = BrightnessModel(oom_above=4)
    res = classify(_req(src, tmp_path / "out", stride=32, batch_size=16), model=(model, make_card()))
    assert res.summary["batch_size"] == {"requested": 16, "final": 4}
    assert [w for w in res.warnings if "out of memory" in w] == [
        "out of memory on cpu: batch size reduced to 8",
        "out of memory on cpu: batch size reduced to 4",
    ]
    assert max(s for s in model.sizes[2:]) <= 4
    ref = classify(_req(src, tmp_path / "ref", stride=32, batch_size=4), model=(BrightnessModel(), make_card()))
    from osgeo import gdal

    a, b = gdal.Open(str(res.classes_path)), gdal.Open(str(ref.classes_path))
    np.testing.assert_array_equal(a.ReadAsArray(), b.ReadAsArray())


def test_out_of_memory_at_batch_one_is_an_error(tmp_path):
    src = write_geotiff(tmp_path / "r.tif", _rgb())
    with pytest.raises(ClassificationError, match="ran out of memory even with one window"):
        classify(_req(src, tmp_path / "out", batch_size=4), model=(BrightnessModel(oom_above=0), make_card()))
    _assert_nothing_written(tmp_path / "out")


def test_every_readable_error_derives_from_the_one_base():
    """Callers show a ReadableError as it is: every error written for the user must be one."""
    from eurosat_landcover.core.accuracy.errors import AssessmentError
    from eurosat_landcover.core.edits.errors import EditError
    from eurosat_landcover.core.errors import ClassificationError
    from eurosat_landcover.core.export import ExportError
    from eurosat_landcover.errors import ReadableError
    from eurosat_landcover.models.card import ModelCardError
    from eurosat_landcover.models.checkpoint import InvalidCardError, ModelLoadError
    from eurosat_landcover.models.dataset import DatasetError
    from eurosat_landcover.models.gradcam import GradCamUnavailable
    from eurosat_landcover.models.registry import PretrainedWeightsUnavailable

    readable = (ClassificationError, ExportError, EditError, AssessmentError, ModelCardError, ModelLoadError)
    readable += (InvalidCardError, DatasetError, GradCamUnavailable, PretrainedWeightsUnavailable)
    assert all(issubclass(e, ReadableError) for e in readable)
    assert not issubclass(ValueError, ReadableError)
