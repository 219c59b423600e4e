"""Guided review: the cells the model is least sure of, and a tile-by-tile walk of the whole map.

- ``confidence``: the lowest values of ``<run>_confidence.tif`` (the top class's probability);
- ``margin``: the smallest difference between the two highest class probabilities, from
  ``<run>_probabilities.tif``.
Both read the raster block by block and keep only the ``limit`` best candidates, so memory stays
bounded on any raster size. Ties are broken by row, then column (a stable, reproducible order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EditError
from .model import Window
from .raster import open_raster

ROWS_PER_BLOCK = 256


@dataclass(frozen=True)
class DoubtfulCell:
    row: int
    col: int
    score: float  # confidence, or top-two margin, on 0..1


def _scaled(band, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values on 0..1 and the valid mask (uint8 with scale 1/254 and nodata 255, or float with NaN)."""
    nodata = band.GetNoDataValue()
    if arr.dtype.kind == "f":
        valid = np.isfinite(arr)
        return arr.astype(np.float64), valid
    valid = arr != (255 if nodata is None else int(nodata))
    scale = band.GetScale() or 1.0
    return arr.astype(np.float64) * scale + (band.GetOffset() or 0.0), valid


def doubtful_cells(path: Path, mode: str = "confidence", limit: int = 200) -> list[DoubtfulCell]:
    """The ``limit`` cells with the lowest confidence (or top-two margin), lowest first."""
    if mode not in ("confidence", "margin"):
        raise EditError(f"unknown review order {mode!r} (confidence or margin)")
    ds = open_raster(path)
    if mode == "margin" and ds.RasterCount < 2:
        raise EditError(f"{Path(path).name} has one band: the margin needs the probabilities raster")
    best_score = np.empty(0)
    best_row = np.empty(0, np.int64)
    best_col = np.empty(0, np.int64)
    w, h = ds.RasterXSize, ds.RasterYSize
    for y in range(0, h, ROWS_PER_BLOCK):
        bh = min(ROWS_PER_BLOCK, h - y)
        if mode == "confidence":
            band = ds.GetRasterBand(1)
            score, valid = _scaled(band, band.ReadAsArray(0, y, w, bh))
        else:
            probs, valid = [], None
            for b in range(1, ds.RasterCount + 1):
                band = ds.GetRasterBand(b)
                p, v = _scaled(band, band.ReadAsArray(0, y, w, bh))
                probs.append(p)
                valid = v if valid is None else valid & v
            stack = np.stack(probs)
            top2 = np.partition(stack, -2, axis=0)[-2:]
            score = top2[1] - top2[0]
        rr, cc = np.nonzero(valid)
        s = score[rr, cc]
        best_score = np.concatenate([best_score, s])
        best_row = np.concatenate([best_row, rr + y])
        best_col = np.concatenate([best_col, cc])
        if best_score.size > limit:
            order = np.lexsort((best_col, best_row, best_score))[:limit]
            best_score, best_row, best_col = best_score[order], best_row[order], best_col[order]
    order = np.lexsort((best_col, best_row, best_score))[:limit]
    return [DoubtfulCell(int(best_row[i]), int(best_col[i]), float(best_score[i])) for i in order]


def top_classes(probabilities_path: Path, row: int, col: int, n: int = 3) -> list[tuple[int, float]]:
    """[(class index, probability)] of the ``n`` most likely classes at one cell, highest first."""
    ds = open_raster(probabilities_path)
    values = []
    for b in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(b)
        p, valid = _scaled(band, band.ReadAsArray(col, row, 1, 1))
        values.append(float(p[0, 0]) if valid[0, 0] else float("nan"))
    arr = np.array(values)
    if not np.isfinite(arr).any():
        return []
    order = np.argsort(-np.nan_to_num(arr, nan=-1.0), kind="stable")[:n]
    return [(int(i), float(arr[i])) for i in order]


def tiles(width: int, height: int, size: int = 64) -> list[Window]:
    """Windows of ``size`` x ``size`` cells covering the raster, row by row, left to right."""
    size = max(1, int(size))
    return [
        Window(x, y, min(size, width - x), min(size, height - y))
        for y in range(0, height, size)
        for x in range(0, width, size)
    ]
