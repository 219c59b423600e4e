"""Estimators of Olofsson et al. (2014), section 5, for a sample stratified by map class.

Notation: ``i`` = map class (row, stratum), ``j`` = reference class (column), ``n_ij`` sample counts,
``n_i.`` points labelled in stratum i, ``N_i`` mapped pixels of class i, ``W_i = N_i / N``.

- error matrix in area proportions ``p_ij = W_i n_ij / n_i.`` (eq. 4);
- overall accuracy ``O = sum_j p_jj``, ``V(O) = sum_i W_i^2 U_i (1 - U_i) / (n_i. - 1)`` (eqs. 1, 5);
- user's accuracy ``U_i = n_ii / n_i.`` (= p_ii / p_i.), ``V(U_i) = U_i (1 - U_i) / (n_i. - 1)`` (eqs. 2, 6);
- producer's accuracy ``P_j = p_jj / p_.j`` with the variance of eq. 7 (N^_.j = sum_i N_i n_ij / n_i.);
- area proportion of class j ``p_.j = sum_i p_ij``, ``S(p_.j) = sqrt(sum_i W_i^2 (n_ij/n_i.)(1 - n_ij/n_i.)
  / (n_i. - 1))`` (eqs. 9, 10); area ``A_j = p_.j A`` and its standard error ``A S(p_.j)`` (eqs. 11, 12);
- 95 % confidence intervals ``estimate +/- 1.96 SE`` as in the paper, cut to [0, 1] (accuracies, proportions)
  and [0, total area] (areas), with a note saying which were cut; an accuracy of exactly 0 or 1 from fewer than
  :data:`SMALL_N` points (a Wald interval of width 0) is flagged in the notes;
- F1 per class = 2 U P / (U + P); kappa only on request (see :data:`KAPPA_NOTE`).

For simple random and systematic samples the same formulas give the post-stratified estimator (strata = map
classes with their known mapped areas), as AcATaMa does. Every stratum's variance term carries the finite
population correction ``1 - n_i. / N_i`` (Cochran 1977, eq. 5.7; Stehman 2014): negligible when a few points
are drawn from millions of pixels (the paper's case), it matters when a large share of a small map is sampled
(a stratum sampled whole, a census, has no sampling error); a note says so when it changes an SE by > 1 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import AssessmentError
from .intervals import SMALL_N, fpc_note, interval_notes, stratum_factor

Z95 = 1.96
KAPPA_NOTE = (
    "Kappa is not recommended (Pontius & Millones 2011; Olofsson et al. 2014): its chance correction answers no "
    "question about the map, it is redundant with overall accuracy, and it is not area-weighted by design."
)


@dataclass
class Assessment:
    """The analysis of one labelled sample against one map. Arrays are over ``codes`` (map and reference)."""

    codes: list
    names: list
    colors: list
    mapped_pixels: np.ndarray  # N_i (0 for a class only the reference has)
    pixel_area_m2: float
    counts: np.ndarray  # n_ij, K x K, rows = map, columns = reference
    proportions: np.ndarray  # p_ij
    overall: float
    overall_se: float
    users: np.ndarray
    users_se: np.ndarray
    producers: np.ndarray
    producers_se: np.ndarray
    f1: np.ndarray
    area_prop: np.ndarray  # p_.j
    area_prop_se: np.ndarray
    kappa: Optional[float] = None
    notes: list = field(default_factory=list)
    z: float = Z95
    by_confidence: list = field(default_factory=list)  # see accuracy_by_confidence()
    total_pixels: Optional[float] = None  # the population's size when it is not the mapped pixels' sum
    estimator: str = "olofsson2014"  # or "stehman2014" (strata are not the assessed map's classes)

    @property
    def total_km2(self) -> float:
        total = self.mapped_pixels.sum() if self.total_pixels is None else self.total_pixels
        return float(total) * self.pixel_area_m2 / 1e6

    @property
    def mapped_km2(self) -> np.ndarray:
        return self.mapped_pixels * self.pixel_area_m2 / 1e6

    @property
    def adjusted_km2(self) -> np.ndarray:
        return self.area_prop * self.total_km2

    @property
    def adjusted_km2_se(self) -> np.ndarray:
        return self.area_prop_se * self.total_km2

    @property
    def n_labelled(self) -> int:
        return int(self.counts.sum())

    def ci(self, est, se, upper: float = 1.0):
        """``est -/+ z se`` cut to [0, upper] (1 for accuracies and proportions, the total area for areas)."""
        est, se = np.asarray(est, float), np.asarray(se, float)
        return np.clip(est - self.z * se, 0.0, upper), np.clip(est + self.z * se, 0.0, upper)

    def few_points(self, k: int) -> bool:
        """A user's accuracy of exactly 0 or 1 from fewer than SMALL_N points (its ± 0 is not credible)."""
        ni = self.counts[k].sum()
        return bool(0 < ni < SMALL_N and self.users[k] in (0.0, 1.0) and ni < self.mapped_pixels[k])

    def per_class(self) -> list:
        """One dict per class: everything the tables show."""
        rows = []
        total = self.total_km2
        for k, code in enumerate(self.codes):
            ua_lo, ua_hi = self.ci(self.users[k], self.users_se[k])
            pa_lo, pa_hi = self.ci(self.producers[k], self.producers_se[k])
            a_lo, a_hi = self.ci(self.adjusted_km2[k], self.adjusted_km2_se[k], total)
            rows.append(
                {
                    "code": int(code),
                    "name": self.names[k],
                    "color": self.colors[k],
                    "mapped_pixels": int(self.mapped_pixels[k]),
                    "mapped_km2": _num(self.mapped_km2[k]),
                    "mapped_pct": _num(100 * self.mapped_km2[k] / total),
                    "n_map": int(self.counts[k].sum()),
                    "n_reference": int(self.counts[:, k].sum()),
                    "users_accuracy": _num(self.users[k]),
                    "users_se": _num(self.users_se[k]),
                    "users_ci95": [_num(ua_lo), _num(ua_hi)],
                    "users_few_points": bool(self.few_points(k)),
                    "producers_accuracy": _num(self.producers[k]),
                    "producers_se": _num(self.producers_se[k]),
                    "producers_ci95": [_num(pa_lo), _num(pa_hi)],
                    "f1": _num(self.f1[k]),
                    "adjusted_km2": _num(self.adjusted_km2[k]),
                    "adjusted_km2_se": _num(self.adjusted_km2_se[k]),
                    "adjusted_km2_ci95": [_num(a_lo), _num(a_hi)],
                    "adjusted_pct": _num(100 * self.area_prop[k]),
                    "adjusted_pct_se": _num(100 * self.area_prop_se[k]),
                }
            )
        return rows

    def to_dict(self) -> dict:
        lo, hi = self.ci(self.overall, self.overall_se)
        out = {
            "overall_accuracy": _num(self.overall),
            "overall_se": _num(self.overall_se),
            "overall_ci95": [_num(lo), _num(hi)],
            "n_labelled": self.n_labelled,
            "total_km2": _num(self.total_km2),
            "pixel_area_m2": self.pixel_area_m2,
            "z": self.z,
            "estimator": self.estimator,
            "classes": self.per_class(),
            "error_matrix": {
                "rows": "map class",
                "columns": "reference class",
                "codes": [int(c) for c in self.codes],
                "names": list(self.names),
                "counts": self.counts.astype(int).tolist(),
                "proportions": [[_num(v) for v in row] for row in self.proportions],
            },
            "notes": list(self.notes),
        }
        if self.by_confidence:
            out["by_confidence"] = self.by_confidence
        if self.kappa is not None:
            out["kappa"] = _num(self.kappa)
            out["kappa_note"] = KAPPA_NOTE
        return out


