"""Issue 25 items 2 and 3 in the core: a reference given as plain records (what qgis_bridge reads through QGIS),
duplicate points, reference codes outside the map's classes, a map code the map does not have."""

from __future__ import annotations

import numpy as np
import pytest
from eurosat_landcover.core.accuracy.design import DesignSpec, create_sampling_design
from eurosat_landcover.core.accuracy.errors import AssessmentError
from eurosat_landcover.core.accuracy.reference import ReferenceRecords, write_label
from eurosat_landcover.core.accuracy.report import assess
from osgeo import ogr

from .assessment_testlib import NAMES, ORIGIN, blocky_map, write_classes


@pytest.fixture
def classes_tif(tmp_path):
    return write_classes(tmp_path / "scene_classes.tif", blocky_map())


def _records(values_at):
    """WKB points at the centres of (row, col) with their class value."""
    out = []
    for (r, c), v in values_at:
        g = ogr.CreateGeometryFromWkt(f"POINT ({ORIGIN[0] + (c + 0.5) * 10} {ORIGIN[1] - (r + 0.5) * 10})")
        out.append((bytes(g.ExportToWkb()), v))
    return out


def _truth(n_per_class=10):
    arr = blocky_map()
    cells = []
    for code in (0, 1, 7, 9):
        r, c = (arr == code).nonzero()
        step = len(r) // n_per_class
        cells += [((r[i], c[i]), NAMES[code]) for i in range(0, n_per_class * step, step)]
    return cells


def test_records_are_assessed_like_a_file(classes_tif):
    res, labels, _info = assess(classes_tif, reference_records=ReferenceRecords(_records(_truth()), "layer 'r'"))
    assert labels.kind == "points" and res.n_labelled == 40 and res.overall == pytest.approx(1.0)


def test_duplicates_counted_once_and_conflicts_refused(classes_tif):
    cells = _truth()
    res, _labels, _info = assess(classes_tif, reference_records=ReferenceRecords(_records(cells + cells[:7])))
    assert res.n_labelled == 40
    assert any(n.startswith("7 duplicate reference point(s)") and "40 of 47" in n for n in res.notes)
    (rc, _name) = cells[0]
    clash = [(rc, "SeaLake" if cells[0][1] != "SeaLake" else "Forest")]
    with pytest.raises(AssessmentError, match=r"^1 location\(s\) hold reference points with different classes"):
        assess(classes_tif, reference_records=ReferenceRecords(_records(cells + clash)))


def test_reference_code_outside_the_maps_classes_is_refused(classes_tif, tmp_path):
    spec = DesignSpec(sample_size=40, min_per_class=10, allocation="equal", seed=3)
    gpkg = create_sampling_design(classes_tif, tmp_path / "s.gpkg", spec)["path"]
    ds = ogr.Open(str(gpkg))
    points = [(f.GetFID(), f.GetField("map_code")) for f in ds.GetLayerByName("sample_points")]
    ds = None
    for fid, code in points:
        write_label(gpkg, fid, "labelled", code, NAMES[code])
    write_label(gpkg, points[0][0], "labelled", 42, "class 42")  # typed by hand into the GeoPackage
    with pytest.raises(AssessmentError) as err:
        assess(sample=gpkg)
    text = str(err.value)
    assert text.startswith("reference code(s) 42 are not classes of the map (AnnualCrop = 0, Forest = 1")
    assert "\n" not in text and "class 42" not in text


def test_a_map_code_the_map_lacks_is_one_readable_error(classes_tif):
    from eurosat_landcover.core.accuracy.estimators import estimate

    with pytest.raises(AssessmentError, match=r"^2 point\(s\) have map code\(s\) 5, of which the map has no pixel"):
        estimate(np.array([0, 0, 5, 5]), np.array([0, 0, 0, 0]), {0: 100, 1: 50}, 100.0, names={0: "a", 1: "b"})
