"""The one validity rule: which source pixels hold data.

A pixel is valid unless any of these says otherwise:
- the alpha band is 0 (a band flagged as alpha, or the alpha of the warped VRT);
- the internal (per-dataset) mask band is 0, when the source has one and no alpha;
- every model band that declares a nodata value holds it (NaN nodata matches NaN);
- any model band is not finite (float data).

The reader (core/strips.py) applies it to every strip; the percentile stretch's sample
(core/stages/prepare.py) applies it to its decimated read of the source. Per output cell the
reader then needs "any valid pixel" (is the window worth classifying, is the cell data) and "all
pixels valid" (does the window need filling): :func:`cell_flags`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import numpy as np


def internal_mask_band(ds, band: int) -> Optional[int]:
    """``band`` when the dataset has a per-dataset (internal) mask that is not all-valid and not
    derived from nodata, else None (nodata and alpha are handled by :func:`valid_pixels`)."""
    from osgeo import gdal

    flags = ds.GetRasterBand(band).GetMaskFlags()
    if flags & gdal.GMF_PER_DATASET and not flags & gdal.GMF_ALL_VALID and not flags & gdal.GMF_NODATA:
        return band
    return None


def valid_pixels(
    data: np.ndarray,
    alpha: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
    nodata: Sequence[Optional[float]] = (),
) -> np.ndarray:
    """data (C, ...) model bands; alpha / mask (...) or None; nodata per band (None = undeclared)
    -> bool (...) True where the pixel holds data."""
    valid = np.ones(data.shape[1:], dtype=bool)
    if alpha is not None:
        valid &= alpha > 0
    if mask is not None:
        valid &= mask > 0
    declared = [(i, v) for i, v in enumerate(nodata) if v is not None]
    if declared:
        equal = np.ones(data.shape[1:], dtype=bool)
        for i, v in declared:
            equal &= np.isnan(data[i]) if math.isnan(v) else data[i] == v
        valid &= ~equal
    if data.dtype.kind == "f":
        valid &= np.isfinite(data).all(axis=0)
    return valid


def cell_flags(valid: np.ndarray, stride: int, ncx: int) -> tuple[np.ndarray, np.ndarray]:
    """valid (n, W) for whole cell rows (n a multiple of ``stride``, except at the bottom)
    -> (any valid, all valid), each (ceil(n / stride), ncx), per cell of ``stride`` px.

    Pixels beyond the raster (a partial last cell) count as invalid for "any" and valid for "all".
    """
    s = stride
    n, W = valid.shape
    nr = math.ceil(n / s)
    if n == nr * s and ncx * s == W:
        v = valid.reshape(nr, s, ncx, s)
        return v.any(axis=(1, 3)), v.all(axis=(1, 3))
    for_any = np.zeros((nr * s, ncx * s), dtype=bool)
    for_any[:n, :W] = valid
    for_all = np.ones((nr * s, ncx * s), dtype=bool)
    for_all[:n, :W] = valid
    return for_any.reshape(nr, s, ncx, s).any(axis=(1, 3)), for_all.reshape(nr, s, ncx, s).all(axis=(1, 3))
