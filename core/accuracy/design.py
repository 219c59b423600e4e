"""Sampling design: sample size, allocation and sample points on a classified map, written to a GeoPackage.

Designs (Olofsson et al. 2014, section 4.1):

- ``stratified`` (default): stratified random sampling, strata = map classes; each stratum's points are a
  simple random sample of its pixels (drawn without replacement, every pixel of a stratum equally likely);
- ``simple``: simple random sampling of all classified pixels;
- ``systematic``: a square grid with a random offset, spacing ``sqrt(classified area / n)``; grid points on
  nodata are dropped (so the realised size is close to, not exactly, n).

Sample size from a target standard error of overall accuracy (Olofsson et al. 2014, eq. 13, after Cochran
1977): ``n = (sum_i W_i S_i / S(O))^2`` with ``S_i = sqrt(U_i (1 - U_i))``, ``W_i`` the mapped area
proportion and ``U_i`` the expected user's accuracy of class i. Allocation of n to the strata: proportional
to area, equal, or given by hand; every stratum gets at least ``min_per_class`` (the rest is shared
proportionally), never more than its pixels.

Rasters of any size: pixels are counted in one pass, each stratum's random ranks are drawn, and a second pass
turns ranks into pixels, so memory is bounded by one strip of rows. A minimum distance between points is
honoured by drawing spare candidates and accepting them in random order (rare strata first); this departs
slightly from equal inclusion probabilities and is reported as a note.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import AssessmentError
from .maps import MapInfo, _open, confidence_at, iter_blocks, read_map

METHODS = ("stratified", "simple", "systematic")
ALLOCATIONS = ("proportional", "equal", "manual")
DEFAULT_EXPECTED_UA = 0.85
LAYER = "sample_points"
DESIGN_TABLE = "sample_design"
STATUS_LABELLED = "labelled"
STATUS_UNSURE = "unsure"
STATUS_SKIPPED = "skipped"
SCHEMA_VERSION = 1


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


# --- drawing -----------------------------------------------------------------------------------------


def draw_ranks(counts: dict, wanted: dict, rng: np.random.Generator) -> dict:
    """For each key, ``wanted[key]`` distinct random ranks in ``[0, counts[key])``, in random order."""
    out = {}
    for key, n in wanted.items():
        n = int(min(n, counts[key]))
        out[key] = rng.choice(int(counts[key]), size=n, replace=False) if n > 0 else np.empty(0, np.int64)
    return out


def locate(blocks, ranks: dict, nodata) -> dict:
    """Ranks (per class code, or the key ``"all"`` for every classified pixel) -> (rows, cols), same order.

    ``blocks`` yields ``(first_row, 2-D array)`` strips in row order; the k-th pixel of a class counts in
    row-major order over the whole raster.
    """
    todo = {}
    for key, r in ranks.items():
        order = np.argsort(r, kind="stable")
        todo[key] = {"sorted": np.asarray(r)[order], "order": order, "seen": 0, "pos": 0, "rows": [], "cols": []}
    for y0, arr in blocks:
        w = arr.shape[1]
        flat = arr.ravel()
        valid = None
        for key, t in todo.items():
            if t["pos"] >= len(t["sorted"]):
                continue
            if key == "all":
                if valid is None:
                    valid = flat != nodata if nodata is not None else np.ones(flat.shape, bool)
                idx = np.flatnonzero(valid)
            else:
                idx = np.flatnonzero(flat == key)
            hi = t["seen"] + idx.size
            end = int(np.searchsorted(t["sorted"], hi, side="left"))
            if end > t["pos"]:
                pick = idx[t["sorted"][t["pos"] : end] - t["seen"]]
                t["rows"].append(y0 + pick // w)
                t["cols"].append(pick % w)
                t["pos"] = end
            t["seen"] = hi
    out = {}
    for key, t in todo.items():
        rows = np.concatenate(t["rows"]) if t["rows"] else np.empty(0, np.int64)
        cols = np.concatenate(t["cols"]) if t["cols"] else np.empty(0, np.int64)
        back = np.empty_like(t["order"])
        back[t["order"]] = np.arange(len(t["order"]))
        out[key] = (rows[back], cols[back]) if len(back) else (rows, cols)
    return out


def draw_stratified_array(arr: np.ndarray, nodata, per_class: dict, rng: np.random.Generator):
    """Stratified random sample of an in-memory class array: {code: (rows, cols)} (used by tests too)."""
    counts = {c: int(np.count_nonzero(arr == c)) for c in per_class}
    return locate([(0, arr)], draw_ranks(counts, per_class, rng), nodata)


def _thin(xy_by_key: dict, wanted: dict, min_dist: float, keys_in_order: list):
    """Accept candidates in their (random) order if at least ``min_dist`` from every accepted point."""
    cell = min_dist
    grid: dict = {}
    keep = {}
    d2 = min_dist * min_dist
    for key in keys_in_order:
        xs, ys = xy_by_key[key]
        chosen = []
        for i in range(len(xs)):
            if len(chosen) >= wanted[key]:
                break
            gx, gy = int(math.floor(xs[i] / cell)), int(math.floor(ys[i] / cell))
            ok = True
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for px, py in grid.get((gx + dx, gy + dy), ()):
                        if (px - xs[i]) ** 2 + (py - ys[i]) ** 2 < d2:
                            ok = False
                            break
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                chosen.append(i)
                grid.setdefault((gx, gy), []).append((xs[i], ys[i]))
        keep[key] = np.asarray(chosen, np.int64)
    return keep


@dataclass
class Sample:
    rows: np.ndarray
    cols: np.ndarray
    x: np.ndarray
    y: np.ndarray
    codes: np.ndarray  # map class code at each point
    plan: Plan
    notes: list


def _geographic_scale(info: MapInfo) -> float:
    """Metres per map unit (approximate for a map in degrees)."""
    return math.sqrt(info.pixel_area_m2 / abs(info.geotransform[1] * info.geotransform[5]))


def draw(info: MapInfo, spec: DesignSpec, the_plan: Optional[Plan] = None, progress=None, is_cancelled=None):
    """Draw the sample points on the map (a second pass over its pixels)."""
    the_plan = the_plan or plan(info, spec)
    rng = np.random.default_rng(spec.seed)
    notes = list(the_plan.notes)
    ds = _open(info.path)
    h = info.height

    def blocks():
        for y0, arr in iter_blocks(ds):
            if is_cancelled is not None and is_cancelled():
                raise AssessmentError("cancelled")
            if progress is not None:
                progress(min(1.0, (y0 + arr.shape[0]) / h), "drawing sample points")
            yield y0, arr

    unit_m = _geographic_scale(info)
    if spec.method == "systematic":
        rows, cols, x, y = _systematic(info, the_plan.n_total, rng, blocks)
        codes = _codes_at(ds, rows, cols)
        ok = codes != info.nodata if info.nodata is not None else np.ones(len(codes), bool)
        dropped = int((~ok).sum())
        if dropped:
            notes.append(f"{dropped} grid point(s) fell on nodata and were left out")
        rows, cols, x, y, codes = rows[ok], cols[ok], x[ok], y[ok], codes[ok]
        if spec.min_distance_m > 0:
            notes.append("minimum distance ignored: the systematic grid spacing sets the distance")
        return Sample(rows, cols, x, y, codes, the_plan, notes)

    if spec.method == "stratified":
        wanted = {c: n for c, n in zip(the_plan.codes, the_plan.per_class)}
        counts = {c: info.counts[c] for c in the_plan.codes}
    else:
        wanted = {"all": the_plan.n_total}
        counts = {"all": info.total_pixels}
    spare = {k: (min(counts[k], max(4 * n, n + 50)) if spec.min_distance_m > 0 else n) for k, n in wanted.items()}
    located = locate(blocks(), draw_ranks(counts, spare, rng), info.nodata)
    if spec.min_distance_m > 0:
        xy = {k: info.pixel_to_xy(*located[k]) for k in located}
        order = sorted(located, key=lambda k: counts[k])
        dist_units = spec.min_distance_m / unit_m
        keep = _thin(xy, wanted, dist_units, order)
        for k in located:
            r, c = located[k]
            located[k] = (r[keep[k]], c[keep[k]])
            if len(keep[k]) < wanted[k]:
                name = "the map" if k == "all" else info.name(k)
                notes.append(
                    f"only {len(keep[k])} of {wanted[k]} points fit in {name} at {spec.min_distance_m:g} m apart"
                )
        notes.append(
            f"points at least {spec.min_distance_m:g} m apart: spare candidates accepted in random order, "
            "which departs slightly from equal inclusion probabilities"
        )
    rows = np.concatenate([located[k][0] for k in located]) if located else np.empty(0, np.int64)
    cols = np.concatenate([located[k][1] for k in located]) if located else np.empty(0, np.int64)
    if spec.method == "stratified":
        codes = np.concatenate([np.full(len(located[k][0]), k, np.int64) for k in located])
    else:
        codes = _codes_at(ds, rows, cols)
    x, y = info.pixel_to_xy(rows, cols)
    return Sample(rows, cols, x, y, codes, the_plan, notes)


def _codes_at(ds, rows, cols) -> np.ndarray:
    from .maps import values_at

    if len(rows) == 0:
        return np.empty(0, np.int64)
    return values_at(ds.GetDescription(), rows, cols)


def _systematic(info: MapInfo, n: int, rng, blocks):
    """A square grid with a random offset over the map's extent, spacing sqrt(classified area / n)."""
    gt = info.geotransform
    px_w, px_h = abs(gt[1]), abs(gt[5])
    spacing = math.sqrt(info.total_pixels * px_w * px_h / max(n, 1))
    ox, oy = rng.uniform(0.0, spacing, 2)
    width_u, height_u = info.width * px_w, info.height * px_h
    xs = np.arange(ox, width_u, spacing)
    ys = np.arange(oy, height_u, spacing)
    gx, gy = np.meshgrid(xs, ys)
    x = gt[0] + gx.ravel() * np.sign(gt[1])
    y = gt[3] + gy.ravel() * np.sign(gt[5])
    rows, cols = info.xy_to_pixel(x, y)
    inside = (rows >= 0) & (rows < info.height) & (cols >= 0) & (cols < info.width)
    for _ in blocks():  # progress and cancel, as the other designs
        pass
    return rows[inside], cols[inside], x[inside], y[inside]


