"""The window grid and the reader thread (core/windows.py)."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import make_card, write_geotiff
from eurosat_landcover.core import bands, georef
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.radiometry import make_radiometry
from eurosat_landcover.core.windows import Grid, StripReader, check_stride


def test_stride_rules():
    assert check_stride(32, 64) == 32
    for bad in (0, 3, 24, 128, "x"):
        with pytest.raises(ClassificationError):
            check_stride(bad, 64)


def test_grid_geometry():
    g = Grid(width=200, height=130, patch=64, stride=16)
    assert g.k == 4 and (g.nx, g.ny) == (9, 5) and (g.ncx, g.ncy) == (13, 9) and g.windows == 45


def _reader_on(tmp_path, array, batch_size, nodata=None):
    card = make_card()
    src = georef.open_source(write_geotiff(tmp_path / "r.tif", array, nodata=nodata))
    mapping = bands.detect_band_mapping(src, card)
    wr = georef.prepare(src, mapping, 10.0)
    grid = Grid(wr.width, wr.height, 64, 32)
    return StripReader(wr, make_radiometry(mapping.radiometry, card), grid, batch_size), grid


def test_reader_delivers_each_valid_window_once_and_skips_nodata(tmp_path):
    a = np.full((3, 256, 224), 50, np.uint8)
    a[:, :128, :96] = 0  # nodata block: windows inside it are skipped
    reader, g = _reader_on(tmp_path, a, batch_size=5, nodata=0)
    seen, skipped, done, cell_rows = [], 0, 0, []
    reader.start()
    for batch in reader:
        assert batch.done_rows >= done  # rows complete in order
        done = batch.done_rows
        if batch.data is not None:
            assert batch.data.shape[0] == len(batch.rows) <= 5
            seen += list(zip(batch.rows.tolist(), batch.cols.tolist()))
        skipped += batch.skipped
        cell_rows += [r for r, _ in batch.cell_valid]
    assert done == g.ny
    inside = {(j, i) for j in range(g.ny) for i in range(g.nx) if j * 32 + 64 <= 128 and i * 32 + 64 <= 96}
    assert len(seen) == len(set(seen)) == g.windows - len(inside) and skipped == len(inside)
    assert not inside & set(seen)
    assert sorted(cell_rows) == list(range(g.ncy)) and reader.read_seconds > 0


def test_reader_stops_when_the_consumer_stops(tmp_path):
    reader, _ = _reader_on(tmp_path, np.full((3, 512, 512), 9, np.uint8), batch_size=1)
    reader.start()
    next(iter(reader))
    reader.stop()
    assert not reader.is_alive() and reader.error is None


def test_reader_hands_errors_to_the_consumer(tmp_path):
    reader, _ = _reader_on(tmp_path, np.full((3, 128, 128), 9, np.uint8), batch_size=4)
    reader.radiometry = None  # scaling fails inside the thread
    reader.start()
    with pytest.raises(AttributeError):
        list(reader)
