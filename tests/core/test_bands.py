"""Band mapping (core/bands.py): which source bands feed the model, and which radiometry."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import make_card, write_geotiff
from eurosat_landcover.core.bands import detect_band_mapping, s2_band_name
from eurosat_landcover.core.errors import ClassificationError
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