def _num(v) -> Optional[float]:
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def error_matrix(map_codes, ref_codes, codes) -> np.ndarray:
    """Sample counts n_ij (rows = map class, columns = reference class) over ``codes``."""
    index = {int(c): k for k, c in enumerate(codes)}
    k = len(codes)
    m = np.asarray([index[int(c)] for c in map_codes], np.int64)
    r = np.asarray([index[int(c)] for c in ref_codes], np.int64)
    return np.bincount(m * k + r, minlength=k * k).reshape(k, k).astype(float)


def estimate_from_counts(
    counts,
    mapped_pixels,
    pixel_area_m2: float = 1.0,
    codes=None,
    names=None,
    colors=None,
    kappa: bool = False,
    notes=None,
    z: float = Z95,
) -> Assessment:
    """Olofsson et al. (2014) estimates from an error matrix of counts and the mapped pixels per class."""
    n = np.asarray(counts, float)
    N = np.asarray(mapped_pixels, float)
    k = n.shape[0]
    codes = list(range(k)) if codes is None else [int(c) for c in codes]
    names = [f"class {c}" for c in codes] if names is None else list(names)
    colors = ["#808080"] * k if colors is None else list(colors)
    if n.shape != (k, k) or N.shape != (k,):
        raise AssessmentError("the error matrix must be square with one mapped area per class")
    ni = n.sum(axis=1)
    mapped = N > 0
    for i in np.flatnonzero(mapped):
        if ni[i] == 0:
            raise AssessmentError(
                f"no labelled point in stratum {names[i]!r} ({int(N[i])} px mapped): every mapped class needs at "
                "least two labelled points (label more, or draw a sample with that class)"
            )
        if ni[i] < 2 and ni[i] < N[i]:  # one point of a one-pixel stratum is a census: no SE needed
            raise AssessmentError(
                f"stratum {names[i]!r} has only {int(ni[i])} labelled point: at least two per class are needed "
                "for a standard error; label more points of that class"
            )
    for i in np.flatnonzero(~mapped):
        if ni[i] > 0:
            raise AssessmentError(
                f"{int(ni[i])} point(s) have map class {names[i]!r}, which has no pixel in the map: "
                "the sample does not belong to this map"
            )
    W = N / N.sum()
    g = stratum_factor(ni, N)  # (1 - n_i/N_i) / (n_i - 1): the FPC over the degrees of freedom
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(ni[:, None] > 0, n / ni[:, None], 0.0)  # n_ij / n_i.
        p = W[:, None] * frac
        U = np.where(mapped, np.diag(frac), np.nan)
        var_u = U * (1 - U) * g
        overall = float(np.trace(p))
        var_o = float(np.nansum(W**2 * U * (1 - U) * g))
        p_col = p.sum(axis=0)
        var_p_col = np.nansum((W[:, None] ** 2) * frac * (1 - frac) * g[:, None], axis=0)
        P = np.where(p_col > 0, np.diag(p) / p_col, np.nan)
        # eq. 7: N^_.j = sum_i N_i n_ij / n_i.
        N_col = (N[:, None] * frac).sum(axis=0)
        var_pa = np.full(k, np.nan)
        for j in range(k):
            if p_col[j] <= 0:
                continue
            t1 = N[j] ** 2 * (1 - P[j]) ** 2 * U[j] * (1 - U[j]) * g[j] if mapped[j] else 0.0
            others = [i for i in range(k) if i != j and mapped[i]]
            t2 = P[j] ** 2 * sum(N[i] ** 2 * frac[i, j] * (1 - frac[i, j]) * g[i] for i in others)
            var_pa[j] = (t1 + t2) / N_col[j] ** 2
        F1 = np.where((U + P) > 0, 2 * U * P / (U + P), np.nan)
    notes = list(notes or []) + fpc_note(ni, N)
    kap = None
    if kappa:
        pe = float(np.sum(p.sum(axis=1) * p_col))
        kap = (overall - pe) / (1 - pe) if pe < 1 else float("nan")
    res = Assessment(
        codes=codes,
        names=names,
        colors=colors,
        mapped_pixels=N,
        pixel_area_m2=float(pixel_area_m2),
        counts=n,
        proportions=p,
        overall=overall,
        overall_se=math.sqrt(var_o),
        users=U,
        users_se=np.sqrt(var_u),
        producers=P,
        producers_se=np.sqrt(var_pa),
        f1=F1,
        area_prop=p_col,
        area_prop_se=np.sqrt(var_p_col),
        kappa=kap,
        notes=notes,
        z=z,
    )
    res.notes += interval_notes(res)
    return res


