"""Sampling design on a real GeoTIFF, labels in the GeoPackage, references, and the written outputs."""

import csv
import json

import numpy as np
import pytest
from eurosat_landcover.core.accuracy.design import (
    LAYER,
    DesignSpec,
    create_sampling_design,
    plan,
    read_design,
)
from eurosat_landcover.core.accuracy.errors import AssessmentError
from eurosat_landcover.core.accuracy.maps import read_map
from eurosat_landcover.core.accuracy.reference import write_label
from eurosat_landcover.core.accuracy.report import output_paths, run_assessment
from osgeo import ogr, osr

from .assessment_testlib import NAMES, ORIGIN, blocky_map, write_classes


@pytest.fixture
def classes_tif(tmp_path):
    return write_classes(tmp_path / "scene_classes.tif", blocky_map())


def _points(gpkg):
    ds = ogr.Open(str(gpkg))
    lyr = ds.GetLayerByName(LAYER)
    out = []
    for f in lyr:
        g = f.GetGeometryRef()
        out.append(
            {
                "fid": f.GetFID(),
                "x": g.GetX(),
                "y": g.GetY(),
                **{
                    k: f.GetField(k)
                    for k in ("point_id", "stratum", "map_code", "map_class", "ref_class", "ref_code", "status")
                },
            }
        )
    return out


