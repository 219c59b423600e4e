"""Reading the working raster in strips of rows: scaled values and their validity.

:func:`read_strip` is one GDAL read of rows ``[y, y + n)`` (model bands, alpha, internal mask),
scaled to the model's 0-255 range, with the validity of core/validity.py. :class:`StripBuffer`
keeps the rows the current window row needs (``patch`` rows from its top) and reads ahead in
chunks of about ``STRIP_BYTES``, reducing each chunk's validity to per-cell flags. It holds the
values pixel-interleaved (rows x columns x bands in memory, seen as bands x rows x columns), the
layout of the model's channels_last batches: a window is then copied into a batch as runs of
``patch x bands`` floats, an order of magnitude faster than from band-interleaved rows
(benchmarks/bench_reader.py).
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import ClassificationError
from .validity import cell_flags, valid_pixels

STRIP_BYTES = 16 * 2**20  # target size of one strip read (float32 after scaling)
MAX_STRIP_ROWS = 1024


def read_strip(wr, radiometry, y: int, n: int, x: int = 0, w: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows [y, y+n) of the working area (columns [x, x+w), default all) -> (scaled float32 (C, n, w)
    pixel-interleaved, valid bool (n, w))."""
    W = wr.width - x if w is None else w
    bands = list(wr.data_bands) + ([wr.alpha_band] if wr.alpha_band is not None else [])
    try:  # None on a read error, or RuntimeError where gdal.UseExceptions() is on in the process
        raw = wr.ds.ReadAsArray(wr.xoff + x, wr.yoff + y, W, n, band_list=bands)
    except RuntimeError:
        raw = None
    if raw is None:
        from osgeo import gdal

        raise ClassificationError(
            f"cannot read rows {wr.yoff + y}..{wr.yoff + y + n} of the raster (corrupt or truncated file?): "
            f"{gdal.GetLastErrorMsg()}"
        )
    raw = raw.reshape(len(bands), n, W)
    C = len(wr.data_bands)
    mask = None
    if wr.mask_band_of is not None:
        mask = wr.ds.GetRasterBand(wr.mask_band_of).GetMaskBand().ReadAsArray(wr.xoff + x, wr.yoff + y, W, n)
    alpha = raw[C] if wr.alpha_band is not None else None
    valid = valid_pixels(raw[:C], alpha=alpha, mask=mask, nodata=wr.nodata)
    scaled = np.empty((n, W, C), np.float32).transpose(2, 0, 1)  # pixel-interleaved: see StripBuffer
    return radiometry.apply(raw[:C], out=scaled), valid


def strip_rows(grid, bands: int) -> int:
    """Rows per read: about STRIP_BYTES of float32 (bands + validity), whole cells, >= one patch."""
    rows = int(STRIP_BYTES // max(1, grid.width * (bands + 1) * 4))
    return max(grid.patch, min(MAX_STRIP_ROWS, rows)) // grid.stride * grid.stride


class StripBuffer:
    """The rows from the current window row's top to what has been read, and per-cell validity.

    ``read(y, n) -> (scaled (C, n, W), valid (n, W))`` is :func:`read_strip` bound to a raster.
    """

    def __init__(self, read, grid, bands: int):
        self.read = read
        self.grid = grid
        self.chunk = strip_rows(grid, bands)
        self.data = np.zeros((0, grid.width, bands), np.float32).transpose(2, 0, 1)  # (C, rows, W), pixel-interleaved
        self.valid = np.zeros((0, grid.width), bool)
        self.top = 0  # absolute row of data[:, 0]
        self.read_to = 0  # rows read so far
        self.cell_any: dict[int, np.ndarray] = {}
        self.cell_all: dict[int, np.ndarray] = {}
        self.read_seconds = 0.0
        self.strips = 0

    def advance(self, j: int) -> list[tuple[int, np.ndarray]]:
        """Make window row ``j`` readable; -> [(cell row, any-valid flags)] for the rows read now."""
        g = self.grid
        top = j * g.stride
        new_cells = []
        while self.read_to < top + g.patch:
            n = min(self.chunk, g.height - self.read_to)
            t0 = time.perf_counter()
            data, valid = self.read(self.read_to, n)
            self.read_seconds += time.perf_counter() - t0
            self.strips += 1
            anyv, allv = cell_flags(valid, g.stride, g.ncx)
            r0 = self.read_to // g.stride
            for i in range(anyv.shape[0]):
                self.cell_any[r0 + i] = anyv[i]
                self.cell_all[r0 + i] = allv[i]
                new_cells.append((r0 + i, anyv[i]))
            keep = top - self.top
            rows_hwc = (self.data[:, keep:].transpose(1, 2, 0), data.transpose(1, 2, 0))
            self.data = np.concatenate(rows_hwc, axis=0).transpose(2, 0, 1)
            self.valid = np.concatenate([self.valid[keep:], valid], axis=0)
            self.top = top
            self.read_to += n
        for r in [r for r in self.cell_any if r < j]:
            del self.cell_any[r], self.cell_all[r]
        return new_cells

    def window_flags(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Window row ``j`` -> (any pixel valid, all pixels valid), each (nx,)."""
        g = self.grid
        k, ncov = g.k, g.nx + g.k - 1  # cells covered by the windows of a row
        rany = np.logical_or.reduce([self.cell_any[j + d][:ncov] for d in range(k)])
        rall = np.logical_and.reduce([self.cell_all[j + d][:ncov] for d in range(k)])
        return sliding_window_view(rany, k).any(axis=1), sliding_window_view(rall, k).all(axis=1)

    def windows(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Views of window row ``j``: values (C, p, nx, p) and validity (p, nx, p)."""
        g = self.grid
        r = j * g.stride - self.top
        p, s = g.patch, g.stride
        view = sliding_window_view(self.data[:, r : r + p, :], p, axis=2)[:, :, ::s, :]
        vmask = sliding_window_view(self.valid[r : r + p, :], p, axis=1)[:, ::s, :]
        return view, vmask