def estimate(map_codes, ref_codes, mapped_pixels: dict, pixel_area_m2: float, names=None, colors=None, **kw):
    """Estimates from labelled points: map class and reference class per point, mapped pixels per code.

    ``names`` / ``colors``: dicts code -> text. Classes are every mapped code plus every reference code.
    """
    map_codes = np.asarray(map_codes, np.int64)
    ref_codes = np.asarray(ref_codes, np.int64)
    names = names or {}
    colors = colors or {}
    check_codes(map_codes, ref_codes, mapped_pixels, names)
    codes = sorted({int(c) for c, v in mapped_pixels.items() if v > 0} | {int(c) for c in ref_codes})
    counts = error_matrix(map_codes, ref_codes, codes)
    N = [float(mapped_pixels.get(c, 0)) for c in codes]
    return estimate_from_counts(
        counts,
        N,
        pixel_area_m2,
        codes,
        [names.get(c, f"class {c}") for c in codes],
        [colors.get(c, "#808080") for c in codes],
        **kw,
    )


def check_codes(map_codes, ref_codes, mapped_pixels: dict, names: dict) -> None:
    """One readable refusal for a map code the map has no pixel of (a sample of another map) and, when the
    map's classes are known (``names``), for a reference code that is none of them."""
    mapped = {int(c) for c, v in mapped_pixels.items() if v > 0}
    stray = sorted({int(c) for c in map_codes} - mapped)
    if stray:
        n = int(np.isin(map_codes, stray).sum())
        raise AssessmentError(
            f"{n} point(s) have map code(s) {', '.join(map(str, stray))}, of which the map has no pixel: the sample "
            "or reference belongs to another map (pick the map it was drawn on)"
        )
    outside = sorted({int(c) for c in ref_codes} - set(names)) if names else []
    if outside:
        known = ", ".join(f"{names[c]} = {c}" for c in sorted(names))
        raise AssessmentError(
            f"reference code(s) {', '.join(map(str, outside))} are not classes of the map ({known}): correct those "
            "labels or map them to a class"
        )


