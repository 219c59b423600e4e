"""Polygon export: areas per class equal the raster's, no overlaps, MMU, dissolve, style in the GeoPackage."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from eurosat_landcover.core.export import ExportOptions, export_run
from export_testlib import CELL, CLASSES, class_array, write_run
from osgeo import gdal, ogr

gdal.UseExceptions()


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run")


def _features(path, layer=None):
    ds = ogr.Open(str(path))
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    feats = []
    for f in lyr:
        feats.append({k: f.GetField(k) for k in ("class_code", "class_name", "color", "area_ha", "confidence")})
        feats[-1]["geom"] = f.GetGeometryRef().Clone()
    return ds, lyr, feats


def _raster_area_ha(cls):
    return {n: float((cls == i).sum()) * CELL * CELL / 1e4 for i, (n, _c) in enumerate(CLASSES)}


def test_polygons_match_raster_and_never_overlap(run, tmp_path):
    res = export_run(run, tmp_path / "out", ExportOptions(what=("polygons",)))
    gpkg = tmp_path / "out" / "demo_landcover_polygons.gpkg"
    assert res.files == [gpkg]
    _ds, _lyr, feats = _features(gpkg, "demo_landcover")
    cls = class_array()
    # areas per class: the polygons' geometry against the raster's cell count, within one cell's area
    want = _raster_area_ha(cls)
    got: dict = {}
    for f in feats:
        got[f["class_name"]] = got.get(f["class_name"], 0.0) + f["geom"].GetArea() / 1e4
        assert abs(f["area_ha"] - f["geom"].GetArea() / 1e4) < 1e-3
        assert f["color"] == dict(CLASSES)[f["class_name"]]
        assert f["class_name"] == CLASSES[f["class_code"]][0]
    for name, a in want.items():
        assert abs(got.get(name, 0.0) - a) < CELL * CELL / 1e4, name
    # no two polygons overlap (shared edges only), and together they cover exactly the valid cells
    geoms = [f["geom"] for f in feats]
    for i in range(len(geoms)):
        ei = geoms[i].GetEnvelope()
        for j in range(i + 1, len(geoms)):
            ej = geoms[j].GetEnvelope()
            if ei[1] < ej[0] or ej[1] < ei[0] or ei[3] < ej[2] or ej[3] < ei[2]:
                continue
            inter = geoms[i].Intersection(geoms[j])
            assert inter is None or inter.GetArea() < 1e-6, (i, j)
    union = ogr.Geometry(ogr.wkbMultiPolygon)
    for g in geoms:
        union.AddGeometry(g)
    assert abs(union.UnionCascaded().GetArea() - (cls != 255).sum() * CELL * CELL) < 1e-3
    # mean confidence of one polygon equals the numpy mean over its cells
    conf = gdal.Open(str(run.parent / "demo_confidence.tif")).ReadAsArray() / 254.0
    f0 = max(feats, key=lambda f: f["area_ha"])
    mem = gdal.GetDriverByName("MEM").Create("", cls.shape[1], cls.shape[0], 1, gdal.GDT_Byte)
    mem.SetGeoTransform((500000.0, CELL, 0, 5000000.0, 0, -CELL))
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    vl = vds.CreateLayer("x")
    ft = ogr.Feature(vl.GetLayerDefn())
    ft.SetGeometry(f0["geom"])
    vl.CreateFeature(ft)
    gdal.RasterizeLayer(mem, [1], vl, burn_values=[1])
    inside = mem.ReadAsArray() == 1
    assert abs(f0["confidence"] - conf[inside].mean()) < 1e-3
    # the GeoPackage carries the QML as the layer's default style
    con = sqlite3.connect(gpkg)
    rows = con.execute(
        "select f_table_name, f_geometry_column, useAsDefault, styleQML, styleSLD from layer_styles"
    ).fetchall()
    con.close()
    assert len(rows) == 1 and rows[0][0] == "demo_landcover" and rows[0][1] == "geom" and rows[0][2] == 1
    assert 'type="categorizedSymbol"' in rows[0][3] and "Forest" in rows[0][3] and "StyledLayerDescriptor" in rows[0][4]
    assert not list((tmp_path / "out").glob(".export-*"))


def test_mmu_and_dissolve(run, tmp_path):
    res = export_run(run, tmp_path / "out", ExportOptions(what=("polygons",), mmu_ha=3.0))
    assert res.polygons["mmu_cells"] == 3
    _ds, _l, feats = _features(res.files[0])
    small = [f for f in feats if f["area_ha"] < 3.0 - 1e-6]
    # a patch below the MMU survives only where it has no classified neighbour to merge into (nodata edge)
    cls = class_array()
    for f in small:
        env = f["geom"].GetEnvelope()
        c0, c1 = int((env[0] - 500000) / CELL), int((env[1] - 500000) / CELL)
        r0, r1 = int((5000000 - env[3]) / CELL), int((5000000 - env[2]) / CELL)
        ring = cls[max(0, r0 - 1) : r1 + 1, max(0, c0 - 1) : c1 + 1]
        assert (ring == 255).any()
    total = sum(f["area_ha"] for f in feats)
    assert abs(total - (cls != 255).sum()) < 1e-6  # the sieve moves area between classes, never loses it
    n_before = len(feats)

    res = export_run(run, tmp_path / "out2", ExportOptions(what=("polygons",), mmu_ha=3.0, dissolve=True))
    _ds, lyr, feats = _features(res.files[0])
    assert lyr.GetGeomType() == ogr.wkbMultiPolygon
    names = [f["class_name"] for f in feats]
    assert len(names) == len(set(names)) and len(feats) < n_before
    assert abs(sum(f["area_ha"] for f in feats) - total) < 1e-6
    for f in feats:
        assert f["geom"].IsValid()
        assert 0 < f["confidence"] <= 1


@pytest.mark.parametrize("fmt,ext", [("geojson", ".geojson"), ("shp", ".shp")])
def test_other_vector_formats(run, tmp_path, fmt, ext):
    res = export_run(run, tmp_path / "out", ExportOptions(what=("polygons",), vector_format=fmt))
    main = tmp_path / "out" / f"demo_landcover_polygons{ext}"
    assert main in res.files
    assert (tmp_path / "out" / "demo_landcover_polygons.qml").is_file()
    assert (tmp_path / "out" / "demo_landcover_polygons.sld").is_file()
    _ds, lyr, feats = _features(main)
    cls = class_array()
    assert abs(sum(f["area_ha"] for f in feats) - (cls != 255).sum()) < 1e-3
    assert {f["class_name"] for f in feats} <= {n for n, _c in CLASSES}
    assert lyr.GetSpatialRef().GetAuthorityCode(None) == "32632"
    if fmt == "shp":
        for e in (".shx", ".dbf", ".prj", ".cpg"):
            assert (tmp_path / "out" / f"demo_landcover_polygons{e}") in res.files


def test_confidence_absent_leaves_field_empty(tmp_path):
    run = write_run(tmp_path / "run")
    (run.parent / "demo_confidence.tif").unlink()
    res = export_run(run, tmp_path / "out", ExportOptions(what=("polygons",)))
    _ds, _l, feats = _features(res.files[0])
    assert feats and all(f["confidence"] is None for f in feats)
    assert np.isclose(sum(f["area_ha"] for f in feats), (class_array() != 255).sum())
