"""Sample points on a classified map (stratified, simple random, systematic), one strip of rows at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..progress import ACCURACY, Progress
from .allocation import DesignSpec, Plan, plan
from .errors import AssessmentError
from .maps import MapInfo, _open, iter_blocks


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
                progress(Progress(min(1.0, (y0 + arr.shape[0]) / h), ACCURACY, "drawing sample points"))
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
