"""Filling model batches with windows: a small pool of reusable buffers, and the filling rule.

Buffers are float32 N x C x p x p tensors in channels_last layout (pinned on CUDA), each viewed
as numpy for the copies. A window with some invalid pixels has them filled with its per-band mean
of valid pixels (:func:`fill_invalid`), so nodata edges do not read as black.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class Batch:
    data: Optional[object]  # torch tensor (n, C, p, p) float32 or None (bookkeeping only)
    rows: np.ndarray
    cols: np.ndarray
    done_rows: int  # window rows < done_rows are complete (all their windows delivered)
    cell_valid: list = field(default_factory=list)  # [(cell_row, bool array (ncx,))]
    skipped: int = 0  # windows skipped (all nodata) since the previous batch


def alloc_pool(count: int, batch_size: int, bands: int, patch: int, pin_memory: bool = False):
    """-> ([(tensor N x C x H x W with channels_last strides, numpy view of the same memory)], pinned)."""
    import torch

    pool = []
    for _ in range(count):
        base = torch.empty((batch_size, patch, patch, bands), dtype=torch.float32)
        if pin_memory:
            try:
                base = base.pin_memory()
            except RuntimeError:
                pin_memory = False
        pool.append((base.permute(0, 3, 1, 2), base.numpy().transpose(0, 3, 1, 2)))
    return pool, pin_memory


def fill_invalid(window: np.ndarray, mask: np.ndarray) -> None:
    """window (C, p, p) filled in place: its invalid pixels (mask (p, p) False) get the window's
    per-band mean of valid pixels, or 0 when none is valid."""
    for c in range(window.shape[0]):
        window[c][~mask] = window[c][mask].mean() if mask.any() else 0.0


class BatchFiller:
    """Copies windows into the current pool buffer; hands out a :class:`Batch` when asked."""

    def __init__(self, pool, batch_size: int):
        self.pool = pool
        self.batch_size = int(batch_size)
        self.index = 0
        self.count = 0
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []

    @property
    def room(self) -> int:
        return self.batch_size - self.count

    @property
    def full(self) -> bool:
        return self.count == self.batch_size

    def add(self, j: int, view: np.ndarray, vmask: np.ndarray, take: np.ndarray, complete: np.ndarray) -> None:
        """Windows ``take`` (at most ``room``) of window row ``j``: ``view`` (C, p, nx, p) and
        ``vmask`` (p, nx, p) from StripBuffer.windows, ``complete[i]`` True when window take[i]
        has no invalid pixel."""
        dst = self.pool[self.index][1][self.count : self.count + take.size]
        first = int(take[0])
        run = int(take[-1]) - first + 1 == take.size  # a run of windows (the usual case): a view, one copy
        src = view[:, :, first : first + take.size, :] if run else view[:, :, take, :]
        np.copyto(dst, src.transpose(2, 0, 1, 3))
        for t in np.flatnonzero(~complete):
            fill_invalid(dst[t], vmask[:, take[t], :])
        self.rows.append(np.full(take.size, j, np.int64))
        self.cols.append(take.astype(np.int64))
        self.count += take.size

    def take(self, done_rows: int, cell_valid: list, skipped: int, with_data: bool = True) -> Batch:
        """The batch filled so far (``with_data``, when any), and the next buffer to fill."""
        if not (with_data and self.count):
            return Batch(None, np.zeros(0, np.int64), np.zeros(0, np.int64), done_rows, cell_valid, skipped)
        batch = Batch(
            self.pool[self.index][0][: self.count],
            np.concatenate(self.rows),
            np.concatenate(self.cols),
            done_rows,
            cell_valid,
            skipped,
        )
        self.index = (self.index + 1) % len(self.pool)
        self.count, self.rows, self.cols = 0, [], []
        return batch
