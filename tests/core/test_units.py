"""Unit tests: band mapping, radiometry, devices, aggregation, grid."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import make_card, write_geotiff
from eurosat_landcover.core.aggregate import CellAggregator
from eurosat_landcover.core.bands import detect_band_mapping, s2_band_name
from eurosat_landcover.core.devices import available_devices, resolve_device
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.radiometry import make_radiometry
from eurosat_landcover.core.windows import Grid, check_stride
from osgeo import gdal

CARD = None


def card():
    global CARD
    if CARD is None:
        CARD = make_card()
    return CARD


@pytest.mark.parametrize(
    "text,name",
    [
        ("B4", "B04"),
        ("b04", "B04"),
        ("B04 (red)", "B04"),
        ("S2 B8A", "B8A"),
        ("B12", "B12"),
        ("red", None),
        ("Band 4", None),
        ("B13", None),
        ("", None),
    ],
)
def test_s2_band_names(text, name):
    assert s2_band_name(text) == name


def test_mapping_rgb_byte(tmp_path):
    p = write_geotiff(tmp_path / "a.tif", np.zeros((3, 8, 8), np.uint8))
    m = detect_band_mapping(p, card())
    assert m.bands == [1, 2, 3] and m.radiometry == "8bit" and m.alpha_band is None


def test_mapping_rgba_and_rgbn(tmp_path):
    ci = [gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand, gdal.GCI_AlphaBand]
    p = write_geotiff(tmp_path / "a.tif", np.zeros((4, 8, 8), np.uint8), color_interp=ci)
    m = detect_band_mapping(p, card())
    assert m.bands == [1, 2, 3] and m.alpha_band == 4
    p2 = write_geotiff(tmp_path / "b.tif", np.zeros((4, 8, 8), np.uint8), options=("PHOTOMETRIC=MINISBLACK",))
    m2 = detect_band_mapping(p2, card())
    assert m2.bands == [1, 2, 3] and m2.alpha_band is None and "ignored" in m2.reason


def test_mapping_bgr_by_colour_interpretation(tmp_path):
    ci = [gdal.GCI_BlueBand, gdal.GCI_GreenBand, gdal.GCI_RedBand]
    p = write_geotiff(tmp_path / "a.tif", np.zeros((3, 8, 8), np.uint8), color_interp=ci)
    assert detect_band_mapping(p, card()).bands == [3, 2, 1]


def test_mapping_13_bands_eurosat_order(tmp_path):
    p = write_geotiff(tmp_path / "a.tif", np.zeros((13, 8, 8), np.uint16))
    m = detect_band_mapping(p, card())
    assert m.bands == [4, 3, 2] and m.radiometry == "sentinel2_l1c" and "EuroSAT order" in m.reason


def test_mapping_s2_descriptions(tmp_path):
    descs = ["B8", "B2", "B3", "B4"]
    p = write_geotiff(tmp_path / "a.tif", np.zeros((4, 8, 8), np.uint16), descriptions=descs)
    m = detect_band_mapping(p, card())
    assert m.bands == [4, 3, 2] and m.radiometry == "sentinel2_l1c"
    assert detect_band_mapping(p, card(), radiometry="sentinel2_l2a").radiometry == "sentinel2_l2a"


def test_mapping_role_descriptions_and_float(tmp_path):
    p = write_geotiff(tmp_path / "a.tif", np.zeros((3, 8, 8), np.float32), descriptions=["blue", "Green", "RED"])
    m = detect_band_mapping(p, card())
    assert m.bands == [3, 2, 1] and m.radiometry == "percentile"


def test_mapping_l2a_metadata(tmp_path):
    p = write_geotiff(tmp_path / "a.tif", np.zeros((13, 8, 8), np.uint16))
    ds = gdal.Open(str(p), gdal.GA_Update)
    ds.SetMetadataItem("BOA_ADD_OFFSET_B4", "-1000")
    ds = None
    assert detect_band_mapping(p, card()).radiometry == "sentinel2_l2a"


def test_mapping_errors(tmp_path):
    p = write_geotiff(tmp_path / "a.tif", np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ClassificationError, match="--bands"):
        detect_band_mapping(p, card())
    with pytest.raises(ClassificationError, match="needs 3 bands"):
        detect_band_mapping(p, card(), bands=[1, 2])
    with pytest.raises(ClassificationError, match="unknown radiometry"):
        detect_band_mapping(p, card(), bands=[1, 2, 2], radiometry="nope")


def test_radiometry_sentinel2_exact():
    dn = np.array([[[0, 1000, 2750, 5500, 65535]]], np.uint16).repeat(3, axis=0)
    r = make_radiometry("sentinel2_l1c", card())
    out = r.apply(dn)
    np.testing.assert_allclose(out[0, 0], np.clip(dn[0, 0] / 2750 * 255, 0, 255), rtol=1e-6)
    r2 = make_radiometry("sentinel2_l2a", card())
    np.testing.assert_allclose(
        r2.apply(dn)[0, 0], np.clip((dn[0, 0].astype(float) - 1000) / 2750 * 255, 0, 255), rtol=1e-6, atol=1e-4
    )
    assert "2750" in r.to_dict()["formula"] and r2.to_dict()["offset"] == 1000


def test_radiometry_8bit_and_percentile():
    a = np.arange(256, dtype=np.uint8).reshape(1, 1, 256).repeat(3, 0)
    np.testing.assert_array_equal(make_radiometry("8bit", card()).apply(a), a.astype(np.float32))
    vals = np.linspace(0, 1000, 10001)[None].repeat(3, 0)
    r = make_radiometry("percentile", card(), sample=lambda: (vals, {}))
    assert r.low[0] == pytest.approx(20) and r.high[0] == pytest.approx(980)
    out = r.apply(np.array([[[20.0, 500.0, 980.0, 2000.0]]] * 3, np.float32))
    np.testing.assert_allclose(out[0, 0], [0, 127.5, 255, 255], atol=1e-3)


def test_devices():
    ids = [d for d, _ in available_devices()]
    assert ids[0] == "auto" and "cpu" in ids
    dev, warn = resolve_device("cpu")
    assert dev.type == "cpu" and warn is None
    import torch

    if not torch.cuda.is_available():
        dev, warn = resolve_device("cuda:1")
        assert dev.type in ("cpu", "mps") and "CUDA is not available" in warn
    dev, warn = resolve_device("tpu")
    assert warn and "tpu" in warn


def test_stride_rules():
    assert check_stride(32, 64) == 32
    for bad in (0, 3, 24, 128, "x"):
        with pytest.raises(ClassificationError):
            check_stride(bad, 64)


def test_aggregator_averages_and_streams_rows():
    g = Grid(width=64 + 4 * 16 + 8, height=64 + 40 * 16 + 8, patch=64, stride=16)  # k = 4
    assert (g.nx, g.ny, g.ncx, g.ncy) == (5, 41, 9, 45)
    rows_out = {}

    def sink(r, probs, valid):
        assert r == len(rows_out)  # in order
        rows_out[r] = (probs.copy(), valid.copy())

    agg = CellAggregator(g, 2, sink)
    for j in range(g.ny):
        agg.set_valid([(j, np.ones(g.ncx, bool))])
        cols = np.arange(g.nx)
        p = np.zeros((g.nx, 2), np.float32)
        p[:, 0] = j % 2  # alternate rows of windows: class 0 prob 1 or 0
        p[:, 1] = 1 - p[:, 0]
        agg.add(np.full(g.nx, j), cols, p)
        agg.finalize(j + 1)
        assert len(agg.sums) <= g.k  # memory bounded by k rows of cells
    for r in range(g.ny, g.ncy):
        agg.set_valid([(r, np.ones(g.ncx, bool))])
    agg.finish()
    assert len(rows_out) == g.ncy
    probs, valid = rows_out[10]
    assert valid[:8].all()
    assert probs[0, 0] == pytest.approx(0.5)  # rows 7..10 of windows: two odd, two even
    probs, valid = rows_out[0]
    assert probs[0, 0] == pytest.approx(0.0)
    assert not rows_out[44][1].any()  # covered by no window (bottom remainder)
    assert not rows_out[10][1][8]  # right remainder
    assert rows_out[43][1][:8].all() and rows_out[43][0][0, 1] == pytest.approx(1.0)  # only window row 40
