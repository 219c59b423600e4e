"""Window grid and the reader thread that turns raster strips into ready batches.

Grid (working pixels, stride ``s`` dividing the patch size ``p``, ``k = p / s``):
windows start at multiples of ``s`` (``nx = (W - p) // s + 1`` per row, ``ny`` likewise); the
output cell grid is ``ceil(W / s) x ceil(H / s)`` cells of ``s`` px. Every window covers exactly
``k x k`` whole cells. Cells in the right/bottom remainder (< s px, covered by no window) are
nodata: a window is never shifted off the grid to reach them (see docs/notes/engine.md).

Reader (:class:`StripReader`, a producer thread): strips of rows are read and scaled
(core/strips.py) with one validity rule (core/validity.py) reduced to per-cell flags; the windows
of each row whose cells hold any valid pixel are copied into a batch buffer from a small pool
(core/batching.py), and batches go through a bounded queue to the consumer.
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .batching import Batch, BatchFiller, alloc_pool
from .errors import ClassificationError
from .strips import StripBuffer, read_strip

__all__ = ["Batch", "Grid", "StripReader", "check_stride"]


@dataclass(frozen=True)
class Grid:
    width: int
    height: int
    patch: int
    stride: int

    @property
    def k(self) -> int:
        return self.patch // self.stride

    @property
    def nx(self) -> int:
        return (self.width - self.patch) // self.stride + 1

    @property
    def ny(self) -> int:
        return (self.height - self.patch) // self.stride + 1

    @property
    def ncx(self) -> int:
        return math.ceil(self.width / self.stride)

    @property
    def ncy(self) -> int:
        return math.ceil(self.height / self.stride)

    @property
    def windows(self) -> int:
        return self.nx * self.ny

    @property
    def covered_cells(self) -> int:
        """Output cells some window covers: a margin narrower than a window (right, bottom) gets none."""
        if self.nx <= 0 or self.ny <= 0:
            return 0
        return min(self.ncx, self.nx - 1 + self.k) * min(self.ncy, self.ny - 1 + self.k)


def check_stride(stride: int, patch: int) -> int:
    try:
        stride = int(stride)
    except (TypeError, ValueError):
        raise ClassificationError(f"stride must be a whole number of pixels, got {stride!r}") from None
    if stride < 1 or stride > patch or patch % stride:
        valid = [d for d in range(8, patch + 1) if patch % d == 0]
        raise ClassificationError(
            f"stride {stride} is not allowed: it must divide the patch size {patch} so that windows "
            f"cover whole output cells; use one of {', '.join(map(str, valid))}"
        )
    if stride < 8:
        raise ClassificationError(f"stride {stride} is below 8 px: use 8, 16, 32 or 64")
    return stride


_END = object()


class StripReader(threading.Thread):
    """Producer thread; iterate over it from the consumer thread to get batches."""

    def __init__(self, wr, radiometry, grid: Grid, batch_size: int, pin_memory: bool = False, queue_size: int = 3):
        super().__init__(name="eurosat-reader", daemon=True)
        self.wr = wr
        self.radiometry = radiometry
        self.grid = grid
        self.batch_size = int(batch_size)
        self.pin_memory = pin_memory
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.pool_size = queue_size + 3  # > queue + 1 being filled + 1 held by the consumer
        self.stop_event = threading.Event()
        self.error: Optional[BaseException] = None
        self.strips: Optional[StripBuffer] = None

    @property
    def read_seconds(self) -> float:
        return self.strips.read_seconds if self.strips is not None else 0.0

    # ------------------------------------------------------------------ consumer side
    def __iter__(self):
        while True:
            item = self.queue.get()
            if item is _END:
                if self.error is not None:
                    raise self.error
                return
            yield item

    def stop(self):
        self.stop_event.set()
        try:  # unblock a producer waiting on a full queue
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass
        self.join(timeout=30)

    # ------------------------------------------------------------------ producer side
    def _put(self, item) -> bool:
        while not self.stop_event.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self):
        from osgeo import gdal

        gdal.PushErrorHandler("CPLQuietErrorHandler")  # per thread; errors are raised, not printed
        try:
            self._run()
        except BaseException as exc:  # handed to the consumer
            self.error = exc
        finally:
            gdal.PopErrorHandler()
            while True:
                try:
                    self.queue.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    if self.stop_event.is_set():
                        try:
                            self.queue.get_nowait()
                        except queue.Empty:
                            pass

    def _run(self):
        g = self.grid
        bands = len(self.wr.data_bands)
        wr, radiometry = self.wr, self.radiometry  # not `self` in the closure: a cycle kept the raster open
        self.strips = strips = StripBuffer(lambda y, n: read_strip(wr, radiometry, y, n), g, bands)
        pool, self.pin_memory = alloc_pool(self.pool_size, self.batch_size, bands, g.patch, self.pin_memory)
        filler = BatchFiller(pool, self.batch_size)
        cell_valid: list = []  # cell-row validity not yet handed out
        skipped = 0  # windows skipped (no valid pixel) not yet reported
        for j in range(g.ny):
            if self.stop_event.is_set():
                return
            cell_valid += strips.advance(j)
            win_any, win_all = strips.window_flags(j)
            idx = np.flatnonzero(win_any)
            skipped += g.nx - idx.size
            if idx.size:
                view, vmask = strips.windows(j)
                pos = 0
                while pos < idx.size:
                    take = idx[pos : pos + filler.room]
                    filler.add(j, view, vmask, take, win_all[take])
                    pos += take.size
                    if filler.full:
                        if not self._put(filler.take(j, cell_valid, skipped)):
                            return
                        cell_valid, skipped = [], 0
            if filler.count == 0 and (cell_valid or skipped):
                if not self._put(filler.take(j + 1, cell_valid, skipped, with_data=False)):
                    return
                cell_valid, skipped = [], 0
        self._put(filler.take(g.ny, cell_valid, skipped))