def _pixel(x, y):
    return int((ORIGIN[1] - y) // 10), int((x - ORIGIN[0]) // 10)


def test_read_map_counts_classes_without_nodata(classes_tif):
    info = read_map(classes_tif)
    arr = blocky_map()
    assert info.counts == {c: int((arr == c).sum()) for c in (0, 1, 7, 9)}
    assert info.total_pixels == arr.size - 100  # the 10 x 10 nodata corner is left out
    assert info.name(9) == "SeaLake" and info.color(1) == "#1b7837" and info.pixel_area_m2 == 100.0
    assert info.window_m == 640.0 and info.provenance["model"]["architecture"] == "tf_efficientnet_lite0"


def test_stratified_design_writes_a_geopackage_with_an_empty_reference_field(classes_tif, tmp_path):
    spec = DesignSpec(target_se=0.02, expected_ua={0: 0.8, 1: 0.9, 7: 0.7, 9: 0.95}, min_per_class=25, seed=3)
    out = create_sampling_design(classes_tif, tmp_path / "sample.gpkg", spec)
    pts = _points(out["path"])
    arr = blocky_map()
    assert len(pts) == out["points"] == out["plan"]["n_total"] == sum(out["plan"]["per_class"])
    assert out["plan"]["n_from_se"] == out["plan"]["n_total"] or any("raised" in n for n in out["notes"])
    for p in pts:
        r, c = _pixel(p["x"], p["y"])
        assert arr[r, c] == p["map_code"] != 255  # at a pixel centre of its own class, never on nodata
        assert p["stratum"] == p["map_class"] == NAMES[p["map_code"]]
        assert p["ref_class"] is None and p["ref_code"] is None and p["status"] == ""
    per = {c: sum(p["map_code"] == c for p in pts) for c in (0, 1, 7, 9)}
    assert per == dict(zip(out["plan"]["codes"], out["plan"]["per_class"]))
    assert min(per.values()) >= 25
    assert sorted(p["point_id"] for p in pts) == list(range(1, len(pts) + 1))
    design = read_design(out["path"])
    assert design["method"] == "stratified" and design["map"]["counts"]["9"] == int((arr == 9).sum())
    assert not list(tmp_path.glob("*.partial*"))
    # same seed -> same points; an existing file is never overwritten without asking
    with pytest.raises(AssessmentError, match="already exists"):
        create_sampling_design(classes_tif, tmp_path / "sample.gpkg", spec)
    again = create_sampling_design(classes_tif, tmp_path / "again.gpkg", spec)
    assert [(p["x"], p["y"]) for p in _points(again["path"])] == [(p["x"], p["y"]) for p in pts]


def test_min_distance_simple_and_systematic(classes_tif, tmp_path):
    spec = DesignSpec(sample_size=60, min_per_class=10, min_distance_m=100.0, seed=5)
    pts = _points(create_sampling_design(classes_tif, tmp_path / "md.gpkg", spec)["path"])
    xy = np.array([(p["x"], p["y"]) for p in pts])
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + np.eye(len(xy)) * 1e9
    assert d.min() >= 100.0
    simple = create_sampling_design(classes_tif, tmp_path / "s.gpkg", DesignSpec(method="simple", sample_size=80))
    assert simple["points"] == 80
    syst = create_sampling_design(classes_tif, tmp_path / "g.gpkg", DesignSpec(method="systematic", sample_size=100))
    sp = _points(syst["path"])
    assert 80 <= len(sp) <= 120
    xs = np.unique(np.round([p["x"] for p in sp], 6))
    assert np.allclose(np.diff(xs), np.diff(xs)[0])  # a regular grid


def test_labels_then_analysis_writes_json_csv_html(classes_tif, tmp_path):
    spec = DesignSpec(sample_size=80, min_per_class=20, allocation="equal", seed=11)
    gpkg = create_sampling_design(classes_tif, tmp_path / "lab.gpkg", spec)["path"]
    pts = _points(gpkg)
    for p in pts:  # the truth: the map, except that every fifth Forest point is really Pasture
        ref = 5 if (p["map_code"] == 1 and p["point_id"] % 5 == 0) else p["map_code"]
        write_label(gpkg, p["fid"], "labelled", ref, NAMES[ref])
    write_label(gpkg, pts[0]["fid"], "unsure")
    with pytest.raises(AssessmentError, match=r"cannot open the map .*other\.tif"):
        run_assessment(map_path=tmp_path / "other.tif", sample=gpkg)
    out = run_assessment(sample=gpkg, kappa=True)
    data = json.loads(output_paths(classes_tif)["json"].read_text())
    assert data["schema"] == "eurosat_landcover.assessment/1"
    assert data["results"]["n_labelled"] == len(pts) - 1
    names = [c["name"] for c in data["results"]["classes"]]
    assert names == ["AnnualCrop", "Forest", "Pasture", "Residential", "SeaLake"]
    forest = data["results"]["classes"][1]
    assert forest["users_accuracy"] < 1.0 and data["results"]["classes"][2]["adjusted_km2"] > 0
    assert "kappa_note" in data["results"] and data["provenance"]["model"]["name"] == "eurosat_rgb_lite0"
    assert any("unsure" in n for n in data["results"]["notes"])
    top = {c["class"]: c for c in data["classes"]}  # the area table the Export report reads
    assert top["Forest"]["adjusted_area_km2"] == forest["adjusted_km2"] and data["n"] == len(pts) - 1
    assert top["Forest"]["ci95_low_km2"] == pytest.approx(forest["adjusted_km2"] - top["Forest"]["ci95_km2"])
    with open(out["csv"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows[1]["class"] == "Forest" and float(rows[1]["adjusted_km2"]) == pytest.approx(
        forest["adjusted_km2"], abs=1e-6
    )
    with open(out["html"], encoding="utf-8") as f:
        html = f.read()
    assert "<svg" in html and "#1b7837" in html and "Overall accuracy" in html and "not recommended" in html
    with pytest.raises(AssessmentError, match="already exist"):
        run_assessment(sample=gpkg)


def _vector(path, epsg, geoms_values, gtype):
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lyr = ds.CreateLayer("ref", srs, gtype)
    lyr.CreateField(ogr.FieldDefn("landcover", ogr.OFTString))
    for wkt, v in geoms_values:
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("landcover", v)
        f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        lyr.CreateFeature(f)
    ds = None
    return path


def test_reference_points_in_another_crs_outside_and_on_nodata(classes_tif, tmp_path):
    arr = blocky_map()
    src = osr.SpatialReference()
    src.ImportFromEPSG(32632)
    dst = osr.SpatialReference()
    dst.ImportFromEPSG(4326)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(src, dst)
    rng = np.random.default_rng(0)
    items = []
    word = {0: "Acker", 1: "Wald", 7: "Siedlung", 9: "See"}
    for code in (0, 1, 7, 9):
        rows, cols = np.nonzero(arr == code)
        for i in rng.choice(len(rows), 6, replace=False):
            x, y = ORIGIN[0] + (cols[i] + 0.5) * 10, ORIGIN[1] - (rows[i] + 0.5) * 10
            lon, lat, _ = ct.TransformPoint(x, y)
            items.append((f"POINT ({lon} {lat})", word[code]))
    out_x, out_y, _ = ct.TransformPoint(ORIGIN[0] - 500, ORIGIN[1])
    nod_x, nod_y, _ = ct.TransformPoint(ORIGIN[0] + 25, ORIGIN[1] - 25)
    items += [(f"POINT ({out_x} {out_y})", "Wald"), (f"POINT ({nod_x} {nod_y})", "Wald")]
    ref = _vector(tmp_path / "ref.gpkg", 4326, items, ogr.wkbPoint)
    with pytest.raises(AssessmentError, match=r"'Acker', 'See', 'Siedlung', 'Wald' map to no class"):
        run_assessment(classes_tif, reference=ref, class_field="landcover")
    mapping = {"Acker": "AnnualCrop", "Wald": "Forest", "Siedlung": "Residential", "See": "SeaLake"}
    out = run_assessment(classes_tif, reference=ref, class_field="landcover", mapping=mapping, out_dir=tmp_path)
    data = out["data"]
    assert data["reference"]["excluded"] == {"outside the map": 1, "on nodata": 1}
    assert data["results"]["n_labelled"] == 24 and data["results"]["overall_accuracy"] == pytest.approx(1.0)
    assert any("transformed" in n for n in data["results"]["notes"])
    with pytest.raises(AssessmentError, match="'Wald' map to no class"):
        run_assessment(
            classes_tif,
            reference=ref,
            class_field="landcover",
            out_dir=tmp_path,
            overwrite=True,
            mapping={**mapping, "Wald": "Jungle"},
        )


def _box(a, b, c, d):
    return f"POLYGON (({a} {b}, {c} {b}, {c} {d}, {a} {d}, {a} {b}))"


def test_reference_polygons_and_raster(classes_tif, tmp_path):
    x0, y0 = ORIGIN
    poly = _box(x0 + 900, y0 - 500, x0 + 1500, y0 - 100)
    poly2 = _box(x0 + 100, y0 - 500, x0 + 700, y0 - 100)
    ref = _vector(tmp_path / "poly.gpkg", 32632, [(poly, "AnnualCrop"), (poly2, "1")], ogr.wkbPolygon)
    out = run_assessment(classes_tif, reference=ref, class_field="landcover", out_dir=tmp_path)
    d = out["data"]["results"]
    assert d["n_labelled"] == 60 * 40 + 60 * 40  # every pixel centre inside the two polygons
    by_name = {c["name"]: c for c in d["classes"]}
    assert by_name["AnnualCrop"]["users_accuracy"] > 0.9 and by_name["Forest"]["users_accuracy"] > 0.9
    # speckle of other classes inside the polygons: their strata are all wrong there, and weigh in
    assert by_name["SeaLake"]["users_accuracy"] == 0.0
    # a reference raster: the map itself with Forest recoded to Pasture, in the same grid
    truth = blocky_map()
    truth[truth == 1] = 5
    rr = write_classes(tmp_path / "truth.tif", truth, summary=False)
    (tmp_path / "r").mkdir()
    out = run_assessment(classes_tif, reference=rr, out_dir=tmp_path / "r")
    classes = {c["name"]: c for c in out["data"]["results"]["classes"]}
    assert classes["Forest"]["adjusted_km2"] == pytest.approx(0.0)
    assert classes["Pasture"]["adjusted_km2"] == pytest.approx(classes["Forest"]["mapped_km2"])


def test_bad_design_input_is_one_clear_message(classes_tif, tmp_path):
    with pytest.raises(AssessmentError, match=r"between 0 and 0\.5"):
        create_sampling_design(classes_tif, tmp_path / "x.gpkg", DesignSpec(target_se=0.0))
    with pytest.raises(AssessmentError, match="at least 2"):
        create_sampling_design(classes_tif, tmp_path / "x.gpkg", DesignSpec(min_per_class=1))
    with pytest.raises(AssessmentError, match="cannot open the map"):
        create_sampling_design(tmp_path / "nope.tif", tmp_path / "x.gpkg", DesignSpec())
    imagery = tmp_path / "image.tif"
    from osgeo import gdal

    ds = gdal.GetDriverByName("GTiff").Create(str(imagery), 64, 64, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((ORIGIN[0], 10.0, 0.0, ORIGIN[1], 0.0, -10.0))
    ds.GetRasterBand(1).WriteArray(np.arange(64 * 64).reshape(64, 64) % 200)
    ds = None
    with pytest.raises(AssessmentError, match="looks like imagery"):
        create_sampling_design(imagery, tmp_path / "x.gpkg", DesignSpec())
    info = read_map(classes_tif)
    p = plan(info, DesignSpec(method="simple", sample_size=10))
    assert any("fewer than 2 points" in n for n in p.notes)
    p = plan(info, DesignSpec())
    assert any("not in the map" in n and "Highway" in n for n in p.notes)  # empty strata are reported


def test_cancel_leaves_no_file(classes_tif, tmp_path):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 1  # after counting, while drawing

    with pytest.raises(AssessmentError, match="cancelled"):
        create_sampling_design(classes_tif, tmp_path / "c.gpkg", DesignSpec(), is_cancelled=cancelled)
    assert not list(tmp_path.glob("c*")) and not list(tmp_path.glob("*.partial*"))
