"""The estimators reproduce the worked example of Olofsson et al. (2014), section 5, to the published rounding.

Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A. (2014). Good practices
for estimating area and assessing accuracy of land change. Remote Sensing of Environment 148, 42-57.

Section 5: a change map of 10,000,000 Landsat pixels (30 m, 0.09 ha each) in four classes; stratified random
sample with strata = map classes. Table 8 gives the sample counts and the mapped pixels, Table 9 the error matrix
in estimated area proportions; the text gives the sample size (eq. 13), the accuracies with 95 % CIs and the
error-adjusted areas with 95 % CIs in hectares.
"""

import numpy as np
import pytest
from eurosat_landcover.core.accuracy.design import allocate, sample_size
from eurosat_landcover.core.accuracy.errors import AssessmentError
from eurosat_landcover.core.accuracy.estimators import KAPPA_NOTE, estimate, estimate_from_counts

NAMES = ["Deforestation", "Forest gain", "Stable forest", "Stable non-forest"]
# Table 8: rows = map class, columns = reference class
COUNTS = np.array(
    [
        [66, 0, 5, 4],
        [0, 55, 8, 12],
        [1, 0, 153, 11],
        [2, 1, 9, 313],
    ]
)
MAPPED_PX = np.array([200_000, 150_000, 3_200_000, 6_450_000])
PIXEL_M2 = 900.0  # 30 m x 30 m = 0.09 ha

# Table 9: estimated area proportions (published to 4 decimals)
TABLE9 = np.array(
    [
        [0.0176, 0.0000, 0.0013, 0.0011],
        [0.0000, 0.0110, 0.0016, 0.0024],
        [0.0019, 0.0000, 0.2967, 0.0213],
        [0.0040, 0.0020, 0.0179, 0.6212],
    ]
)
TABLE9_COLUMN_TOTALS = [0.0235, 0.0130, 0.3175, 0.6460]
# Section 5: error-adjusted areas (ha) and the half-widths of their 95 % confidence intervals
AREA_HA = [21_158, 11_686, 285_770, 581_386]
AREA_CI_HA = [6_158, 3_756, 15_510, 16_282]
# Section 5: accuracies and the half-widths of their 95 % CIs (two decimals)
USERS = [0.88, 0.73, 0.93, 0.96]
USERS_CI = [0.07, 0.10, 0.04, 0.02]
PRODUCERS = [0.75, 0.85, 0.93, 0.96]
PRODUCERS_CI = [0.21, 0.25, 0.03, 0.02]
OVERALL, OVERALL_CI = 0.95, 0.02


@pytest.fixture(scope="module")
def example():
    return estimate_from_counts(COUNTS, MAPPED_PX, PIXEL_M2, names=NAMES)


def _r(x, nd):
    return np.round(np.asarray(x, float), nd)


def test_sample_size_eq13():
    # "target standard error of overall accuracy 0.01, user's accuracies 0.7, 0.6, 0.9, 0.95" -> n = 641
    w = MAPPED_PX / MAPPED_PX.sum()
    assert sample_size(w, [0.70, 0.60, 0.90, 0.95], 0.01) == 641


def test_map_areas_and_weights(example):
    assert example.total_km2 * 100 == pytest.approx(900_000)  # 10,000,000 px x 0.09 ha
    np.testing.assert_allclose(example.mapped_km2 * 100, [18_000, 13_500, 288_000, 580_500])
    np.testing.assert_allclose(example.proportions.sum(axis=1), [0.020, 0.015, 0.320, 0.645])


def test_table9_area_proportions(example):
    np.testing.assert_array_equal(_r(example.proportions, 4), TABLE9)
    np.testing.assert_array_equal(_r(example.area_prop, 4), TABLE9_COLUMN_TOTALS)


