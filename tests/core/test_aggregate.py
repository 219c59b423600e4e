"""Streaming aggregation of window probabilities into output cells (core/aggregate.py)."""

from __future__ import annotations

import numpy as np
import pytest
from eurosat_landcover.core.aggregate import CellAggregator
from eurosat_landcover.core.windows import Grid


def test_aggregator_averages_and_streams_rows():
    g = Grid(width=64 + 4 * 16 + 8, height=64 + 40 * 16 + 8, patch=64, stride=16)  # k = 4
    assert (g.nx, g.ny, g.ncx, g.ncy) == (5, 41, 9, 45)
    rows_out = {}

    def sink(r, probs, valid):
        assert r == len(rows_out)  # in order
        rows_out[r] = (probs.copy(), valid.copy())

    agg = CellAggregator(g, 2, sink)
    for j in range(g.ny):
        agg.set_valid([(j, np.ones(g.ncx, bool))])
        cols = np.arange(g.nx)
        p = np.zeros((g.nx, 2), np.float32)
        p[:, 0] = j % 2  # alternate rows of windows: class 0 prob 1 or 0
        p[:, 1] = 1 - p[:, 0]
        agg.add(np.full(g.nx, j), cols, p)
        agg.finalize(j + 1)
        assert len(agg.sums) <= g.k  # memory bounded by k rows of cells
    for r in range(g.ny, g.ncy):
        agg.set_valid([(r, np.ones(g.ncx, bool))])
    agg.finish()
    assert len(rows_out) == g.ncy
    probs, valid = rows_out[10]
    assert valid[:8].all()
    assert probs[0, 0] == pytest.approx(0.5)  # rows 7..10 of windows: two odd, two even
    probs, valid = rows_out[0]
    assert probs[0, 0] == pytest.approx(0.0)
    assert not rows_out[44][1].any()  # covered by no window (bottom remainder)
    assert not rows_out[10][1][8]  # right remainder
    assert rows_out[43][1][:8].all() and rows_out[43][0][0, 1] == pytest.approx(1.0)  # only window row 40
