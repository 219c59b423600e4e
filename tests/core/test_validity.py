"""The one validity rule (core/validity.py), and both of its users agreeing on a real raster."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import make_card, write_geotiff
from eurosat_landcover.core import bands, georef
from eurosat_landcover.core.radiometry import make_radiometry
from eurosat_landcover.core.stages.prepare import percentile_sampler
from eurosat_landcover.core.strips import read_strip
from eurosat_landcover.core.validity import cell_flags, internal_mask_band, valid_pixels
from osgeo import gdal


def test_each_source_of_invalidity():
    data = np.array([[[1, 0, 5, 0]], [[1, 0, 6, 7]]], np.uint16)  # (C=2, 1, 4)
    assert valid_pixels(data).all()
    np.testing.assert_array_equal(valid_pixels(data, nodata=[0, 0]), [[True, False, True, True]])  # all bands
    # bands without a declared nodata do not take part
    np.testing.assert_array_equal(valid_pixels(data, nodata=[0, None]), [[True, False, True, False]])
    alpha = np.array([[255, 255, 0, 255]])
    mask = np.array([[255, 255, 255, 0]])
    np.testing.assert_array_equal(valid_pixels(data, alpha=alpha, mask=mask), [[True, True, False, False]])
    f = np.array([[[1.0, np.nan, np.inf, 2.0]], [[1.0, 1.0, 1.0, np.nan]]], np.float32)
    np.testing.assert_array_equal(valid_pixels(f), [[True, False, False, False]])
    np.testing.assert_array_equal(valid_pixels(f, nodata=[1.0, 1.0]), [[False, False, False, False]])
    nan_nodata = np.array([[[np.nan, 3.0]]], np.float32)
    np.testing.assert_array_equal(valid_pixels(nan_nodata, nodata=[float("nan")]), [[False, True]])


def test_cell_flags_any_and_all_with_a_partial_last_cell():
    valid = np.ones((6, 6), bool)  # stride 4: cells 2 x 2, the last row and column partial
    valid[0, 0] = False
    valid[4:, 4:] = False
    anyv, allv = cell_flags(valid, 4, 2)
    np.testing.assert_array_equal(anyv, [[True, True], [True, False]])
    np.testing.assert_array_equal(allv, [[False, True], [True, False]])
    exact = np.zeros((4, 8), bool)
    exact[1, 5] = True
    anyv, allv = cell_flags(exact, 4, 2)
    np.testing.assert_array_equal(anyv, [[False, True]])
    assert not allv.any()


def _masked_tif(path, values, mask):
    """An RGB uint16 GeoTIFF with an internal (per-dataset) mask band."""
    gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
    try:
        write_geotiff(path, values, options=("TILED=YES",))
        ds = gdal.Open(str(path), gdal.GA_Update)
        ds.CreateMaskBand(gdal.GMF_PER_DATASET)
        ds.GetRasterBand(1).GetMaskBand().WriteArray(mask.astype(np.uint8) * 255)
        ds = None
    finally:
        gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", None)
    return path


def test_reader_and_percentile_sample_use_the_same_rule(tmp_path):
    """The internal mask hides a block of extreme values: the reader marks them invalid, and the
    percentile stretch does not see them either (before, its sample ignored the mask)."""
    rng = np.random.default_rng(0)
    values = rng.integers(100, 200, size=(3, 64, 64)).astype(np.uint16)
    values[:, :32, :] = 60000  # masked out below
    mask = np.ones((64, 64), bool)
    mask[:32, :] = False
    path = _masked_tif(tmp_path / "masked.tif", values, mask)
    card = make_card()
    src = georef.open_source(path)
    assert internal_mask_band(src, 1) == 1
    mapping = bands.detect_band_mapping(src, card, radiometry="percentile")
    wr = georef.prepare(src, mapping, 10.0)
    assert wr.mask_band_of == 1
    sample, details = percentile_sampler(wr, mapping)()
    assert details["sample_valid"] == 32 * 64 and sample.max() < 200
    scaled, valid = read_strip(wr, make_radiometry("percentile", card, sample=lambda: (sample, {})), 0, 64)
    np.testing.assert_array_equal(valid, mask)
    assert scaled[:, 32:].min() >= 0 and scaled[:, 32:].max() <= 255


@pytest.mark.parametrize("alpha", [True, False])
def test_no_internal_mask_without_a_per_dataset_mask(tmp_path, alpha):
    path = write_geotiff(tmp_path / "plain.tif", np.zeros((3, 8, 8), np.uint8), nodata=0 if alpha else None)
    assert internal_mask_band(gdal.Open(str(path)), 1) is None
