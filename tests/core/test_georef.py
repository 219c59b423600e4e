"""The working raster (core/georef.py): direct read or warped VRT at the model's gsd, the AOI window."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import make_card, write_geotiff
from eurosat_landcover.core import bands, georef
from eurosat_landcover.core.errors import ClassificationError


def _prepare(path, **kw):
    src = georef.open_source(path)
    return georef.prepare(src, bands.detect_band_mapping(src, make_card()), 10.0, **kw)


@pytest.mark.parametrize(("lon", "lat", "epsg"), [(9.5, 45.0, 32632), (-3.7, 40.4, 32630), (151.2, -33.9, 32756)])
def test_utm_zone_of_a_point(lon, lat, epsg):
    assert georef.utm_epsg(lon, lat) == epsg


def test_a_10m_utm_raster_is_read_directly(tmp_path):
    wr = _prepare(write_geotiff(tmp_path / "a.tif", np.ones((3, 100, 80), np.uint8)))
    assert not wr.resampled and (wr.width, wr.height) == (80, 100) and wr.ds is wr.source
    assert wr.geotransform == (500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0) and wr.alpha_band is None
    d = wr.describe()
    assert d["pixel_size_m"] == [10.0, 10.0] and d["bounds"] == [500000.0, 4999000.0, 500800.0, 5000000.0]


def test_a_geographic_raster_is_warped_to_utm_at_10m(tmp_path):
    deg = 10.0 / 111_320  # about 10 m of latitude
    path = write_geotiff(
        tmp_path / "g.tif", np.ones((3, 90, 90), np.uint8), epsg=4326, origin=(9.5, 45.0), pixel=(deg, deg)
    )
    wr = _prepare(path)
    assert wr.resampled and "32632" in wr.crs_label and wr.pixel_size == (10.0, 10.0)
    assert wr.alpha_band == wr.ds.RasterCount  # the warped VRT's alpha marks the area outside the source
    assert 60 <= wr.width <= 70 and 85 <= wr.height <= 95  # a degree of longitude is cos(45°) as long


def test_an_aoi_is_a_pixel_window_and_must_overlap(tmp_path):
    path = write_geotiff(tmp_path / "a.tif", np.ones((3, 100, 100), np.uint8))
    wr = _prepare(path, bounds=(500100.0, 4999300.0, 500740.0, 4999900.0))
    assert (wr.xoff, wr.yoff, wr.width, wr.height) == (10, 10, 64, 60)
    assert wr.source_window == (10, 10, 64, 60) and wr.geotransform[0] == 500100.0
    with pytest.raises(ClassificationError, match="does not overlap the raster"):
        _prepare(path, bounds=(0.0, 0.0, 10.0, 10.0))


def test_the_size_guard_refuses_before_reading(tmp_path):
    path = write_geotiff(tmp_path / "a.tif", np.ones((3, 100, 100), np.uint8))
    with pytest.raises(ClassificationError, match="size limit"):
        _prepare(path, max_pixels=5000)
