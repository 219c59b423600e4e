"""Strata that are not the assessed map's classes: Stehman (2014), and a corrected map assessed with a sample
drawn on the model's map.

Stehman, S. V. (2014). Estimating area and map accuracy for stratified random sampling when the strata are
different from the map classes. International Journal of Remote Sensing 35(13), 4923-4939. Its numerical
example: 4 strata of 40,000 / 30,000 / 20,000 / 10,000 pixels, 10 points each, map and reference class per point.
"""

import numpy as np
import pytest
from eurosat_landcover.core.accuracy.estimators import estimate_from_counts, estimate_stratified

# the 40 points of the example (stratum, map class, reference class), A..D = 0..3
S = "AAAAAAAAAABBBBBBBBBBCCCCCCCCCCDDDDDDDDDD"
M = "AAAAAAABBBABBBBBBBBBBBCCCCCCBBDDDDDDDDDD"
R = "AAAAACBABCABBBBBAABBCCCCCDDBBADDDDDDDCCB"
SIZES = {0: 40_000, 1: 30_000, 2: 20_000, 3: 10_000}


def _codes(text):
    return np.array(["ABCD".index(c) for c in text])


@pytest.fixture(scope="module")
def example():
    return estimate_stratified(_codes(S), _codes(M), _codes(R), SIZES, {0: 1, 1: 1, 2: 1, 3: 1}, 1.0)


def test_stehman_2014_numerical_example(example):
    e = example
    # published: proportion of area of A 0.35 (SE 0.082) and of C 0.20 (SE 0.064), overall accuracy 0.63
    # (SE 0.085), user's accuracy of B 0.574 (SE 0.125), producer's accuracy of B 0.794, cell (B, C) 0.08
    assert round(e.area_prop[0], 2) == 0.35 and round(e.area_prop_se[0], 3) == 0.082
    assert round(e.area_prop[2], 2) == 0.20 and round(e.area_prop_se[2], 3) == 0.064
    assert round(e.overall, 2) == 0.63 and round(e.overall_se, 3) == 0.085
    assert round(e.users[1], 3) == 0.574 and round(e.users_se[1], 3) == 0.125
    assert round(e.producers[1], 3) == 0.794
    assert round(e.proportions[1, 2], 2) == 0.08
    # the producer's accuracy SE as eq. 28 gives it (not compared with the print in this session)
    assert e.producers_se[1] == pytest.approx(0.1165, abs=5e-4)
    assert e.estimator == "stehman2014" and e.total_km2 == pytest.approx(0.1)


def test_strata_equal_to_map_classes_give_olofsson():
    counts = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
    px = [200_000, 150_000, 3_200_000, 6_450_000]
    m, r = np.nonzero(counts)
    reps = counts[m, r]
    mm, rr = np.repeat(m, reps), np.repeat(r, reps)
    st = estimate_stratified(mm, mm, rr, dict(enumerate(px)), dict(enumerate(px)), 900.0)
    ol = estimate_from_counts(counts, px, 900.0)
    np.testing.assert_allclose(st.area_prop, ol.area_prop)
    np.testing.assert_allclose(st.proportions, ol.proportions)
    np.testing.assert_allclose(st.users, ol.users)
    np.testing.assert_allclose(st.producers, ol.producers)
    # standard errors: the same up to the finite population correction (n_h / N_h < 0.0004 here)
    np.testing.assert_allclose(st.area_prop_se, ol.area_prop_se, rtol=1e-3)
    np.testing.assert_allclose(st.users_se, ol.users_se, rtol=1e-3)
    np.testing.assert_allclose(st.overall_se, ol.overall_se, rtol=1e-3)
    np.testing.assert_allclose(st.producers_se, ol.producers_se, rtol=2e-2)


def test_a_corrected_map_assessed_with_the_sample_of_the_model_map(tmp_path):
    from eurosat_landcover.core.accuracy.design import LAYER, DesignSpec, create_sampling_design
    from eurosat_landcover.core.accuracy.reference import write_label
    from eurosat_landcover.core.accuracy.report import run_assessment
    from osgeo import ogr

    from .assessment_testlib import NAMES, ORIGIN, blocky_map, write_classes

    model_map = blocky_map()
    truth = model_map.copy()
    truth[60:, :30] = np.where(truth[60:, :30] == 9, 5, truth[60:, :30])  # part of the "lake" is pasture
    corrected = truth.copy()  # the analyst fixed exactly that
    a = write_classes(tmp_path / "run_classes.tif", model_map)
    b = write_classes(tmp_path / "run_corrected.tif", corrected, summary=False)
    out = create_sampling_design(a, tmp_path / "s.gpkg", DesignSpec(sample_size=160, min_per_class=30, seed=9))
    ds = ogr.Open(out["path"])
    pts = [(f.GetFID(), f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY()) for f in ds.GetLayerByName(LAYER)]
    ds = None
    for fid, x, y in pts:
        ref = int(truth[int((ORIGIN[1] - y) // 10), int((x - ORIGIN[0]) // 10)])
        write_label(out["path"], fid, "labelled", ref, NAMES[ref])
    model = run_assessment(sample=out["path"], out_dir=tmp_path)["data"]
    fixed = run_assessment(map_path=b, sample=out["path"], out_dir=tmp_path)["data"]
    assert model["results"]["estimator"] == "olofsson2014" and fixed["results"]["estimator"] == "stehman2014"
    assert model["results"]["overall_accuracy"] < 0.95
    assert fixed["results"]["overall_accuracy"] == pytest.approx(1.0)  # the corrected map agrees with the truth
    assert any("strata are the classes of run_classes.tif" in n for n in fixed["results"]["notes"])
    sea = {c["class"]: c for c in fixed["classes"]}
    true_lake = (truth == 9).sum() * 100 / 1e6
    lo, hi = sea["SeaLake"]["ci95_low_km2"], sea["SeaLake"]["ci95_high_km2"]
    assert lo <= true_lake <= hi  # the adjusted area covers the truth
    assert sea["SeaLake"]["mapped_km2"] == pytest.approx(true_lake)  # mapped areas are the corrected map's
    assert fixed["provenance"]["sampled_map"].endswith("run_classes.tif")
    assert fixed["map"].endswith("run_corrected.tif")
