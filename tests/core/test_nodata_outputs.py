"""Nodata handling, output formats (tiling, compression, overviews, styles, summary), cleanup."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from engine_testlib import BrightnessModel, make_card, write_geotiff
from eurosat_landcover.core.errors import ClassificationCancelled
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from osgeo import gdal


def _req(inp, out, **kw):
    kw.setdefault("batch_size", 8)
    kw.setdefault("device", "cpu")
    kw.setdefault("mode", "windows")  # the windows engine (map mode: tests/core/test_map_mode.py)
    return ClassificationRequest(inp, out, **kw)


def _arr(path, band=1):
    ds = gdal.Open(str(path))  # keep the dataset alive while its band is read (GDAL/SWIG)
    return ds.GetRasterBand(band).ReadAsArray()


def test_declared_nodata_windows_skipped_and_cells_nodata(tmp_path, brightness_model):
    img = np.full((3, 256, 256), 100, np.uint8)
    img[:, :, :128] = 0  # left half is nodata (value 0 in every band)
    img[0, 10, 10] = 0  # a dark but valid-looking pixel elsewhere stays as it is
    src = write_geotiff(tmp_path / "nd.tif", img, nodata=0)
    res = classify(_req(src, tmp_path / "out", stride=64), model=brightness_model)
    assert res.skipped_windows == 8 and res.windows == 8
    cls = _arr(res.classes_path)
    assert (cls[:, :2] == 255).all() and (cls[:, 2:] == 3).all()
    conf = _arr(res.confidence_path)
    assert (conf[:, :2] == 255).all() and (conf[:, 2:] == 254).all()
    for b in range(1, 11):
        p = _arr(res.probabilities_path, b)
        assert (p[:, :2] == 255).all()
    assert res.area_km2["Highway"] == pytest.approx(8 * 0.4096)


def test_partially_nodata_window_classified_but_empty_cells_nodata(tmp_path, brightness_model):
    img = np.full((3, 128, 256), 100, np.uint8)
    img[:, :, :112] = 0
    src = write_geotiff(tmp_path / "nd.tif", img, nodata=0)
    res = classify(_req(src, tmp_path / "out", stride=32), model=brightness_model)
    cls = _arr(res.classes_path)
    # cells 0..2 (px 0..96) are all nodata; cell 3 (96..128) is partly valid -> classified
    assert (cls[:, :3] == 255).all()
    assert (cls[:, 3:] == 3).all()  # partial windows are filled with the window's valid mean
    # window rows = 3, windows per row = 7; windows at px 0 and 32 are all nodata
    assert res.skipped_windows == 3 * 2


def test_alpha_band_masks(tmp_path, brightness_model):
    img = np.full((4, 128, 128), 200, np.uint8)
    img[3] = 255
    img[3, :64, :] = 0  # top half transparent
    src = write_geotiff(
        tmp_path / "rgba.tif",
        img,
        color_interp=[gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand, gdal.GCI_AlphaBand],
    )
    res = classify(_req(src, tmp_path / "out", stride=64), model=brightness_model)
    cls = _arr(res.classes_path)
    np.testing.assert_array_equal(cls, [[255, 255], [7, 7]])
    assert res.band_mapping["alpha_band"] == 4


def test_nan_float_input_percentile(tmp_path, brightness_model):
    rng = np.random.default_rng(1)
    img = rng.uniform(0.0, 0.3, size=(3, 128, 192)).astype(np.float32)
    img[:, :, 128:] = np.nan
    src = write_geotiff(tmp_path / "f.tif", img)
    # floats 0-0.3 read as reflectance 0-1 by auto (core/radiometry_choice.py): the stretch is asked for here
    req = _req(src, tmp_path / "out", stride=64, probabilities_dtype="float32", radiometry="percentile")
    res = classify(req, model=brightness_model)
    assert res.radiometry["method"] == "percentile"
    assert res.radiometry["low"][0] == pytest.approx(0.006, abs=0.003)
    cls = _arr(res.classes_path)
    assert (cls[:, 2] == 255).all() and (cls[:, :2] != 255).all()
    conf = _arr(res.confidence_path)
    assert np.isnan(conf[:, 2]).all() and np.isfinite(conf[:, :2]).all()
    ds = gdal.Open(str(res.probabilities_path))
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Float32
    p = ds.ReadAsArray()
    np.testing.assert_allclose(np.nansum(p, axis=0)[:, :2], 1.0, atol=1e-5)


def test_output_files_format_styles_and_summary(tmp_path, loaded_model):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(3, 128, 128), dtype=np.uint8)
    src = write_geotiff(tmp_path / "in.tif", img)
    out = tmp_path / "out"
    res = classify(_req(src, out, stride=8, batch_size=32, name="run1"), model=loaded_model)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "run1_classes.tif",
            "run1_classes.tif.aux.xml",
            "run1_classes.qml",
            "run1_probabilities.tif",
            "run1_probabilities.qml",
            "run1_confidence.tif",
            "run1_confidence.qml",
            "run1_summary.json",
        ]
    )
    ds = gdal.Open(str(res.classes_path))
    b = ds.GetRasterBand(1)
    assert b.GetBlockSize() == [256, 256]
    assert ds.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    assert b.GetNoDataValue() == 255
    assert b.GetColorTable().GetColorEntry(1)[:3] == (0x1B, 0x5E, 0x20)
    assert b.GetCategoryNames()[:2] == ["AnnualCrop", "Forest"]
    assert ds.GetMetadataItem("RADIOMETRY") == "8bit"
    assert b.GetOverviewCount() >= 1  # 16 x 16 cells at stride 8
    pds = gdal.Open(str(res.probabilities_path))
    assert pds.RasterCount == 10
    assert [pds.GetRasterBand(i).GetDescription() for i in (1, 10)] == ["AnnualCrop", "SeaLake"]
    assert pds.GetRasterBand(1).GetScale() == pytest.approx(1 / 254)
    probs = pds.ReadAsArray().astype(np.float64) / 254
    assert np.abs(probs.sum(axis=0) - 1).max() < 0.03  # rounding of 10 uint8 values
    cls = ds.ReadAsArray()
    np.testing.assert_array_equal(cls, probs.argmax(axis=0))
    for q in out.glob("*.qml"):
        root = ET.parse(q).getroot()
        assert root.tag == "qgis"
    pal = ET.parse(out / "run1_classes.qml").getroot().findall(".//paletteEntry")
    assert [e.get("label") for e in pal][:3] == ["AnnualCrop", "Forest", "HerbaceousVegetation"]
    s = json.loads(res.summary_path.read_text())
    for key in (
        "input",
        "request",
        "radiometry",
        "band_mapping",
        "model",
        "area_km2",
        "windows",
        "timings_s",
        "device",
        "warnings",
        "windows_per_second",
    ):
        assert key in s
    assert s["windows"]["classified"] == 81 and s["grid"]["stride_px"] == 8
    assert s["model"]["metrics"]["accuracy"] == 0.1
    assert sum(s["area_km2"].values()) == pytest.approx(128 * 128 * 100 / 1e6)


def _only_input(d):
    return sorted(p.name for p in d.iterdir())


def test_cancel_removes_partial_outputs(tmp_path, brightness_model):
    img = np.full((3, 256, 256), 100, np.uint8)
    src = write_geotiff(tmp_path / "in.tif", img)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("unrelated")
    calls = {"n": 0}

    def cancelled():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(ClassificationCancelled):
        classify(_req(src, out, stride=16, batch_size=4), is_cancelled=cancelled, model=brightness_model)
    assert _only_input(out) == ["keep.txt"]


def test_failure_removes_partial_outputs(tmp_path):
    img = np.full((3, 256, 256), 100, np.uint8)
    src = write_geotiff(tmp_path / "in.tif", img)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        classify(_req(src, out, stride=32, batch_size=4), model=(BrightnessModel(fail_on_call=3), make_card()))
    assert not out.exists()  # the folder the failed run created is removed too


def test_rerun_overwrites_previous_outputs(tmp_path, brightness_model):
    img = np.full((3, 128, 128), 100, np.uint8)
    src = write_geotiff(tmp_path / "in.tif", img)
    out = tmp_path / "out"
    classify(_req(src, out, stride=64), model=brightness_model)
    res = classify(_req(src, out, stride=32, write_probabilities=False, overwrite=True), model=brightness_model)
    assert res.probabilities_path is None
    assert not (out / "in_probabilities.tif").exists()  # the previous run's file of this name is removed
    ds = gdal.Open(str(res.classes_path))
    assert ds.RasterXSize == 4
    assert not [p for p in out.iterdir() if "partial" in p.name]
