"""The finite population correction and the notes on 95 % intervals (cut to their range, width 0 at small n).

- ``stratum_factor``: ``(1 - n_i/N_i) / (n_i - 1)``, the factor of every stratum's variance term in the Olofsson
  et al. (2014) estimators once the finite population correction of stratified random sampling is applied
  (Cochran 1977, eqs. 5.7 and 5.16; Stehman 2014, eq. 25);
- ``interval_notes``: which intervals were cut to [0, 1] / [0, total area], and which accuracies of exactly 0 or
  1 rest on fewer than :data:`SMALL_N` points (a Wald interval of width 0, not credible).
"""

from __future__ import annotations

import numpy as np

SMALL_N = 30  # below this many points in a stratum, a user's accuracy of exactly 0 or 1 is flagged


def stratum_factor(ni: np.ndarray, N: np.ndarray) -> np.ndarray:  # noqa: N803 (the papers' N_i)
    """``(1 - n_i/N_i) / (n_i - 1)`` per stratum: 0 for a census (n_i = N_i), NaN where no SE exists."""
    with np.errstate(divide="ignore", invalid="ignore"):
        fpc = np.where(N > 0, 1.0 - ni / np.where(N > 0, N, 1.0), 1.0)
        g = np.where(ni > 1, fpc / np.where(ni > 1, ni - 1, 1.0), np.nan)
    return np.where((ni > 0) & (ni >= N), 0.0, g)


def fpc_note(ni: np.ndarray, N: np.ndarray) -> list:  # noqa: N803 (the papers' N_i)
    """A note when the finite population correction shrinks some stratum's SE by more than 1 %."""
    share = np.where(N > 0, ni / np.where(N > 0, N, 1.0), 0.0)
    if not (share > 0.02).any():  # sqrt(1 - 0.02) = 0.99
        return []
    return [
        f"finite population correction applied: {int(ni.sum())} of {int(N.sum())} mapped pixels are in the sample "
        f"(up to {100 * share.max():.0f} % of a class), so the standard errors are smaller than without it"
    ]


def interval_notes(res) -> list:
    """Notes on the 95 % intervals: which were cut to [0, 1] / [0, total area], which have width 0 at small n."""
    z, total, out = res.z, res.total_km2, []
    cut = []
    pairs = [
        ("user's accuracy", res.users, res.users_se, 1.0),
        ("producer's accuracy", res.producers, res.producers_se, 1.0),
    ]
    pairs.append(("adjusted area", res.adjusted_km2, res.adjusted_km2_se, total))
    for what, est, se, upper in pairs:
        with np.errstate(invalid="ignore"):
            bad = (est - z * se < 0) | (est + z * se > upper)
        cut += [f"{what} of {res.names[k]}" for k in np.flatnonzero(bad)]
    if res.overall - z * res.overall_se < 0 or res.overall + z * res.overall_se > 1:
        cut.append("overall accuracy")
    if cut:
        out.append(
            "95 % intervals cut to [0, 1] (accuracies) or [0, total area] (areas), where estimate ± 1.96 SE "
            f"went beyond: {', '.join(cut)}"
        )
    ni = res.counts.sum(axis=1)
    flat = [
        f"{res.names[k]} ({res.users[k]:.3f} from {int(ni[k])} points)"
        for k in range(len(res.codes))
        if res.few_points(k)
    ]
    if flat:
        out.append(
            "not credible: a user's accuracy of exactly 0 or 1 from few points has a 95 % interval of width 0 "
            f"(the Wald interval's weakness), so its ± 0.000 and its class's area interval understate the "
            f"uncertainty: {', '.join(flat)}; label more points of these classes"
        )
    return out
