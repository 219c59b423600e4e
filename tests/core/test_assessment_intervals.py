"""Issue 25 item 4: intervals kept in range with a note, the finite population correction (checked against an
exact enumeration of every possible sample), "1.000 ± 0.000" at small n flagged, manual allocations of 0 or 1
point refused when the design is made."""

from __future__ import annotations

import csv
import io
import itertools
import math

import numpy as np
import pytest
from eurosat_landcover.core.accuracy.design import DesignSpec, create_sampling_design
from eurosat_landcover.core.accuracy.errors import AssessmentError
from eurosat_landcover.core.accuracy.estimators import estimate_from_counts
from eurosat_landcover.core.accuracy.report import csv_text

from .assessment_testlib import blocky_map, write_classes


def test_fpc_variance_is_unbiased_over_every_possible_sample():
    """Two strata of 8 and 6 pixels whose true classes are known; every stratified sample of 5 + 4 pixels is
    enumerated. Under stratified random sampling without replacement the estimated variance of the overall
    accuracy (and of each user's accuracy) is unbiased only with the finite population correction: its mean
    over all samples equals the exact variance of the estimator."""
    truth = [np.array([1, 1, 1, 1, 1, 0, 0, 0]), np.array([1, 1, 1, 1, 0, 0])]  # 1 = map class is right
    N = np.array([8.0, 6.0])
    n = (5, 4)
    W = N / N.sum()
    overall, var_overall, var_users = [], [], []
    for sa in itertools.combinations(range(8), n[0]):
        for sb in itertools.combinations(range(6), n[1]):
            right = [truth[0][list(sa)].sum(), truth[1][list(sb)].sum()]
            # map class 0 / 1; a wrong point's reference is the other class
            counts = np.array([[right[0], n[0] - right[0]], [n[1] - right[1], right[1]]], float)
            res = estimate_from_counts(counts, N)
            overall.append(res.overall)
            var_overall.append(res.overall_se**2)
            var_users.append(res.users_se**2)
    exact = np.var(overall)  # the estimator's variance over its whole sampling distribution
    assert np.mean(overall) == pytest.approx(float((W * [t.mean() for t in truth]).sum()))
    assert np.mean(var_overall) == pytest.approx(exact, rel=1e-12)
    # without the correction the mean estimate is (N-1)/(N-n)-ish too large: 6x here for the first stratum
    users = np.mean(var_users, axis=0)
    for h in range(2):
        p, Nh, nh = truth[h].mean(), N[h], n[h]
        exact_h = (1 - nh / Nh) * p * (1 - p) * Nh / (Nh - 1) / nh  # Cochran 1977, eq. 3.8 for a proportion
        assert users[h] == pytest.approx(exact_h, rel=1e-12)


def test_most_cells_sampled_gives_small_ses_and_a_note():
    """370 of 384 cells sampled (the issue's case): SEs shrink by sqrt(1 - n/N) per stratum, a census stratum
    has none, and a note says the correction was applied."""
    N = np.array([200.0, 184.0])
    counts = np.array([[180.0, 15.0], [10.0, 165.0]])  # 195 + 175 = 370 points
    res = estimate_from_counts(counts, N)
    ni = counts.sum(axis=1)
    U = np.diag(counts) / ni
    W = N / N.sum()
    plain = math.sqrt(float((W**2 * U * (1 - U) / (ni - 1)).sum()))
    fpc = math.sqrt(float((W**2 * (1 - ni / N) * U * (1 - U) / (ni - 1)).sum()))
    assert res.overall_se == pytest.approx(fpc) and plain / res.overall_se > 4
    assert any("finite population correction applied: 370 of 384" in n for n in res.notes)
    census = estimate_from_counts(np.array([[20.0, 0.0], [1.0, 9.0]]), [20.0, 10.0])
    assert census.overall_se == 0 and census.users_se[0] == 0
    few = estimate_from_counts(np.array([[1.0, 0.0], [1.0, 9.0]]), [1.0, 500.0])  # one point of a 1-px class
    assert few.users[0] == 1.0


def test_intervals_are_cut_to_their_range_with_a_note():
    # user's accuracy 0.9 from 10 points: 0.9 + 1.96 x 0.1 > 1; the small class's area: lower bound < 0
    counts = np.array([[9.0, 1.0, 0.0], [0.0, 9.0, 1.0], [1.0, 2.0, 97.0]])
    res = estimate_from_counts(counts, [50.0, 200.0, 100_000.0], pixel_area_m2=100.0)
    rows = res.per_class()
    for r in rows:
        for lo, hi in (r["users_ci95"], r["producers_ci95"]):
            assert 0.0 <= lo <= hi <= 1.0
        lo, hi = r["adjusted_km2_ci95"]
        assert 0.0 <= lo <= hi <= res.total_km2
    assert rows[0]["users_ci95"][1] == 1.0 and rows[0]["adjusted_km2_ci95"][0] == 0.0
    assert res.adjusted_km2[0] - res.z * res.adjusted_km2_se[0] < 0  # it was negative before the cut
    note = next(n for n in res.notes if n.startswith("95 % intervals cut"))
    assert "user's accuracy of class 0" in note and "adjusted area of class 0" in note
    lo, hi = res.ci(res.overall, res.overall_se)
    assert 0 <= lo <= hi <= 1


def test_one_or_zero_at_small_n_is_flagged():
    counts = np.array([[3.0, 0.0], [2.0, 40.0]])  # 3 of 3 right: 1.000 ± 0.000
    res = estimate_from_counts(counts, [400.0, 10_000.0], names=["Forest", "River"])
    rows = res.per_class()
    assert rows[0]["users_accuracy"] == 1.0 and rows[0]["users_se"] == 0.0 and rows[0]["users_few_points"]
    assert not rows[1]["users_few_points"]
    assert any(n.startswith("not credible") and "Forest (1.000 from 3 points)" in n for n in res.notes)


def test_csv_overall_row_sits_under_its_headers():
    res = estimate_from_counts(np.array([[8.0, 2.0], [1.0, 9.0]]), [300.0, 700.0], names=["Forest", "River"])
    rows = list(csv.DictReader(io.StringIO(csv_text(res))))
    overall = rows[-1]
    assert overall["class"] == "overall"
    assert float(overall["users_accuracy"]) == pytest.approx(res.overall)
    assert float(overall["users_se"]) == pytest.approx(res.overall_se)
    assert float(overall["mapped_km2"]) == pytest.approx(res.total_km2)
    assert float(overall["n_map"]) == res.n_labelled == 20
    assert None not in overall  # no value beyond the header's columns


@pytest.mark.parametrize("points", [0, 1])
def test_manual_allocation_below_two_points_is_refused_at_design_time(tmp_path, points):
    tif = write_classes(tmp_path / "scene_classes.tif", blocky_map())
    from eurosat_landcover.core.accuracy.maps import read_map

    codes = read_map(tif).codes
    manual = {c: 10 for c in codes}
    manual[codes[1]] = points
    spec = DesignSpec(allocation="manual", manual=manual, sample_size=10 * len(codes))
    with pytest.raises(AssessmentError, match=r"fewer than 2 points: the analysis needs at least two"):
        create_sampling_design(tif, tmp_path / "s.gpkg", spec)
    assert not (tmp_path / "s.gpkg").exists()
