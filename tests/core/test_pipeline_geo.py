"""Georeferencing through the pipeline: output grid, CRS, placement, resampling, AOI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_testlib import write_geotiff
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from osgeo import gdal, osr


def _req(inp, out, **kw):
    kw.setdefault("batch_size", 16)
    kw.setdefault("device", "cpu")
    kw.setdefault("mode", "windows")  # the windows engine (map mode: tests/core/test_map_mode.py)
    return ClassificationRequest(inp, out, **kw)


def _read(path, band=1):
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(band).ReadAsArray(), ds


def test_block_lands_in_the_right_cell(tmp_path, brightness_model):
    img = np.full((3, 256, 320), 20, np.uint8)  # class 0 everywhere
    img[:, 128:192, 64:128] = 250  # one 64 px block of class 9: cell row 2, col 1 at stride 64
    src = write_geotiff(tmp_path / "utm.tif", img, epsg=32633, origin=(400000.0, 6000000.0))
    res = classify(_req(src, tmp_path / "out", stride=64), model=brightness_model)
    cls, ds = _read(res.classes_path)
    assert ds.GetGeoTransform() == pytest.approx((400000.0, 640.0, 0.0, 6000000.0, 0.0, -640.0))
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    srs.AutoIdentifyEPSG()
    assert srs.GetAuthorityCode(None) == "32633"
    assert cls.shape == (4, 5)
    expected = np.zeros((4, 5), np.uint8)
    expected[2, 1] = 9
    np.testing.assert_array_equal(cls, expected)
    assert res.windows == 20 and res.skipped_windows == 0
    assert not res.summary["working_raster"]["resampled"]
    assert res.area_km2["SeaLake"] == pytest.approx(0.4096)
    assert sum(res.area_km2.values()) == pytest.approx(20 * 0.4096)


def test_stride_32_cells_and_edge_remainder(tmp_path, brightness_model):
    img = np.full((3, 200, 150), 20, np.uint8)  # 150 = 4*32 + 22: last cell column uncovered
    src = write_geotiff(tmp_path / "r.tif", img)
    res = classify(_req(src, tmp_path / "out", stride=32), model=brightness_model)
    cls, ds = _read(res.classes_path)
    assert cls.shape == (7, 5)  # ceil(200/32) x ceil(150/32)
    assert ds.GetGeoTransform()[1] == pytest.approx(320.0)
    # windows cover (nx + k - 1) = 4 cell columns and (ny + 1) = 6 cell rows; the rest is nodata
    assert (cls[:6, :4] == 0).all()
    assert (cls[:, 4] == 255).all() and (cls[6, :] == 255).all()
    conf, _ = _read(res.confidence_path)
    assert (conf[:, 4] == 255).all() and (conf[:6, :4] == 254).all()


def test_geographic_raster_processed_in_utm_zone(tmp_path, brightness_model):
    # 0.04 x 0.03 degrees near 9.0E 45.0N (UTM 32N); a bright block at known lon/lat
    px = 0.0001
    lon0, lat0 = 9.00, 45.03
    w, h = 400, 300
    img = np.full((3, h, w), 20, np.uint8)
    bx0, bx1, by0, by1 = 100, 330, 60, 260  # columns / rows of the block (~1.8 x 2.2 km)
    img[:, by0:by1, bx0:bx1] = 250
    wkt = osr.SRS_WKT_WGS84_LAT_LONG
    src = write_geotiff(tmp_path / "geo.tif", img, epsg=None, wkt=wkt, origin=(lon0, lat0), pixel=(px, px))
    res = classify(_req(src, tmp_path / "out", stride=32), model=brightness_model)
    cls, ds = _read(res.classes_path)
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    srs.AutoIdentifyEPSG()
    assert srs.GetAuthorityCode(None) == "32632"
    assert res.summary["working_raster"]["resampled"] is True
    gt = ds.GetGeoTransform()
    assert gt[1] == pytest.approx(320.0) and gt[5] == pytest.approx(-320.0)
    # every class-9 cell centre must fall inside the block (lon/lat), within one cell
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(srs, wgs)
    rows, cols = np.nonzero(cls == 9)
    assert rows.size >= 4
    blon0, blon1 = lon0 + bx0 * px, lon0 + bx1 * px
    blat1, blat0 = lat0 - by0 * px, lat0 - by1 * px
    tol_lon, tol_lat = 320 / 78000, 320 / 111000
    for r, c in zip(rows, cols):
        x = gt[0] + (c + 0.5) * gt[1]
        y = gt[3] + (r + 0.5) * gt[5]
        lon, lat, _ = ct.TransformPoint(x, y)
        assert blon0 - tol_lon <= lon <= blon1 + tol_lon
        assert blat0 - tol_lat <= lat <= blat1 + tol_lat
    # outside the source footprint (UTM corners of a lon/lat rectangle) is nodata, not class 0
    assert res.summary["valid_cells"] < cls.size or (cls != 255).all()


def test_coarser_pixels_resampled_to_10m(tmp_path, brightness_model):
    img = np.full((3, 64, 64), 20, np.uint8)  # 20 m pixels -> 128 x 128 px at 10 m
    src = write_geotiff(tmp_path / "r20.tif", img, pixel=(20.0, 20.0))
    res = classify(_req(src, tmp_path / "out", stride=64), model=brightness_model)
    cls, _ds = _read(res.classes_path)
    assert cls.shape == (2, 2) and (cls == 0).all()
    wr = res.summary["working_raster"]
    assert wr["resampled"] and wr["resampling"] == "bilinear" and wr["size_px"] == [128, 128]


def test_near_10m_not_resampled(tmp_path, brightness_model):
    img = np.full((3, 128, 128), 20, np.uint8)
    src = write_geotiff(tmp_path / "r.tif", img, pixel=(10.05, 9.96))
    res = classify(_req(src, tmp_path / "out", stride=64), model=brightness_model)
    cls, ds = _read(res.classes_path)
    assert not res.summary["working_raster"]["resampled"]
    assert ds.GetGeoTransform()[1] == pytest.approx(643.2)
    assert cls.shape == (2, 2)


def test_area_of_interest_in_wgs84(tmp_path, brightness_model):
    img = np.full((3, 256, 256), 20, np.uint8)
    src = write_geotiff(tmp_path / "r.tif", img, epsg=32632, origin=(500000.0, 5000000.0))
    # AOI in EPSG:4326 covering roughly x 500600..501900, y 4998100..4999400 (UTM 32N, 9E)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    for s in (srs, wgs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(srs, wgs)
    lon0, lat0, _ = ct.TransformPoint(500600.0, 4998100.0)
    lon1, lat1, _ = ct.TransformPoint(501900.0, 4999400.0)
    res = classify(
        _req(src, tmp_path / "out", stride=32, bounds=(lon0, lat0, lon1, lat1), bounds_crs="EPSG:4326"),
        model=brightness_model,
    )
    _, ds = _read(res.classes_path)
    gt = ds.GetGeoTransform()
    x0, y1 = gt[0], gt[3]
    x1, y0 = x0 + ds.RasterXSize * gt[1], y1 + ds.RasterYSize * gt[5]
    # widened to the raster's 320 m cells (issue 25 item 5): the AOI's cells are the whole-raster run's cells
    assert x0 == pytest.approx(500320) and y1 == pytest.approx(4999680)
    assert 501900 <= x1 < 501900 + 320 and 4998100 - 320 < y0 <= 4998100
    summary = json.loads(res.summary_path.read_text())
    assert summary["request"]["bounds_crs"] == "EPSG:4326"


def test_web_mercator_goes_to_utm(tmp_path, brightness_model):
    # 10 "m" Web Mercator pixels at 45N are ~7.1 m on the ground: must be reprojected, not used as 10 m
    img = np.full((3, 300, 300), 20, np.uint8)
    src = write_geotiff(tmp_path / "wm.tif", img, epsg=3857, origin=(1001875.0, 5621521.0))  # ~9.0E, 45.0N
    res = classify(_req(src, tmp_path / "out", stride=64), model=brightness_model)
    wr = res.summary["working_raster"]
    assert wr["crs"] == "EPSG:32632" and wr["resampled"]
    assert 205 <= wr["size_px"][0] <= 220  # 300 px * 10 m * cos(45) ~ 2120 m -> ~212 px
    assert any("Mercator" in n for n in wr["notes"])


def test_geographic_raster_with_utm_aoi(tmp_path, brightness_model):
    px = 0.0001
    img = np.full((3, 300, 400), 20, np.uint8)
    wkt = osr.SRS_WKT_WGS84_LAT_LONG
    src = write_geotiff(tmp_path / "geo.tif", img, epsg=None, wkt=wkt, origin=(9.0, 45.03), pixel=(px, px))
    # AOI in UTM 32N inside the raster (9.0..9.04E, 45.0..45.03N ~ x 500000..503150, y 4983000..4986300)
    aoi = (500500.0, 4983500.0, 502000.0, 4985200.0)
    res = classify(_req(src, tmp_path / "out", stride=32, bounds=aoi, bounds_crs="EPSG:32632"), model=brightness_model)
    _, ds = _read(res.classes_path)
    gt = ds.GetGeoTransform()
    x0, y1 = gt[0], gt[3]
    x1, y0 = x0 + ds.RasterXSize * gt[1], y1 + ds.RasterYSize * gt[5]
    # widened to whole 320 m cells of the warped raster's grid (issue 25 item 5)
    assert aoi[0] - 320 < x0 <= aoi[0] and aoi[3] <= y1 < aoi[3] + 320
    assert aoi[2] <= x1 <= aoi[2] + 320 and aoi[1] - 320 <= y0 <= aoi[1]
    assert res.summary["working_raster"]["resampled"] and res.summary["working_raster"]["crs"] == "EPSG:32632"


def test_gcp_only_raster_is_warped(tmp_path, brightness_model):
    img = np.full((3, 128, 128), 20, np.uint8)
    src = write_geotiff(tmp_path / "gcp.tif", img, epsg=None)
    ds = gdal.Open(str(src), gdal.GA_Update)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    x0, y0 = 500000.0, 5000000.0
    gcps = [
        gdal.GCP(x0, y0, 0, 0, 0),
        gdal.GCP(x0 + 1280, y0, 0, 128, 0),
        gdal.GCP(x0, y0 - 1280, 0, 0, 128),
        gdal.GCP(x0 + 1280, y0 - 1280, 0, 128, 128),
    ]
    ds.SetGCPs(gcps, srs.ExportToWkt())
    ds = None
    res = classify(_req(src, tmp_path / "out", stride=64), model=brightness_model)
    cls, ds = _read(res.classes_path)
    assert ds.GetGeoTransform()[0] == pytest.approx(x0, abs=10) and ds.GetGeoTransform()[3] == pytest.approx(y0, abs=10)
    assert (cls == 0).all() and cls.shape == (2, 2)
