"""Streaming aggregation of window probabilities into output cells.

Each window's softmax vector is added to the ``k x k`` cells (cell = stride px) it covers; a cell's
probability is the mean over the windows that covered it. Cell row ``r`` can only be reached by
window rows ``r-k+1 .. r``, so once the reader has delivered every window of rows ``< r+1`` the
row is final: it is averaged, handed to the sink and dropped. Only the rows still open are held
(a few rows of ``ncx x classes`` float32), so memory is bounded by the raster width.

A cell is nodata when no window covered it (right/bottom remainder, skipped all-nodata windows)
or when all its source pixels are nodata.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


class CellAggregator:
    def __init__(self, grid, num_classes: int, sink: Callable[[int, np.ndarray, np.ndarray], None]):
        """``sink(cell_row, probs (ncx, C) float32, valid (ncx,) bool)`` receives rows in order."""
        self.grid = grid
        self.C = num_classes
        self.sink = sink
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, np.ndarray] = {}
        self.valid: dict[int, np.ndarray] = {}
        self.next_row = 0  # next cell row to hand out
        self.max_open_rows = 0

    def _row(self, r: int):
        s = self.sums.get(r)
        if s is None:
            s = self.sums[r] = np.zeros((self.grid.ncx, self.C), np.float32)
            self.counts[r] = np.zeros(self.grid.ncx, np.float32)
        return s, self.counts[r]

    def set_valid(self, items):
        for r, v in items:
            if r >= self.next_row:
                self.valid[r] = v

    def add(self, rows: np.ndarray, cols: np.ndarray, probs: np.ndarray):
        """Windows at (row, col) grid positions with softmax ``probs`` (n, C)."""
        k = self.grid.k
        probs = np.asarray(probs, np.float32)
        for j in np.unique(rows):
            sel = rows == j
            c = cols[sel]  # unique within a window row
            p = probs[sel]
            for dy in range(k):
                s, n = self._row(int(j) + dy)
                for dx in range(k):
                    s[c + dx] += p
                    n[c + dx] += 1.0
        self.max_open_rows = max(self.max_open_rows, len(self.sums))

    def finalize(self, done_rows: int):
        """Window rows < done_rows are complete: hand out every cell row < done_rows."""
        self._emit_until(min(done_rows, self.grid.ncy))

    def finish(self):
        self._emit_until(self.grid.ncy)

    def _emit_until(self, stop: int):
        ncx, C = self.grid.ncx, self.C
        while self.next_row < stop:
            r = self.next_row
            s = self.sums.pop(r, None)
            n = self.counts.pop(r, None)
            v = self.valid.pop(r, None)
            if s is None:
                probs = np.zeros((ncx, C), np.float32)
                valid = np.zeros(ncx, bool)
            else:
                valid = n > 0
                if v is not None:
                    valid &= v
                else:
                    valid[:] = False
                probs = s / np.maximum(n, 1.0)[:, None]
            self.sink(r, probs, valid)
            self.next_row += 1
