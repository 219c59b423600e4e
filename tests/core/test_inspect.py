"""The window inspector (core/inspect.py) sees what a classification run sees: same probabilities."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from engine_testlib import RGB_ZIP, write_geotiff
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.inspect import Inspector
from eurosat_landcover.core.inspect_files import summary_for_result, write_heat_map_geotiff

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not RGB_ZIP.exists(), reason=f"{RGB_ZIP} is missing")

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
S2_SAMPLE = REPO / "sample_data" / "sentinel2_13band.tif"
CLASSES = ["Forest", "SeaLake", "Industrial", "Residential", "AnnualCrop", "River", "Pasture", "Highway", "Forest"]
ORIGIN = (500000.0, 5000000.0)


@pytest.fixture(scope="module")
def bundled():
    from eurosat_landcover.models.checkpoint import default_card_path, load_model

    if not default_card_path().is_file():
        pytest.skip("bundled model missing")
    return load_model(None, device="cpu")


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    """3 x 3 real EuroSAT images, 192 x 192 px RGB (3, H, W) uint8."""
    from PIL import Image

    out = np.zeros((3, 192, 192), np.uint8)
    with zipfile.ZipFile(RGB_ZIP) as zf:
        names = zf.namelist()
        for k, cls in enumerate(CLASSES):
            member = sorted(n for n in names if f"/{cls}/" in n)[k]
            im = np.asarray(Image.open(io.BytesIO(zf.read(member))).convert("RGB")).transpose(2, 0, 1)
            r, c = divmod(k, 3)
            out[:, r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64] = im
    return out


def run(path, out, model, **kw):
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    req = ClassificationRequest(
        input_path=str(path),
        output_dir=str(out),
        probabilities_dtype="float32",
        device="cpu",
        **{"mode": "windows", **kw},
    )
    return classify(req, model=model)


def read_probabilities(res):
    from osgeo import gdal

    ds = gdal.Open(str(res.probabilities_path))
    return ds.ReadAsArray().astype(np.float32), ds.GetGeoTransform()


def test_window_probabilities_equal_the_engine_for_the_same_window(tmp_path, bundled, mosaic):
    src = write_geotiff(tmp_path / "m.tif", mosaic, origin=ORIGIN)
    res = run(src, tmp_path / "out", bundled, stride=64)
    probs, gt = read_probabilities(res)
    insp = Inspector(src, model=bundled, device="cpu")
    for j in range(3):
        for i in range(3):
            x, y = gt[0] + (i + 0.5) * gt[1], gt[3] + (j + 0.5) * gt[5]  # the centre of the engine's window
            w = insp.window_at(x, y, "EPSG:32632")
            assert (w.footprint.col, w.footprint.row) == (i * 64, j * 64) and not w.footprint.shifted
            assert w.footprint.bounds == (x - 320, y - 320, x + 320, y + 320)
            np.testing.assert_allclose(w.probabilities, probs[:, j, i], atol=1e-5)
            # the patch as the model sees it: the 8-bit source, untouched
            assert np.array_equal(
                w.patch_rgb, mosaic[:, j * 64 : (j + 1) * 64, i * 64 : (i + 1) * 64].transpose(1, 2, 0)
            )
            assert w.valid.all() and w.class_names[w.top_index] == w.ranked(1)[0][0]
    # near the edge the window moves inside; outside the raster: a clear error
    w = insp.window_at(ORIGIN[0] + 5, ORIGIN[1] - 5)
    assert (w.footprint.col, w.footprint.row) == (0, 0) and w.footprint.shifted
    with pytest.raises(ClassificationError, match="outside the raster"):
        insp.window_at(ORIGIN[0] - 100, ORIGIN[1])


def test_which_windows_made_a_result_cell_with_an_aoi_and_a_percentile_stretch(tmp_path, bundled, mosaic):
    # float data with a percentile stretch computed on the AOI (asked for: auto reads values 11-955 as
    # reflectance x 10000), a 183 x 187 px raster, an AOI starting 7 px into it (snapped out to the raster's
    # 32 px cells, i.e. the whole raster), stride 32
    src = write_geotiff(tmp_path / "f.tif", mosaic[:, :187, :183].astype(np.float32) * 3.7 + 11, origin=ORIGIN)
    aoi = (ORIGIN[0] + 70, ORIGIN[1] - 1850, ORIGIN[0] + 1800, ORIGIN[1] - 30)
    res = run(src, tmp_path / "out", bundled, stride=32, bounds=aoi, radiometry="percentile")
    assert res.radiometry["method"] == "percentile"
    probs, gt = read_probabilities(res)
    assert summary_for_result(res.classes_path) == res.summary_path
    insp = Inspector.from_summary(res.summary_path, model=bundled, device="cpu")
    ncx, ncy = probs.shape[2], probs.shape[1]
    seen = set()
    assert (ncx, ncy) == (6, 6)  # 183 x 187 px: windows 0..3 cover cells 0..4, cell 5 is the remainder
    for cj, ci, want in ((2, 2, 4), (0, 0, 1), (0, 2, 2), (3, 3, 4), (4, 4, 1)):
        x, y = gt[0] + (ci + 0.5) * gt[1], gt[3] + (cj + 0.5) * gt[5]
        cell = insp.cell_windows(x, y)
        assert cell.cell == (ci, cj)
        assert len(cell.windows) == want, (ci, cj, cell.grid_windows)
        np.testing.assert_allclose(cell.probabilities, probs[:, cj, ci], atol=1e-5)
        for w, (i, j) in zip(cell.windows, cell.grid_windows):
            assert w.footprint.bounds[0] == pytest.approx(gt[0] + i * gt[1]) and i <= ci <= i + 1
            seen.add((i, j))
    assert len(seen) > 4
    edge = insp.cell_windows(gt[0] + 5.5 * gt[1], gt[3] + 5.5 * gt[5])
    assert edge.windows == [] and edge.probabilities is None and edge.notes
    assert not np.isfinite(probs[:, 5, 5]).any()
    with pytest.raises(ClassificationError, match="outside the result"):
        insp.cell_windows(ORIGIN[0] - 5, ORIGIN[1] - 5)  # outside the raster and the AOI


def test_geographic_crs_layer_is_inspected_in_the_runs_utm_grid(tmp_path, bundled, mosaic):
    from osgeo import osr

    lat = 45.0
    px = (10.0 / (111320.0 * np.cos(np.radians(lat))), 10.0 / 110950.0)
    src = write_geotiff(tmp_path / "g.tif", mosaic, epsg=4326, origin=(9.0, lat), pixel=px)
    res = run(src, tmp_path / "out", bundled, stride=64)
    probs, gt = read_probabilities(res)
    insp = Inspector(src, model=bundled, device="cpu")
    assert insp.wr.resampled and insp.wr.crs_label == "EPSG:32632"  # UTM 32N, the zone of 9° E
    utm = osr.SpatialReference()
    utm.ImportFromWkt(res.summary["working_raster"]["crs_wkt"])
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(utm, wgs)
    checked = 0
    for j in range(probs.shape[1]):
        for i in range(probs.shape[2]):
            if not np.isfinite(probs[:, j, i]).all():
                continue
            lon, la, _ = ct.TransformPoint(gt[0] + (i + 0.5) * gt[1], gt[3] + (j + 0.5) * gt[5])
            w = insp.window_at(lon, la, "EPSG:4326")  # the click comes in the layer's CRS
            np.testing.assert_allclose(w.probabilities, probs[:, j, i], atol=1e-5)
            checked += 1
    assert checked >= 2


def test_sentinel2_13_bands_mapped_and_scaled_like_a_run(tmp_path, bundled):
    if not S2_SAMPLE.is_file():
        pytest.skip("sample_data/sentinel2_13band.tif missing")
    from osgeo import gdal

    res = run(S2_SAMPLE, tmp_path / "out", bundled, stride=64)
    probs, gt = read_probabilities(res)
    insp = Inspector(S2_SAMPLE, model=bundled, device="cpu")
    assert insp.mapping.bands == [4, 3, 2] and insp.radiometry.method == "sentinel2_l1c"
    w = insp.window_at(gt[0] + 0.5 * gt[1], gt[3] + 0.5 * gt[5])
    np.testing.assert_allclose(w.probabilities, probs[:, 0, 0], atol=1e-5)
    dn = gdal.Open(str(S2_SAMPLE)).ReadAsArray(band_list=[4, 3, 2]).astype(np.float32)
    want = np.clip(np.round(np.clip(dn / 2750 * 255, 0, 255)), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert np.abs(w.patch_rgb.astype(int) - want.astype(int)).max() <= 1
    top = max(res.area_km2, key=res.area_km2.get)
    assert w.class_names[w.top_index] == top


def test_heat_map_and_its_georeferenced_file(tmp_path, bundled, mosaic):
    from osgeo import gdal

    src = write_geotiff(tmp_path / "m.tif", mosaic, origin=ORIGIN)
    insp = Inspector(src, model=bundled, device="cpu")
    w = insp.window_at(ORIGIN[0] + 960, ORIGIN[1] - 960)
    heat = insp.heat_map(w)
    assert heat.shape == (64, 64) and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    other = insp.heat_map(w, target=(w.top_index + 1) % 10)
    assert not np.allclose(heat, other)
    out = write_heat_map_geotiff(tmp_path / "heat.tif", heat, w.footprint)
    ds = gdal.Open(str(out))
    assert ds.GetGeoTransform() == pytest.approx(w.footprint.geotransform)
    np.testing.assert_allclose(ds.ReadAsArray(), heat)
    with pytest.raises(ClassificationError, match="exists"):
        write_heat_map_geotiff(out, heat, w.footprint)
    assert [p.name for p in tmp_path.glob(".heat*")] == []
    json.dumps(w.footprint.to_dict())