CONFIDENCE_BINS = (0.0, 0.5, 0.7, 0.9, 1.0)


def accuracy_by_confidence(map_codes, ref_codes, confidence, mapped_pixels: dict, bins=CONFIDENCE_BINS, z=Z95):
    """Is the model's confidence honest? Estimated map accuracy among the pixels whose confidence is in a bin.

    Each labelled point of stratum h (map class) stands for ``N_h / n_h`` pixels, so the accuracy of a bin is the
    stratified ratio estimator ``R = sum_h N_h mean_h(correct * in_bin) / sum_h N_h mean_h(in_bin)`` with its
    linearised variance ``V(R) = sum_h N_h^2 s_h^2(d) / n_h / X^2``, ``d = correct * in_bin - R in_bin``
    (Cochran 1977, 6.11; no finite population correction, as elsewhere). Also the estimated share of the map in
    the bin and its mean confidence. Points without a confidence count in n_h but in no bin.
    """
    m = np.asarray(map_codes, np.int64)
    r = np.asarray(ref_codes, np.int64)
    c = np.asarray(confidence, float)
    correct = (m == r).astype(float)
    strata = [h for h in sorted(set(m.tolist())) if mapped_pixels.get(h, 0) > 0]
    N = float(sum(v for v in mapped_pixels.values() if v > 0))
    out = []
    for k in range(len(bins) - 1):
        lo, hi = float(bins[k]), float(bins[k + 1])
        last = k == len(bins) - 2
        x = np.isfinite(c) & (c >= lo) & ((c <= hi) if last else (c < hi))
        x = x.astype(float)
        y = x * correct
        cx = np.where(x > 0, c, 0.0)
        X = Y = CX = 0.0
        for h in strata:
            sel = m == h
            Nh = float(mapped_pixels[h])
            X += Nh * x[sel].mean()
            Y += Nh * y[sel].mean()
            CX += Nh * cx[sel].mean()
        n_bin = int(x.sum())
        row = {"bin": [lo, hi], "n": n_bin, "area_share": X / N if N else None}
        if X <= 0 or n_bin == 0:
            row.update(mean_confidence=None, accuracy=None, accuracy_se=None, accuracy_ci95=[None, None])
            out.append(row)
            continue
        R = Y / X
        var = 0.0
        for h in strata:
            sel = m == h
            nh = int(sel.sum())
            if nh > 1:
                d = y[sel] - R * x[sel]
                var += float(mapped_pixels[h]) ** 2 * d.var(ddof=1) / nh
        se = math.sqrt(var) / X
        row.update(
            mean_confidence=CX / X,
            accuracy=R,
            accuracy_se=se,
            accuracy_ci95=[R - z * se, R + z * se],
        )
        out.append(row)
    return out


