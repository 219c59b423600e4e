"""Cell agreement between two classifiers on mosaics at stride 16 (issue 26: INT8 against fp32).

A mosaic is 12 x 8 EuroSAT patches of 64 px, like sample_data/eurosat_mosaic_rgb.tif (which holds TEST
patches); tuning and model selection use mosaics of VALIDATION patches, never the test split or the sample.
Windows and cells follow the engine (core/windows.py, core/aggregate.py): a window every ``stride`` px, a
cell's probabilities are the mean of the ``k x k`` windows covering it, its class their argmax (checked:
this gives the same agreement on the sample as two ``classify()`` runs). Used by models/int8_qat.py and
benchmarks/int8_agreement.py.
"""

from __future__ import annotations

import random

import numpy as np


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
    from .dataset import list_eurosat, load_arrays, stratified_split

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


def cell_agreement(fn, reference: list[tuple]) -> float:
    """Share of cells where ``fn`` gives ``reference``'s class; ``reference``: one ``(rows, cols, windows, ny,
    nx, reference classes)`` per image (:func:`reference_cells`)."""
    agree = cells = 0
    for rows, cols, wins, ny, nx, ref in reference:
        agree += int((cell_classes(rows, cols, softmax_of(fn, wins), ny, nx) == ref).sum())
        cells += ref.size
    return agree / cells


def reference_cells(fn, images: list[np.ndarray]) -> list[tuple]:
    """For each image: its stride-16 windows and ``fn``'s cell classes (what :func:`cell_agreement` compares to)."""
    out = []
    for img in images:
        rows, cols, wins, ny, nx = windows_of(img)
        out.append((rows, cols, wins, ny, nx, cell_classes(rows, cols, softmax_of(fn, wins), ny, nx)))
    return out
