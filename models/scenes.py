"""Synthetic scenes composed from EuroSAT patches, with a per-pixel truth: the training data of the
map model (models/map_train.py, from training patches) and the scenes of benchmarks/bench_map.py
(from test patches).

A scene is a label layout (Voronoi regions with warped edges, a grid of whole patches like the
bundled sample mosaic, or thin River/Highway bands across regions); each region is filled with
patches of its class tiled at a random offset, so patch edges do not follow region edges. Truth =
the layout. Everything is numpy and seeded by the ``rng`` passed in.
"""

from __future__ import annotations

import numpy as np

PATCH = 64
LINEAR_CLASSES = ("River", "Highway")


class PatchBank:
    """Patches by class: ``images`` uint8 N x 3 x 64 x 64, ``labels`` int N."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, num_classes: int = 10):
        self.images = images
        self.by_class = [np.flatnonzero(labels == k) for k in range(num_classes)]
        self.present = [k for k in range(num_classes) if len(self.by_class[k])]

    def pick(self, rng, k: int, dihedral: bool) -> np.ndarray:
        img = self.images[rng.choice(self.by_class[k])]
        if dihedral:
            img = np.rot90(img, int(rng.integers(4)), axes=(1, 2))
            if rng.random() < 0.5:
                img = img[:, :, ::-1]
        return img


def smooth_noise(rng, h: int, w: int, cell: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a random grid every ``cell`` px, bilinearly interpolated."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.uniform(-1, 1, (gh, gw))
    ys, xs = np.arange(h) / cell, np.arange(w) / cell
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    b = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return a * (1 - fy) + b * fy


def voronoi_layout(rng, h: int, w: int, spacing: float, warp: float = 0.25) -> np.ndarray:
    """Region ids: seeds on a jittered grid ``spacing`` px apart (regions about that wide), edges
    warped by smooth noise of amplitude ``warp * spacing``."""
    ny, nx = max(1, round(h / spacing)) + 1, max(1, round(w / spacing)) + 1
    gy, gx = np.meshgrid((np.arange(ny) - 0.5) * spacing, (np.arange(nx) - 0.5) * spacing, indexing="ij")
    sy = (gy + rng.uniform(0, spacing, gy.shape)).ravel()
    sx = (gx + rng.uniform(0, spacing, gx.shape)).ravel()
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    if warp > 0:
        cell = max(8, int(spacing / 2))
        yy = yy + warp * spacing * smooth_noise(rng, h, w, cell)
        xx = xx + warp * spacing * smooth_noise(rng, h, w, cell)
    best = np.full((h, w), np.inf, dtype=np.float32)
    ids = np.zeros((h, w), dtype=np.int32)
    for i, (y, x) in enumerate(zip(sy, sx)):
        d = (yy - y) ** 2 + (xx - x) ** 2
        closer = d < best
        best[closer] = d[closer]
        ids[closer] = i
    return ids


def grid_layout(rng, h: int, w: int, cell: int = PATCH, offset: bool = True) -> tuple[np.ndarray, tuple]:
    """Region ids of a grid of ``cell`` px squares (offset at random), and the offset used."""
    oy, ox = (int(rng.integers(cell)), int(rng.integers(cell))) if offset else (0, 0)
    rows = (np.arange(h) + oy) // cell
    cols = (np.arange(w) + ox) // cell
    ncols = (w + ox) // cell + 1
    return rows[:, None] * ncols + cols[None, :], (oy, ox)


def band_mask(rng, h: int, w: int, width: float) -> np.ndarray:
    """A meandering band ``width`` px wide across the scene (a river or a road)."""
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    angle = rng.uniform(0, np.pi)
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    across = (yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle)
    along = (yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle)
    amp, period = rng.uniform(0, 0.15) * max(h, w), rng.uniform(0.6, 2.0) * max(h, w)
    across = across + amp * np.sin(2 * np.pi * along / period + rng.uniform(0, 2 * np.pi))
    return np.abs(across) < width / 2


def fill(rng, bank: PatchBank, ids: np.ndarray, classes: np.ndarray, dihedral: bool, offset=None) -> np.ndarray:
    """Image 3 x H x W: each region ``ids == r`` filled with patches of class ``classes[r]``, tiled
    from its own random offset (or ``offset`` for all regions: whole patches on a grid)."""
    h, w = ids.shape
    out = np.zeros((3, h, w), dtype=np.uint8)
    for r in np.unique(ids):
        mask = ids == r
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        oy, ox = offset if offset is not None else (int(rng.integers(PATCH)), int(rng.integers(PATCH)))
        ty0 = y0 - (y0 + oy) % PATCH
        tx0 = x0 - (x0 + ox) % PATCH
        for ty in range(ty0, y1, PATCH):
            for tx in range(tx0, x1, PATCH):
                img = bank.pick(rng, int(classes[r]), dihedral)
                sy0, sx0 = max(ty, 0), max(tx, 0)
                sy1, sx1 = min(ty + PATCH, h), min(tx + PATCH, w)
                sub = mask[sy0:sy1, sx0:sx1]
                if not sub.any():
                    continue
                piece = img[:, sy0 - ty : sy1 - ty, sx0 - tx : sx1 - tx]
                np.copyto(out[:, sy0:sy1, sx0:sx1], piece, where=sub[None])
    return out


def region_classes(rng, n: int, present, same: float = 0.0) -> np.ndarray:
    """A class per region, drawn uniformly from ``present``."""
    return rng.choice(np.asarray(present), size=n)


def training_scene(rng, bank: PatchBank, size: int, class_names) -> tuple[np.ndarray, np.ndarray]:
    """One varied training scene: (uint8 3 x size x size, int64 truth size x size)."""
    u = rng.random()
    offset = None
    if u < 0.25:  # whole patches side by side, like the bundled sample mosaic
        ids, offset = grid_layout(rng, size, size)
    else:
        spacing = float(np.exp(rng.uniform(np.log(48), np.log(4 * size))))
        ids = voronoi_layout(rng, size, size, spacing, warp=rng.uniform(0, 0.4))
    ids = np.unique(ids, return_inverse=True)[1].reshape(ids.shape)
    classes = region_classes(rng, int(ids.max()) + 1, bank.present)
    if u >= 0.25 and rng.random() < 0.35:  # a river or a road across the regions
        linear = [class_names.index(c) for c in LINEAR_CLASSES if c in class_names]
        for _ in range(int(rng.integers(1, 3))):
            band = band_mask(rng, size, size, rng.uniform(20, 72))
            ids = np.where(band, ids.max() + 1, ids)
            classes = np.append(classes, rng.choice(linear))
    image = fill(rng, bank, ids, classes, dihedral=True, offset=offset)
    return jitter(rng, image), classes[ids].astype(np.int64)


def jitter(rng, image: np.ndarray, amount: float = 0.1) -> np.ndarray:
    """Brightness/contrast +-``amount``, per-band gain +-4 %, on the 0-255 scale."""
    x = image.astype(np.float32)
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - amount, 1 + amount) + mean * rng.uniform(1 - amount, 1 + amount)
    x *= rng.uniform(0.96, 1.04, (3, 1, 1))
    return np.clip(x, 0, 255).astype(np.uint8)
