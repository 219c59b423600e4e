"""Coverage and bias of the area estimates under the plugin's own stratified design (synthetic truth).

A truth raster with four classes and a map made from it with known errors; the plugin's design
(``allocate`` + ``draw_stratified_array``, the code that places points on a real map) draws the sample
500 times, each labelled from the truth, and the Olofsson estimators give each class's adjusted area with
its 95 % CI. Printed with ``-s``: the measured coverage per class and the bias in units of the Monte Carlo SE.
"""

import numpy as np
from eurosat_landcover.core.accuracy.design import allocate, draw_stratified_array
from eurosat_landcover.core.accuracy.estimators import error_matrix, estimate_from_counts

REPS = 500


def _truth_and_map(seed=7, h=240, w=240):
    rng = np.random.default_rng(seed)
    truth = np.zeros((h, w), np.uint8)  # class 0: 45 %
    truth[:, int(w * 0.45) :] = 1  # 30 %
    truth[:, int(w * 0.75) :] = 2  # 17 %
    truth[:, int(w * 0.92) :] = 3  # 8 %
    mapped = truth.copy()
    # known errors: 6 % of class 0 mapped as 1, 20 % of 1 as 2, 12 % of 2 as 0, 15 % of 3 as 2, 2 % of 0 as 3
    for src, dst, rate in ((0, 1, 0.06), (1, 2, 0.20), (2, 0, 0.12), (3, 2, 0.15), (0, 3, 0.02)):
        hit = (truth == src) & (mapped == src) & (rng.random((h, w)) < rate)
        mapped[hit] = dst
    return truth, mapped


def test_ci_coverage_and_bias_over_repeated_stratified_samples():
    truth, mapped = _truth_and_map()
    codes = [0, 1, 2, 3]
    true_px = np.array([(truth == c).sum() for c in codes], float)
    mapped_px = np.array([(mapped == c).sum() for c in codes])
    assert not np.array_equal(true_px, mapped_px)  # the map is biased: mapped areas are wrong
    per, _ = allocate(600, mapped_px, "equal", min_per_class=50)
    rng = np.random.default_rng(2014)
    est = np.empty((REPS, 4))
    se = np.empty((REPS, 4))
    for k in range(REPS):
        pts = draw_stratified_array(mapped, 255, dict(zip(codes, per.tolist())), rng)
        m = np.concatenate([np.full(len(pts[c][0]), c) for c in codes])
        r = np.concatenate([truth[pts[c]] for c in codes])
        res = estimate_from_counts(error_matrix(m, r, codes), mapped_px)
        est[k] = res.area_prop * mapped_px.sum()
        se[k] = res.area_prop_se * mapped_px.sum()
    covered = (np.abs(est - true_px) <= 1.96 * se).mean(axis=0)
    bias = est.mean(axis=0) - true_px
    mc_se = est.std(axis=0, ddof=1) / np.sqrt(REPS)
    print(f"\ncoverage of the 95 % CI over {REPS} stratified samples (n = {per.sum()}): {np.round(covered, 3)}")
    print(
        f"bias / Monte Carlo SE: {np.round(bias / mc_se, 2)}; mean SE / true area: {np.round(se.mean(0) / true_px, 3)}"
    )
    print(f"mapped px {mapped_px.tolist()} vs true px {true_px.astype(int).tolist()}")
    # 500 Bernoulli(0.95) trials: SD 0.0097; a band of about 3 SD either side
    assert np.all(covered >= 0.92) and np.all(covered <= 0.98), covered
    # unbiased: the mean estimate is within 3 Monte Carlo SEs of the truth, and far within one estimate's SE
    assert np.all(np.abs(bias) < 3 * mc_se), bias / mc_se
    assert np.all(np.abs(bias) < 0.2 * se.mean(axis=0))
    # the map's own areas are off by much more than the estimator's SE (the point of adjusting them)
    assert np.any(np.abs(mapped_px - true_px) > 3 * se.mean(axis=0))


def test_each_stratum_gets_its_points_on_its_own_pixels():
    _, mapped = _truth_and_map()
    rng = np.random.default_rng(1)
    pts = draw_stratified_array(mapped, 255, {0: 40, 1: 30, 2: 20, 3: 10}, rng)
    for c, n in {0: 40, 1: 30, 2: 20, 3: 10}.items():
        rows, cols = pts[c]
        assert len(rows) == n and np.all(mapped[rows, cols] == c)
        assert len(set(zip(rows.tolist(), cols.tolist()))) == n  # without replacement
