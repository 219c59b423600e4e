"""Cell agreement of INT8 with fp32 on mosaics at stride 16, and INT8 with low-margin windows re-run in fp32
(issue 26; used by benchmarks/bench_int8.py).

The mosaics, windows and cells are models/int8_cells.py's; the threshold is chosen on mosaics of VALIDATION
patches, never on the test split or the sample.
"""

from __future__ import annotations

import time

import numpy as np
from eurosat_landcover.models.int8_cells import cell_classes, softmax_of, val_mosaics, windows_of  # noqa: F401

THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def margin(probs: np.ndarray) -> np.ndarray:
    top = np.sort(probs, 1)
    return top[:, -1] - top[:, -2]


def per_window(int8, fp32, images: list[np.ndarray]) -> list[tuple]:
    """For each image: (rows, cols, ny, nx, fp32 probabilities, INT8 probabilities) of its stride-16 windows."""
    out = []
    for img in images:
        rows, cols, wins, ny, nx = windows_of(img)
        out.append((rows, cols, ny, nx, softmax_of(fp32, wins), softmax_of(int8, wins)))
    return out


def agreement_at(data: list[tuple], threshold: float) -> tuple[float, float, int]:
    """``(cell agreement, share of windows re-run, cells)`` with windows whose INT8 top-2 margin is below
    ``threshold`` taking fp32's probabilities."""
    agree = cells = rerun = windows = 0
    for rows, cols, ny, nx, p32, p8 in data:
        low = margin(p8) < threshold
        mixed = np.where(low[:, None], p32, p8)
        ref = cell_classes(rows, cols, p32, ny, nx)
        agree += int((cell_classes(rows, cols, mixed, ny, nx) == ref).sum())
        cells += ref.size
        rerun += int(low.sum())
        windows += len(low)
    return agree / cells, rerun / windows, cells


def choose_threshold(data: list[tuple], target: float = 0.99) -> float:
    """The smallest of THRESHOLDS whose cell agreement on ``data`` reaches ``target`` (the largest if none)."""
    for t in THRESHOLDS:
        if agreement_at(data, t)[0] >= target:
            return t
    return THRESHOLDS[-1]


def hybrid_seconds(int8, fp32, wins: np.ndarray, threshold: float, batch: int = 64) -> tuple[float, float]:
    """``(fp32 seconds, INT8 + re-run seconds)`` over ``wins`` in batches of ``batch``: the fp32 graph on
    every batch, and INT8 on every batch with its low-margin windows run again through the same fp32 graph
    (one call per batch that has any; the graph pads a short batch to its traced size)."""
    import torch

    t32 = t8 = 0.0
    with torch.inference_mode():
        for i in range(0, len(wins), batch):
            x = torch.from_numpy(wins[i : i + batch]).float()
            t0 = time.perf_counter()
            fp32(x)
            t1 = time.perf_counter()
            logits = int8(x)
            low = torch.from_numpy(margin(torch.softmax(logits.float(), 1).numpy()) < threshold)
            if bool(low.any()):
                logits[low] = fp32(x[low]).to(logits.dtype)
            t8 += time.perf_counter() - t1
            t32 += t1 - t0
    return t32, t8