def test_adjusted_areas_and_confidence_intervals(example):
    ha = example.adjusted_km2 * 100
    ci_ha = example.z * example.adjusted_km2_se * 100
    np.testing.assert_array_equal(_r(ha, 0), AREA_HA)
    # the paper has no finite population correction; with it (under 0.05 % of each class's pixels are sampled)
    # the half-widths shrink by less than 0.02 %: at most 1 ha here, the published ones rounded
    assert np.all(np.abs(_r(ci_ha, 0) - AREA_CI_HA) <= 1) and np.all(ci_ha <= np.asarray(AREA_CI_HA) + 0.5)
    # deforestation: SE of the proportion 0.0035, SE of the area 3,142 ha (eqs. 10, 12)
    assert round(example.area_prop_se[0], 4) == 0.0035
    assert round(example.adjusted_km2_se[0] * 100) == 3142


def test_accuracies_and_confidence_intervals(example):
    np.testing.assert_array_equal(_r(example.users, 2), USERS)
    np.testing.assert_array_equal(_r(example.z * example.users_se, 2), USERS_CI)
    np.testing.assert_array_equal(_r(example.producers, 2), PRODUCERS)
    np.testing.assert_array_equal(_r(example.z * example.producers_se, 2), PRODUCERS_CI)
    assert round(example.overall, 2) == OVERALL
    assert round(example.z * example.overall_se, 2) == OVERALL_CI


def test_point_level_input_gives_the_same(example):
    m, r = np.nonzero(COUNTS)
    reps = COUNTS[m, r]
    res = estimate(
        np.repeat(m, reps), np.repeat(r, reps), dict(enumerate(MAPPED_PX.tolist())), PIXEL_M2, dict(enumerate(NAMES))
    )
    np.testing.assert_allclose(res.area_prop, example.area_prop)
    np.testing.assert_allclose(res.producers_se, example.producers_se)
    d = res.to_dict()
    assert d["classes"][0]["name"] == "Deforestation"
    assert d["classes"][0]["adjusted_km2_ci95"][0] == pytest.approx((21_158 - 6_158) / 100, abs=0.01)
    assert "kappa" not in d


def test_kappa_only_on_request_with_its_note():
    res = estimate_from_counts(COUNTS, MAPPED_PX, PIXEL_M2, names=NAMES, kappa=True)
    p = res.proportions
    pe = (p.sum(1) * p.sum(0)).sum()
    assert res.kappa == pytest.approx((np.trace(p) - pe) / (1 - pe))
    assert res.to_dict()["kappa_note"] == KAPPA_NOTE and "not recommended" in KAPPA_NOTE


def test_fewer_than_two_points_or_an_empty_stratum_is_one_clear_message():
    thin = COUNTS.copy()
    thin[1] = [0, 1, 0, 0]
    with pytest.raises(AssessmentError, match="'Forest gain' has only 1 labelled point: at least two"):
        estimate_from_counts(thin, MAPPED_PX, PIXEL_M2, names=NAMES)
    thin[1] = 0
    with pytest.raises(AssessmentError, match="no labelled point in stratum 'Forest gain'"):
        estimate_from_counts(thin, MAPPED_PX, PIXEL_M2, names=NAMES)


def test_allocation_keeps_a_minimum_per_class():
    per, notes = allocate(641, MAPPED_PX, "proportional", min_per_class=75)
    assert per.sum() == 641 and per[0] == 75 and per[1] == 75
    assert per[2] / per[3] == pytest.approx(3_200_000 / 6_450_000, rel=0.01)
    eq, _ = allocate(640, MAPPED_PX, "equal", min_per_class=2)
    assert eq.tolist() == [160, 160, 160, 160]
    small, notes = allocate(10, MAPPED_PX, "proportional", min_per_class=30)
    assert small.tolist() == [30, 30, 30, 30] and "raised from 10 to 120" in notes[0]
    capped, notes = allocate(100, [5, 1000], "equal", min_per_class=20)
    assert capped.tolist() == [5, 50] and "fewer pixels than points" in notes[-1]
