"""Out-of-distribution warning: do the prepared windows look like what the model was trained on?

The windows stage hands every batch of prepared windows (0-255, as the model sees them) to
:class:`WindowStats` (a subsample of pixels: cheap). At the end :func:`assess` compares them with the
training windows (models/ood_reference.json, written by ``python -m
eurosat_landcover.models.ood_reference`` over the TRAIN split) and with the run's geometry:

- colours: windows whose per-band mean or standard deviation lies far outside the training windows'
  0.5-99.5 % range (``RANGE_MARGIN``; a wrong radiometry, another sensor...);
- bright white windows (cloud or snow: at least a quarter of their pixels bright and colourless);
- nodata: the share of the map's cells with no valid pixel;
- pixel size: the source's pixels far from the model's (resampled more than 2x either way).

Each fires above its threshold; the summary gets ``out_of_distribution`` (figures, reasons) and, when
anything fired, one warning line that says what to do. No Qt, no QGIS.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..models.ood_reference import SUBSAMPLE, WHITE_WINDOW, load_reference, window_stats

UNLIKE_SHARE = 0.25  # windows with unlike colours
WHITE_SHARE = 0.10  # bright white windows (the training split has ~1.5 %)
NODATA_SHARE = 0.5  # cells with no valid pixel
GSD_RATIO = 2.0
# a window's band mean or std is "far" from the training windows' when outside their 0.5-99.5 % range
# widened by half its width on each side (Sentinel-2 L2A, darker than the L1C training data, stays inside)
RANGE_MARGIN = 0.5  # source pixels more than 2x finer or coarser than the model's


def _widened(ranges) -> np.ndarray:
    """(C, 2) training ranges widened by RANGE_MARGIN of their width on each side: "far from" them."""
    r = np.asarray(ranges, dtype=np.float64)
    pad = RANGE_MARGIN * (r[:, 1] - r[:, 0])
    return np.stack([r[:, 0] - pad, r[:, 1] + pad], axis=1)


class WindowStats:
    """Per-window statistics of the windows classified in a run (core/stages/run_windows.py)."""

    def __init__(self):
        self.n = 0
        self.unlike = 0
        self.white = 0
        self._ref: Optional[dict] = None

    def _reference(self) -> dict:
        if self._ref is None:
            self._ref = load_reference()
        return self._ref

    def add(self, windows) -> None:
        """``windows``: torch tensor or array (N, C, p, p) on the 0-255 scale."""
        x = windows[:, :, ::SUBSAMPLE, ::SUBSAMPLE]  # on the device: only the subsample is copied
        x = x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        st = window_stats(x, step=1)
        ref = self._reference()
        mr, sr = _widened(ref["band_mean_range"]), _widened(ref["band_std_range"])
        out_m = (st["mean"] < mr[:, 0]) | (st["mean"] > mr[:, 1])
        out_s = (st["std"] < sr[:, 0]) | (st["std"] > sr[:, 1])
        white = st["white"] >= WHITE_WINDOW
        self.n += len(x)
        self.white += int(white.sum())
        self.unlike += int(((out_m | out_s).any(axis=1) & ~white).sum())  # white windows are counted as such


def assess(stats: WindowStats, nodata_share: float, source_pixel_m: Optional[float], gsd_m: float) -> dict:
    """-> ``{"warning": one line or None, "reasons": [...], figures}`` (see the module docstring)."""
    n = max(1, stats.n)
    unlike, white = stats.unlike / n, stats.white / n
    reasons, todo = [], []
    if stats.n and white >= WHITE_SHARE:
        reasons.append(f"{white:.0%} of the windows are mostly bright white (cloud or snow)")
        todo.append("mask cloud and snow or pick a clear image")
    if stats.n and unlike >= UNLIKE_SHARE:
        reasons.append(f"{unlike:.0%} of the windows have colours or contrast unlike the training patches")
        todo.append("check the radiometry in the summary (override it if wrong) and that the bands are red/green/blue")
    if stats.n and nodata_share >= NODATA_SHARE:  # none classified: the engine's 'every window is nodata' says it
        reasons.append(f"{nodata_share:.0%} of the area is nodata")
        todo.append("check the nodata value and the area of interest")
    if source_pixel_m and not (gsd_m / GSD_RATIO <= source_pixel_m <= gsd_m * GSD_RATIO):
        reasons.append(f"the source pixels are ~{source_pixel_m:.3g} m, the model learned {gsd_m:g} m")
        todo.append(f"use imagery with pixels near {gsd_m:g} m (Sentinel-2 10 m bands)")
    warning = None
    if reasons:
        warning = (
            "Unlike the training data: " + "; ".join(reasons) + ". The classes may be wrong: " + "; ".join(todo) + "."
        )
    return {
        "warning": warning,
        "reasons": reasons,
        "windows": stats.n,
        "unlike_share": round(unlike, 4),
        "white_share": round(white, 4),
        "nodata_share": round(float(nodata_share), 4),
        "source_pixel_m": round(float(source_pixel_m), 3) if source_pixel_m else None,
        "model_gsd_m": gsd_m,
        "reference": "models/ood_reference.json (python -m eurosat_landcover.models.ood_reference)",
    }