# --- writing -----------------------------------------------------------------------------------------


def _partial(path: Path) -> Path:
    return path.with_name(f"{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")


def write_sample(path, sample: Sample, info: MapInfo, spec: DesignSpec, overwrite: bool = False) -> Path:
    """The sample as a GeoPackage point layer (+ a table with the design), under a temporary name, renamed."""
    from osgeo import ogr, osr

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        path = path.with_suffix(".gpkg")
    if path.exists() and not overwrite:
        raise AssessmentError(f"{path} already exists: choose another name or allow overwriting")
    if not path.parent.is_dir():
        raise AssessmentError(f"folder {path.parent} does not exist")
    tmp = _partial(path)
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(str(tmp))
    if ds is None:
        raise AssessmentError(f"cannot write {tmp.parent}: is the folder writable?")
    try:
        srs = osr.SpatialReference()
        if info.crs_wkt:
            srs.ImportFromWkt(info.crs_wkt)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        lyr = ds.CreateLayer(LAYER, srs if info.crs_wkt else None, ogr.wkbPoint, ["FID=fid"])
        for name, ftype in (
            ("point_id", ogr.OFTInteger),
            ("stratum", ogr.OFTString),
            ("map_code", ogr.OFTInteger),
            ("map_class", ogr.OFTString),
            ("ref_class", ogr.OFTString),
            ("ref_code", ogr.OFTInteger),
            ("status", ogr.OFTString),
            ("labelled_utc", ogr.OFTString),
            ("model_confidence", ogr.OFTReal),
        ):
            lyr.CreateField(ogr.FieldDefn(name, ftype))
        conf = confidence_at(info.path, sample.rows, sample.cols)  # the model's confidence, when the run has it
        rng = np.random.default_rng(spec.seed + 1)
        order = rng.permutation(len(sample.x))  # labelling order: mixed strata, so no class is seen in a row
        defn = lyr.GetLayerDefn()
        lyr.StartTransaction()
        for pid, i in enumerate(order, start=1):
            f = ogr.Feature(defn)
            code = int(sample.codes[i])
            f.SetField("point_id", pid)
            f.SetField("stratum", info.name(code) if spec.method == "stratified" else "all")
            f.SetField("map_code", code)
            f.SetField("map_class", info.name(code))
            f.SetFieldNull("ref_class")
            f.SetFieldNull("ref_code")
            f.SetField("status", "")
            f.SetFieldNull("labelled_utc")
            if conf is not None and np.isfinite(conf[i]):
                f.SetField("model_confidence", round(float(conf[i]), 4))
            else:
                f.SetFieldNull("model_confidence")
            f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({sample.x[i]!r} {sample.y[i]!r})"))
            lyr.CreateFeature(f)
        lyr.CommitTransaction()
        tab = ds.CreateLayer(DESIGN_TABLE, None, ogr.wkbNone)
        tab.CreateField(ogr.FieldDefn("key", ogr.OFTString))
        tab.CreateField(ogr.FieldDefn("value", ogr.OFTString))
        design = design_record(sample, info, spec)
        for key, value in design.items():
            f = ogr.Feature(tab.GetLayerDefn())
            f.SetField("key", key)
            f.SetField("value", json.dumps(value))
            tab.CreateFeature(f)
        ds.FlushCache()
        ds = None
        os.replace(tmp, path)
    except Exception:
        ds = None
        for p in tmp.parent.glob(tmp.name + "*"):
            p.unlink(missing_ok=True)
        raise
    return path


