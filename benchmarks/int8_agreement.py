"""Cell agreement of INT8 with fp32 on mosaics at stride 16, and INT8 with low-margin windows re-run in fp32
(issue 26; used by benchmarks/bench_int8.py).

A mosaic is 12 x 8 EuroSAT patches of 64 px, like sample_data/eurosat_mosaic_rgb.tif (which holds TEST
patches); the threshold is chosen on mosaics of VALIDATION patches, never on the test split or the sample.
Windows and cells follow the engine (core/windows.py, core/aggregate.py): a window every ``stride`` px, a
cell's probabilities are the mean of the ``k x k`` windows covering it, its class their argmax (checked:
this gives the same agreement on the sample as two ``classify()`` runs).
"""

from __future__ import annotations

import random
import time

import numpy as np

THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def windows_of(img: np.ndarray, stride: int = 16, patch: int = 64):
    """``(rows, cols, windows uint8 N x C x p x p, ny, nx)`` of an image C x H x W."""
    h, w = img.shape[1:]
    ys, xs = range(0, h - patch + 1, stride), range(0, w - patch + 1, stride)
    rows = np.repeat(np.arange(len(ys)), len(xs))
    cols = np.tile(np.arange(len(xs)), len(ys))
    wins = np.stack([img[:, y : y + patch, x : x + patch] for y in ys for x in xs])
    return rows, cols, wins, len(ys), len(xs)


def cell_classes(rows, cols, probs: np.ndarray, ny: int, nx: int, k: int = 4) -> np.ndarray:
    """The class of every covered cell: argmax of the summed (= mean) probabilities of its windows."""
    sums = np.zeros((ny + k - 1, nx + k - 1, probs.shape[1]), np.float32)
    for dy in range(k):
        for dx in range(k):
            np.add.at(sums, (rows + dy, cols + dx), probs)
    return sums.argmax(-1)


def val_mosaics(source, card, count: int = 4, columns: int = 12, rows: int = 8) -> list[np.ndarray]:
    """``count`` mosaics of random VALIDATION-split patches (seeds 0..count-1)."""
    from eurosat_landcover.models.dataset import list_eurosat, load_arrays, stratified_split

    val = stratified_split(list_eurosat(source, card.class_names), classes=card.class_names)["val"]
    out = []
    for seed in range(count):
        images, _ = load_arrays(source, random.Random(seed).sample(val, columns * rows), size=64)
        mosaic = np.zeros((3, rows * 64, columns * 64), np.uint8)
        for n, im in enumerate(images):
            r, c = divmod(n, columns)
            mosaic[:, r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64] = im
        out.append(mosaic)
    return out


def softmax_of(fn, wins: np.ndarray, batch: int = 64) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(wins), batch):
            out.append(torch.softmax(fn(torch.from_numpy(wins[i : i + batch]).float()).float(), 1).numpy())
    return np.concatenate(out)


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
