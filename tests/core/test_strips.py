"""Strip reading (core/strips.py): one GDAL read per strip, scaled, with validity; the rolling buffer."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import make_card, write_geotiff
from eurosat_landcover.core import bands, georef
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.radiometry import make_radiometry
from eurosat_landcover.core.strips import StripBuffer, read_strip, strip_rows
from eurosat_landcover.core.windows import Grid


def _working(tmp_path, array, **kw):
    card = make_card()
    src = georef.open_source(write_geotiff(tmp_path / "s.tif", array, **kw))
    mapping = bands.detect_band_mapping(src, card)
    return georef.prepare(src, mapping, 10.0), make_radiometry(mapping.radiometry, card)


def test_read_strip_scales_and_flags_nodata(tmp_path):
    a = np.arange(3 * 40 * 24, dtype=np.uint16).reshape(3, 40, 24) % 200 + 1
    a[:, 5, 3] = 0  # nodata in every band
    wr, radiometry = _working(tmp_path, a.astype(np.uint8), nodata=0)
    scaled, valid = read_strip(wr, radiometry, 4, 8)
    assert scaled.dtype == np.float32 and scaled.shape == (3, 8, 24) and valid.shape == (8, 24)
    np.testing.assert_array_equal(scaled, a[:, 4:12].astype(np.float32))
    assert scaled.transpose(1, 2, 0).flags.c_contiguous  # pixel-interleaved, like the model's batches
    assert not valid[1, 3] and valid.sum() == 8 * 24 - 1


def test_read_strip_past_the_end_is_a_readable_error(tmp_path):
    wr, radiometry = _working(tmp_path, np.ones((3, 16, 16), np.uint8))
    with pytest.raises(ClassificationError, match="cannot read rows"):
        read_strip(wr, radiometry, 10, 16)


def test_strip_rows_are_whole_cells_and_at_least_a_patch():
    assert strip_rows(Grid(100, 5000, 64, 16), 3) == 1024  # capped
    wide = strip_rows(Grid(200_000, 500, 64, 16), 3)
    assert wide == 64  # a patch at least
    mid = strip_rows(Grid(20_000, 500, 64, 32), 3)
    assert mid % 32 == 0 and 64 <= mid <= 1024


def test_buffer_keeps_the_rows_of_the_current_window_row(tmp_path):
    """A fake reader records each read: rows are read once, in order, and the windows of a row
    are the raster's pixels at the right offsets."""
    H, W = 160, 96
    img = np.arange(H * W, dtype=np.float32).reshape(1, H, W).repeat(3, 0)
    valid = np.ones((H, W), bool)
    valid[:, :16] = False  # first cell column invalid
    reads = []

    def read(y, n):
        reads.append((y, n))
        return img[:, y : y + n], valid[y : y + n]

    g = Grid(W, H, 64, 16)
    buf = StripBuffer(read, g, 3)
    buf.chunk = 32  # small reads, to exercise the rolling
    for j in range(g.ny):
        new = buf.advance(j)
        assert all(r >= j for r, _ in new)
        view, vmask = buf.windows(j)
        assert view.shape == (3, 64, g.nx, 64) and vmask.shape == (64, g.nx, 64)
        np.testing.assert_array_equal(view[0, :, 2, :], img[0, j * 16 : j * 16 + 64, 32:96])
        win_any, win_all = buf.window_flags(j)
        assert win_any.all() and not win_all[0] and win_all[1:].all()
        assert min(buf.cell_any) == j  # rows above the window row are dropped
        assert buf.data.transpose(1, 2, 0).flags.c_contiguous  # pixel-interleaved, like the model's batches
    ys = [y for y, _ in reads]
    assert ys == sorted(ys) and sum(n for _, n in reads) == H
    assert buf.strips == len(reads) and buf.read_seconds >= 0