def design_record(sample: Sample, info: MapInfo, spec: DesignSpec) -> dict:
    """What the analysis needs besides the labels, stored in the GeoPackage's ``sample_design`` table."""
    realised: dict = {}
    for c in sample.codes:
        realised[str(int(c))] = realised.get(str(int(c)), 0) + 1
    return {
        "schema_version": SCHEMA_VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "method": spec.method,
        "spec": {
            k: (v if not isinstance(v, dict) else {str(a): b for a, b in v.items()}) for k, v in asdict(spec).items()
        },
        "plan": sample.plan.to_dict(),
        "points": int(len(sample.x)),
        "points_per_map_class": realised,
        "notes": sample.notes,
        "map": info.to_dict(),
    }


def read_design(path) -> dict:
    """The ``sample_design`` table of a sample GeoPackage ({} when there is none)."""
    from osgeo import ogr

    ds = ogr.Open(str(path))
    if ds is None:
        raise AssessmentError(f"cannot open {path} as a GeoPackage")
    tab = ds.GetLayerByName(DESIGN_TABLE)
    out: dict = {}
    if tab is None:
        return out
    for f in tab:
        try:
            out[f.GetField("key")] = json.loads(f.GetField("value"))
        except (TypeError, ValueError):
            continue
    return out


def create_sampling_design(
    map_path, out_path, spec: DesignSpec, overwrite: bool = False, progress=None, is_cancelled=None
) -> dict:
    """Read the map, plan, draw and write. Returns a summary dict (path, points, plan, notes)."""
    spec.validate()
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise AssessmentError(f"{out_path} already exists: choose another name or allow overwriting")

    def sub(lo, hi):
        return (lambda f, m: progress(lo + (hi - lo) * f, m)) if progress is not None else None

    info = read_map(map_path, sub(0.0, 0.5), is_cancelled)
    the_plan = plan(info, spec)
    sample = draw(info, spec, the_plan, sub(0.5, 0.95), is_cancelled)
    if len(sample.x) == 0:
        raise AssessmentError("no sample point could be placed on the map's classified pixels")
    path = write_sample(out_path, sample, info, spec, overwrite)
    if progress is not None:
        progress(1.0, "sample written")
    return {
        "path": str(path),
        "points": int(len(sample.x)),
        "plan": the_plan.to_dict(),
        "notes": sample.notes,
        "map": info.path,
        "names": {str(c): info.name(c) for c in the_plan.codes},
    }
