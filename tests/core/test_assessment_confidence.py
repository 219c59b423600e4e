"""The model's confidence at each sample point, and the map's accuracy by confidence (is the model honest?)."""

import numpy as np
import pytest
from eurosat_landcover.core.accuracy.design import DesignSpec, create_sampling_design
from eurosat_landcover.core.accuracy.estimators import accuracy_by_confidence
from eurosat_landcover.core.accuracy.reference import write_label
from eurosat_landcover.core.accuracy.report import run_assessment
from osgeo import ogr

from .assessment_testlib import NAMES, ORIGIN, blocky_map, write_classes, write_confidence


def test_equal_weights_give_the_plain_proportion_per_bin():
    # proportional allocation: every point stands for the same area, so the ratio estimator is the plain share
    m = np.array([0] * 10 + [1] * 30)
    r = m.copy()
    r[[0, 1, 12, 13, 14]] = 1 - r[[0, 1, 12, 13, 14]]
    conf = np.array([0.3] * 5 + [0.95] * 5 + [0.3] * 10 + [0.95] * 20)
    rows = accuracy_by_confidence(m, r, conf, {0: 100, 1: 300}, bins=(0.0, 0.5, 1.0))
    low, high = rows
    assert low["n"] == 15 and high["n"] == 25
    assert low["accuracy"] == pytest.approx(10 / 15) and high["accuracy"] == pytest.approx(25 / 25)
    assert low["area_share"] == pytest.approx(15 / 40) and low["mean_confidence"] == pytest.approx(0.3)
    assert low["accuracy_se"] > 0 and high["accuracy_se"] == 0.0
    # unequal weights: stratum 1 now stands for 9 times more area per point
    rows = accuracy_by_confidence(m, r, conf, {0: 100, 1: 2700}, bins=(0.0, 0.5, 1.0))
    w0, w1 = 100 / 10, 2700 / 30
    expect = (w0 * 3 + w1 * 7) / (w0 * 5 + w1 * 10)  # stratum 0: 3 of 5 right; stratum 1: 7 of 10
    assert rows[0]["accuracy"] == pytest.approx(expect)


def test_sample_carries_the_confidence_and_the_report_shows_it(tmp_path):
    arr = blocky_map()
    conf = np.where((np.arange(arr.shape[1])[None, :] % 20) < 6, 0.4, 0.95) * np.ones(arr.shape)
    conf[:10, :10] = np.nan
    tif = write_classes(tmp_path / "run_classes.tif", arr)
    write_confidence(tmp_path / "run_confidence.tif", conf)
    out = create_sampling_design(tif, tmp_path / "s.gpkg", DesignSpec(sample_size=120, min_per_class=20, seed=4))
    ds = ogr.Open(out["path"])
    pts = [(f.GetFID(), f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY(), f.GetField("map_code"),
            f.GetField("model_confidence")) for f in ds.GetLayerByName("sample_points")]  # fmt: skip
    ds = None
    for fid, x, _y, code, c in pts:
        col = int((x - ORIGIN[0]) // 10)
        expect = 0.4 if col % 20 < 6 else 0.95
        assert c == pytest.approx(round(expect * 254) / 254, abs=1e-4)
        wrong = c < 0.5  # the model is wrong wherever it is unsure: it said so
        ref = (code + 1) % 10 if wrong else code
        write_label(out["path"], fid, "labelled", ref, NAMES[ref])
    res = run_assessment(sample=out["path"], out_dir=tmp_path)
    rows = res["data"]["results"]["by_confidence"]
    by_bin = {tuple(r["bin"]): r for r in rows}
    assert by_bin[(0.0, 0.5)]["accuracy"] == 0.0 and by_bin[(0.9, 1.0)]["accuracy"] == 1.0
    assert by_bin[(0.5, 0.7)]["n"] == 0 and by_bin[(0.5, 0.7)]["accuracy"] is None
    assert sum(r["area_share"] for r in rows) == pytest.approx(1.0)
    assert by_bin[(0.0, 0.5)]["area_share"] == pytest.approx(0.3, abs=0.12)
    html = (tmp_path / "run_classes_assessment.html").read_text()
    assert "Accuracy by the model&#x27;s confidence" in html or "Accuracy by the model's confidence" in html
