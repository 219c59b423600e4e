"""Window grid and the reader thread that turns raster strips into ready batches.

Grid (working pixels, stride ``s`` dividing the patch size ``p``, ``k = p / s``):
windows start at multiples of ``s`` (``nx = (W - p) // s + 1`` per row, ``ny`` likewise); the
output cell grid is ``ceil(W / s) x ceil(H / s)`` cells of ``s`` px. Every window covers exactly
``k x k`` whole cells. Cells in the right/bottom remainder (< s px, covered by no window) are
nodata: a window is never shifted off the grid to reach them (see docs/notes/engine.md).

Reader: strips of rows are read with one GDAL call (all model bands + the alpha band), scaled
once per strip, their validity reduced to per-cell flags; the windows of each row whose cells
hold any valid pixel are copied into a batch buffer (pinned on CUDA) from a small pool, and
batches go through a bounded queue. Invalid pixels inside a partly valid window are filled with
the window's per-band mean of valid pixels.
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import ClassificationError

STRIP_BYTES = 16 * 2**20  # target size of one strip read (float32 after scaling)


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


@dataclass
class Batch:
    data: Optional[object]  # torch tensor (n, C, p, p) float32 or None (bookkeeping only)
    rows: np.ndarray
    cols: np.ndarray
    done_rows: int  # window rows < done_rows are complete (all their windows delivered)
    cell_valid: list = field(default_factory=list)  # [(cell_row, bool array (ncx,))]
    skipped: int = 0  # windows skipped (all nodata) since the previous batch


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
        self.read_seconds = 0.0
        self.strips = 0

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

    def _alloc_pool(self, nbands, p):
        """Batch buffers in channels_last layout (N, H, W, C in memory), pinned on CUDA.

        Returns [(tensor N x C x H x W with channels_last strides, numpy view of the same memory)].
        """
        import torch

        pool = []
        for _ in range(self.pool_size):
            base = torch.empty((self.batch_size, p, p, nbands), dtype=torch.float32)
            if self.pin_memory:
                try:
                    base = base.pin_memory()
                except RuntimeError:
                    self.pin_memory = False
            t = base.permute(0, 3, 1, 2)
            pool.append((t, base.numpy().transpose(0, 3, 1, 2)))
        return pool

    def read_strip(self, y: int, n: int):
        """Rows [y, y+n) of the working area -> (scaled float32 (C, n, W), valid bool (n, W))."""
        import time

        wr, W = self.wr, self.grid.width
        t0 = time.perf_counter()
        bands = list(wr.data_bands)
        if wr.alpha_band is not None:
            bands.append(wr.alpha_band)
        raw = wr.ds.ReadAsArray(wr.xoff, wr.yoff + y, W, n, band_list=bands)
        if raw is None:
            from osgeo import gdal

            raise ClassificationError(
                f"cannot read rows {wr.yoff + y}..{wr.yoff + y + n} of the raster (corrupt or truncated file?): "
                f"{gdal.GetLastErrorMsg()}"
            )
        raw = raw.reshape(len(bands), n, W)
        C = len(wr.data_bands)
        data = raw[:C]
        valid = np.ones((n, W), dtype=bool)
        if wr.alpha_band is not None:
            valid &= raw[C] > 0
        if wr.mask_band_of is not None:
            m = wr.ds.GetRasterBand(wr.mask_band_of).GetMaskBand().ReadAsArray(wr.xoff, wr.yoff + y, W, n)
            if m is not None:
                valid &= m > 0
        nd = [(i, v) for i, v in enumerate(wr.nodata) if v is not None]
        if nd:
            eq = np.ones((n, W), dtype=bool)
            for i, v in nd:
                eq &= data[i] == v if not math.isnan(v) else np.isnan(data[i])
            valid &= ~eq
        if data.dtype.kind == "f":
            valid &= np.isfinite(data).all(axis=0)
        scaled = self.radiometry.apply(data)
        self.read_seconds += time.perf_counter() - t0
        self.strips += 1
        return scaled, valid

    def _cell_flags(self, valid: np.ndarray):
        """valid (n, W) for whole cell rows (n multiple of s, except at the bottom) -> any/all per cell."""
        s, ncx = self.grid.stride, self.grid.ncx
        n, W = valid.shape
        nr = math.ceil(n / s)
        if n != nr * s or ncx * s != W:
            padded = np.zeros((nr * s, ncx * s), dtype=bool)
            padded[:n, :W] = valid
            v = padded.reshape(nr, s, ncx, s)
            anyv = v.any(axis=(1, 3))
            pad_any = np.ones((nr * s, ncx * s), dtype=bool)
            pad_any[:n, :W] = valid
            allv = pad_any.reshape(nr, s, ncx, s).all(axis=(1, 3))
        else:
            v = valid.reshape(nr, s, ncx, s)
            anyv = v.any(axis=(1, 3))
            allv = v.all(axis=(1, 3))
        return anyv, allv

    def _run(self):
        g, wr = self.grid, self.wr
        p, s, k, W, H = g.patch, g.stride, g.k, g.width, g.height
        C = len(wr.data_bands)
        B = self.batch_size
        chunk = int(STRIP_BYTES // max(1, W * (C + 1) * 4))
        chunk = max(p, min(1024, chunk)) // s * s
        pool = self._alloc_pool(C, p)
        pool_i = 0
        buf = pool[pool_i][1]
        nfill = 0
        rows_acc: list[np.ndarray] = []
        cols_acc: list[np.ndarray] = []
        strip = np.zeros((C, 0, W), np.float32)
        svalid = np.zeros((0, W), bool)
        y0 = 0  # absolute row of strip[:, 0]
        read_to = 0
        cell_any: dict[int, np.ndarray] = {}
        cell_all: dict[int, np.ndarray] = {}
        pending_valid: list = []
        skipped = 0
        nxc = g.nx + k - 1  # cells covered by windows in a row

        def emit(done_rows: int, with_data: bool):
            nonlocal pool_i, buf, nfill, rows_acc, cols_acc, pending_valid, skipped
            if with_data and nfill:
                data = pool[pool_i][0][:nfill]
                rows = np.concatenate(rows_acc)
                cols = np.concatenate(cols_acc)
            else:
                data, rows, cols = None, np.zeros(0, np.int64), np.zeros(0, np.int64)
            ok = self._put(Batch(data, rows, cols, done_rows, pending_valid, skipped))
            pending_valid, skipped = [], 0
            if data is not None:
                pool_i = (pool_i + 1) % len(pool)
                buf = pool[pool_i][1]
                nfill, rows_acc, cols_acc = 0, [], []
            return ok

        for j in range(g.ny):
            if self.stop_event.is_set():
                return
            top = j * s
            while read_to < top + p:
                n = min(chunk, H - read_to)
                data, valid = self.read_strip(read_to, n)
                anyv, allv = self._cell_flags(valid)
                r0 = read_to // s
                for i in range(anyv.shape[0]):
                    cell_any[r0 + i] = anyv[i]
                    cell_all[r0 + i] = allv[i]
                    pending_valid.append((r0 + i, anyv[i]))
                keep = top - y0
                strip = np.concatenate([strip[:, keep:], data], axis=1)
                svalid = np.concatenate([svalid[keep:], valid], axis=0)
                y0 = top
                read_to += n
            for r in [r for r in cell_any if r < j]:
                del cell_any[r], cell_all[r]
            # windows of this row with any valid pixel; those with invalid pixels need filling
            rany = np.logical_or.reduce([cell_any[j + d][:nxc] for d in range(k)])
            rall = np.logical_and.reduce([cell_all[j + d][:nxc] for d in range(k)])
            win_any = sliding_window_view(rany, k).any(axis=1)
            win_all = sliding_window_view(rall, k).all(axis=1)
            idx = np.flatnonzero(win_any)
            skipped += g.nx - idx.size
            if idx.size:
                r = top - y0
                view = sliding_window_view(strip[:, r : r + p, :], p, axis=2)[:, :, ::s, :]  # (C, p, nx, p)
                vmask = sliding_window_view(svalid[r : r + p, :], p, axis=1)[:, ::s, :]  # (p, nx, p)
                pos = 0
                while pos < idx.size:
                    take = idx[pos : pos + B - nfill]
                    dst = buf[nfill : nfill + take.size]
                    np.copyto(dst, view[:, :, take, :].transpose(2, 0, 1, 3))
                    partial = np.flatnonzero(~win_all[take])
                    for t in partial:
                        m = vmask[:, take[t], :]
                        w = dst[t]
                        for c in range(C):
                            w[c][~m] = w[c][m].mean() if m.any() else 0.0
                    rows_acc.append(np.full(take.size, j, np.int64))
                    cols_acc.append(take.astype(np.int64))
                    nfill += take.size
                    pos += take.size
                    if nfill == B and not emit(j, True):
                        return
            if nfill == 0 and (pending_valid or skipped) and not emit(j + 1, False):
                return
        emit(g.ny, True)
