"""Sample size (Olofsson et al. 2014, eq. 13) and its allocation to a map's classes: the spec and the plan."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from .errors import AssessmentError
from .maps import MapInfo

METHODS = ("stratified", "simple", "systematic")
ALLOCATIONS = ("proportional", "equal", "manual")
DEFAULT_EXPECTED_UA = 0.85


@dataclass
class DesignSpec:
    """What the analyst chose. Dicts are keyed by class code."""

    method: str = "stratified"
    target_se: float = 0.01
    expected_ua: dict = field(default_factory=dict)  # code -> expected user's accuracy (default 0.85)
    allocation: str = "proportional"
    min_per_class: int = 30
    manual: dict = field(default_factory=dict)  # code -> points (allocation "manual")
    sample_size: Optional[int] = None  # None: from target_se and expected_ua
    seed: int = 42
    min_distance_m: float = 0.0

    def validate(self) -> None:
        if self.method not in METHODS:
            raise AssessmentError(f"unknown sampling design {self.method!r}: use one of {', '.join(METHODS)}")
        if self.allocation not in ALLOCATIONS:
            raise AssessmentError(f"unknown allocation {self.allocation!r}: use one of {', '.join(ALLOCATIONS)}")
        if self.sample_size is None and not (0 < self.target_se < 0.5):
            raise AssessmentError(f"target standard error {self.target_se} must be between 0 and 0.5 (e.g. 0.01)")
        for code, u in self.expected_ua.items():
            if not (0.0 < float(u) <= 1.0):
                raise AssessmentError(f"expected user's accuracy {u} of class {code} must be in (0, 1]")
        if self.min_per_class < 2:
            raise AssessmentError("the minimum per class must be at least 2 (a standard error needs two points)")
        if self.sample_size is not None and self.sample_size < 1:
            raise AssessmentError("the sample size must be at least 1")
        if self.min_distance_m < 0:
            raise AssessmentError("the minimum distance cannot be negative")


@dataclass
class Plan:
    """Sample size and allocation for one map."""

    codes: list
    mapped_pixels: list
    weights: list
    expected_ua: list
    n_from_se: Optional[int]  # the size the target SE asks for (None when given by hand)
    n_total: int
    per_class: list  # points per class (stratified); for simple/systematic the expected count
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_size(weights, expected_ua, target_se: float) -> int:
    """Olofsson et al. (2014) eq. 13: n = (sum W_i S_i / S(O))^2, S_i = sqrt(U_i (1 - U_i)), rounded up."""
    w = np.asarray(weights, float)
    u = np.asarray(expected_ua, float)
    if w.shape != u.shape:
        raise AssessmentError("one expected user's accuracy per class is needed")
    s = np.sqrt(u * (1.0 - u))
    n = (float(np.sum(w * s)) / float(target_se)) ** 2
    return max(1, int(math.ceil(n - 1e-9)))


def _round_to_total(x: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder rounding of non-negative x to integers summing to total."""
    fl = np.floor(x).astype(np.int64)
    short = int(total - fl.sum())
    if short > 0:
        order = np.argsort(-(x - fl), kind="stable")
        fl[order[:short]] += 1
    return fl


def allocate(n: int, counts, method: str = "proportional", min_per_class: int = 30, manual=None):
    """Points per stratum. Returns (array of ints, notes). ``counts`` = pixels per stratum."""
    counts = np.asarray(counts, np.int64)
    k = len(counts)
    notes: list = []
    if k == 0:
        raise AssessmentError("the map has no class to sample")
    if method == "manual":
        if manual is None or len(manual) != k:
            raise AssessmentError("manual allocation needs a number of points for every class")
        out = np.asarray([int(v) for v in manual], np.int64)
        if (out < 0).any():
            raise AssessmentError("a class cannot get a negative number of points")
        low = np.flatnonzero(out < np.minimum(min_per_class, counts))
        if low.size:
            notes.append(
                f"{low.size} class(es) get fewer than {min_per_class} points by hand: their user's accuracy "
                "will be imprecise"
            )
    else:
        floor = np.minimum(min_per_class, counts)
        if n < floor.sum():
            notes.append(
                f"sample size raised from {n} to {int(floor.sum())} so that every class gets "
                f"{min_per_class} points (or all its pixels)"
            )
            n = int(floor.sum())
        if method == "equal":
            target = np.full(k, n / k)
        elif method == "proportional":
            target = n * counts / counts.sum()
        else:
            raise AssessmentError(f"unknown allocation {method!r}: use one of {', '.join(ALLOCATIONS)}")
        fixed = np.zeros(k, bool)
        for _ in range(k + 1):  # lift small strata to the floor, share the rest among the others
            free = ~fixed
            rest = n - floor[fixed].sum()
            share = target[free] / target[free].sum() * rest if target[free].sum() > 0 else np.zeros(free.sum())
            alloc = np.where(fixed, floor.astype(float), 0.0)
            alloc[free] = share
            lifted = free & (alloc < floor)
            if not lifted.any():
                break
            fixed |= lifted
        out = _round_to_total(alloc, n)
        out = np.maximum(out, floor)
    over = out > counts
    if over.any():
        notes.append(f"{int(over.sum())} class(es) have fewer pixels than points asked: all their pixels are taken")
        out = np.minimum(out, counts)
    return out, notes


def plan(info: MapInfo, spec: DesignSpec) -> Plan:
    """Sample size from the target SE (or as given) and its allocation to the map's classes."""
    spec.validate()
    codes = info.codes
    counts = np.asarray([info.counts[c] for c in codes], np.int64)
    w = counts / counts.sum()
    ua = np.asarray([float(spec.expected_ua.get(c, DEFAULT_EXPECTED_UA)) for c in codes])
    n_se = sample_size(w, ua, spec.target_se) if spec.sample_size is None else None
    n = int(spec.sample_size) if spec.sample_size is not None else n_se
    notes: list = []
    missing = [info.name(c) for c in sorted(info.names) if c not in info.counts]
    if missing:
        notes.append(f"not in the map, so no stratum and no points: {', '.join(missing)}")
    if spec.method == "stratified":
        manual = [spec.manual.get(c, 0) for c in codes] if spec.allocation == "manual" else None
        if manual is not None:
            short = [info.name(c) for c, m, k in zip(codes, manual, counts) if int(m) < min(2, int(k))]
            if short:
                raise AssessmentError(
                    f"manual allocation gives {', '.join(short)} fewer than 2 points: the analysis needs at least "
                    "two labelled points per class (or all its pixels), so give each class 2 or more"
                )
        per, more = allocate(n, counts, spec.allocation, spec.min_per_class, manual)
        notes += more
        total = int(per.sum())
    else:
        total = min(n, int(counts.sum()))
        per = np.round(total * w).astype(np.int64)
        small = [info.name(c) for c, p in zip(codes, per) if p < 2]
        if small:
            notes.append(
                f"{spec.method} sampling expects fewer than 2 points in {', '.join(small)}: the analysis needs "
                "at least two labelled points per class, so use stratified sampling or a larger sample"
            )
    return Plan(
        codes=[int(c) for c in codes],
        mapped_pixels=[int(v) for v in counts],
        weights=[float(v) for v in w],
        expected_ua=[float(v) for v in ua],
        n_from_se=n_se,
        n_total=total,
        per_class=[int(v) for v in per],
        notes=notes,
    )