def estimate_stratified(
    strata,
    map_codes,
    ref_codes,
    stratum_sizes: dict,
    mapped_pixels: dict,
    pixel_area_m2: float,
    names=None,
    colors=None,
    kappa: bool = False,
    notes=None,
    z: float = Z95,
) -> Assessment:
    """Stehman (2014): stratified random sampling when the strata are not the assessed map's classes.

    ``strata``: the stratum of each point (e.g. the class of the map the sample was drawn on), ``stratum_sizes``
    its pixels; ``map_codes``: the class of the assessed map at each point (e.g. a corrected map). Every
    quantity is a total ``sum_h N_h ybar_h`` (area proportions, overall accuracy, error-matrix cells) or a ratio
    of two (user's and producer's accuracy), with ``V = sum_h N_h^2 (1 - n_h/N_h) s_h^2 / n_h`` (eq. 25) and the
    linearised ratio variance (eq. 28). The error matrix's row totals are estimated from the sample here, not
    the known mapped proportions. When the strata are the map classes this gives Olofsson et al.'s estimates.
    """
    h_arr = np.asarray(strata, np.int64)
    m = np.asarray(map_codes, np.int64)
    r = np.asarray(ref_codes, np.int64)
    names = names or {}
    colors = colors or {}
    hs = sorted(h for h, v in stratum_sizes.items() if v > 0)
    for h in hs:
        n_h = int((h_arr == h).sum())
        if n_h < 2 and n_h != stratum_sizes[h]:
            what = "no labelled point" if n_h == 0 else "only 1 labelled point"
            raise AssessmentError(
                f"stratum {names.get(h, f'class {h}')!r} has {what}: at least two per stratum are needed for a "
                "standard error; label more points of that stratum"
            )
    unknown = sorted(set(h_arr.tolist()) - set(hs))
    if unknown:
        raise AssessmentError(f"points in stratum/strata {unknown} that the design does not know: wrong sample?")
    N = float(sum(stratum_sizes[h] for h in hs))
    codes = sorted({int(c) for c, v in mapped_pixels.items() if v > 0} | set(m.tolist()) | set(r.tolist()))
    k = len(codes)
    groups = []
    for h in hs:
        sel = h_arr == h
        groups.append((float(stratum_sizes[h]), sel, int(sel.sum())))

    def total(y):
        return sum(Nh * y[sel].mean() for Nh, sel, _ in groups)

    def var_total(y):
        v = 0.0
        for Nh, sel, n in groups:
            if n > 1:
                v += Nh**2 * (1 - n / Nh) * y[sel].var(ddof=1) / n
        return v

    def ratio(y, x):
        Y, X = total(y), total(x)
        if X <= 0:
            return float("nan"), float("nan")
        R = Y / X
        v = 0.0
        for Nh, sel, n in groups:
            if n > 1:
                d = y[sel] - R * x[sel]
                v += Nh**2 * (1 - n / Nh) * d.var(ddof=1) / n
        return R, math.sqrt(v) / X

    p = np.zeros((k, k))
    counts = np.zeros((k, k))
    for i, ci in enumerate(codes):
        for j, cj in enumerate(codes):
            y = ((m == ci) & (r == cj)).astype(float)
            counts[i, j] = y.sum()
            p[i, j] = total(y) / N
    agree = (m == r).astype(float)
    users = np.full(k, np.nan)
    users_se = np.full(k, np.nan)
    prods = np.full(k, np.nan)
    prods_se = np.full(k, np.nan)
    area_prop = np.zeros(k)
    area_se = np.zeros(k)
    for j, c in enumerate(codes):
        hit = ((m == c) & (r == c)).astype(float)
        users[j], users_se[j] = ratio(hit, (m == c).astype(float))
        prods[j], prods_se[j] = ratio(hit, (r == c).astype(float))
        yr = (r == c).astype(float)
        area_prop[j] = total(yr) / N
        area_se[j] = math.sqrt(var_total(yr)) / N
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where((users + prods) > 0, 2 * users * prods / (users + prods), np.nan)
    overall = total(agree) / N
    kap = None
    if kappa:
        pe = float(np.sum(p.sum(axis=1) * p.sum(axis=0)))
        kap = (overall - pe) / (1 - pe) if pe < 1 else float("nan")
    res = Assessment(
        codes=codes,
        names=[names.get(c, f"class {c}") for c in codes],
        colors=[colors.get(c, "#808080") for c in codes],
        mapped_pixels=np.asarray([float(mapped_pixels.get(c, 0)) for c in codes]),
        pixel_area_m2=float(pixel_area_m2),
        counts=counts,
        proportions=p,
        overall=overall,
        overall_se=math.sqrt(var_total(agree)) / N,
        users=users,
        users_se=users_se,
        producers=prods,
        producers_se=prods_se,
        f1=f1,
        area_prop=area_prop,
        area_prop_se=area_se,
        kappa=kap,
        notes=list(notes or []),
        z=z,
        total_pixels=N,
        estimator="stehman2014",
    )
    res.notes += interval_notes(res)
    return res
