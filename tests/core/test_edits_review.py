"""Guided review: doubtful cells in confidence / margin order, top classes, the tile walk, review marks."""

from __future__ import annotations

import numpy as np
import pytest
from eurosat_landcover.core.edits import EditError, EditSession, review, run_files
from osgeo import gdal
from synthetic_testlib import write_synthetic_run


@pytest.fixture
def run(tmp_path):
    return write_synthetic_run(tmp_path, "scene", width=37, height=300, seed=5)


def test_confidence_order_is_the_lowest_first(run, monkeypatch):
    files = run_files(run)
    ds = gdal.Open(str(files.confidence))
    conf = ds.ReadAsArray()
    rows, cols = np.nonzero(conf != 255)
    order = np.lexsort((cols, rows, conf[rows, cols]))[:50]
    monkeypatch.setattr(review, "ROWS_PER_BLOCK", 16)  # many blocks: the running top-50 must stay exact
    got = review.doubtful_cells(files.confidence, "confidence", 50)
    assert [(c.row, c.col) for c in got] == [(int(rows[i]), int(cols[i])) for i in order]
    assert got[0].score == pytest.approx(conf[got[0].row, got[0].col] / 254.0)
    assert all(a.score <= b.score for a, b in zip(got, got[1:]))


def test_margin_order_and_top_classes(run):
    files = run_files(run)
    ds = gdal.Open(str(files.probabilities))
    p = ds.ReadAsArray().astype(float) / 254.0
    valid = (ds.ReadAsArray() != 255).all(axis=0)
    s = np.sort(p, axis=0)
    margin = s[-1] - s[-2]
    rows, cols = np.nonzero(valid)
    order = np.lexsort((cols, rows, margin[rows, cols]))[:20]
    got = review.doubtful_cells(files.probabilities, "margin", 20)
    assert [(c.row, c.col) for c in got] == [(int(rows[i]), int(cols[i])) for i in order]
    top = review.top_classes(files.probabilities, got[0].row, got[0].col)
    want = np.argsort(-p[:, got[0].row, got[0].col], kind="stable")[:3]
    assert [t[0] for t in top] == list(want)
    assert top[0][1] - top[1][1] == pytest.approx(got[0].score)
    with pytest.raises(EditError, match="one band"):
        review.doubtful_cells(files.confidence, "margin", 5)


def test_tiles_cover_the_map_once_and_reviews_are_logged(run):
    t = review.tiles(37, 300, 16)
    cover = np.zeros((300, 37), int)
    for w in t:
        cover[w.slices] += 1
    assert (cover == 1).all() and t[0].xoff == 0 and t[1].xoff == 16 and t[3].yoff == 16
    s = EditSession.open(run)
    s.mark_reviewed(3, 4, "accepted")
    s.mark_tile(t[0])
    assert s.log.reviewed("cell") == {(3, 4)} and s.log.reviewed("tile") == {(0, 0)}
    assert s.log.revision == 0  # reviews do not change the map
    s.close()
