"""Corrections core: each tool changes exactly the expected cells, undo/redo, revert, rebuild, log rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edits_testlib import bfs_region, centres_inside, folder_state, read, read_only_folder, sha256
from eurosat_landcover.core.edits import Edit, EditError, EditSession, run_files
from eurosat_landcover.core.edits.model import brush_geometry, polygon_geometry
from eurosat_landcover.core.edits.raster import REVISION_KEY, build_corrected
from synthetic_testlib import write_synthetic_run


@pytest.fixture
def run(tmp_path):
    return write_synthetic_run(tmp_path / "out", "scene", width=40, height=30, seed=3)


def _pick(arr, not_class=None):
    """A valid cell whose class differs from not_class."""
    rows, cols = np.nonzero((arr != 255) & (arr != (not_class if not_class is not None else 254)))
    return int(rows[len(rows) // 3]), int(cols[len(cols) // 3])


def test_names_and_first_open(run):
    files = run_files(run)
    assert files.corrected.name == "scene_corrected.tif" and files.log.name == "scene_edits.gpkg"
    before = sha256(run)
    s = EditSession.open(run)
    assert files.corrected.exists() and files.log.exists() and s.created_on_open and not s.rebuilt_on_open
    assert np.array_equal(read(files.corrected), read(run))
    assert files.corrected_style.read_text() == files.classes_style.read_text()
    from osgeo import gdal

    ds, src = gdal.Open(str(files.corrected)), gdal.Open(str(run))
    ds.GetMetadata()  # GTiff loads the .aux.xml (category names) lazily
    assert ds.GetRasterBand(1).GetCategoryNames()[:2] == ["AnnualCrop", "Forest"]
    ct, src_ct = ds.GetRasterBand(1).GetColorTable(), src.GetRasterBand(1).GetColorTable()
    assert [ct.GetColorEntry(i) for i in range(10)] == [src_ct.GetColorEntry(i) for i in range(10)]
    ds = src = None
    assert not [p.name for p in files.folder.iterdir() if "partial" in p.name]
    from eurosat_landcover.core.edits.session import run_palette
    from eurosat_landcover.models.card import eurosat_classes

    assert run_palette(files) == [(c.name, c.color) for c in eurosat_classes()]  # embedded names + colours
    s.close()
    s = EditSession.open(files.corrected)  # consistent now: no rebuild
    assert not s.rebuilt_on_open
    s.close()
    assert sha256(run) == before


def test_each_tool_changes_exactly_the_expected_cells(run):
    files = run_files(run)
    model_sha = sha256(run)
    s = EditSession.open(run)
    g = s.grid
    expected = read(run).copy()
    valid = expected != 255

    # set one cell
    r, c = 5, 7
    to = (int(expected[r, c]) + 1) % 10
    x, y = g.cell_center(r, c)
    e1 = s.apply(Edit("cell", f"POINT ({x} {y})", to, all_touched=True))
    expected[r, c] = to
    assert np.array_equal(read(files.corrected), expected) and e1.cells == 1

    # brush, 1 cell wide, along row 10 from col 3 to col 12
    pts = [g.cell_center(10, 3), g.cell_center(10, 12)]
    before = expected.copy()
    e2 = s.apply(Edit("brush", brush_geometry(g, pts, 1).ExportToWkt(), 2, all_touched=True))
    expected[10, 3:13] = 2
    assert np.array_equal(read(files.corrected), expected) and e2.cells == int((before != expected).sum())

    # brush 3 cells wide: rows 19..21, cols 4..11 (the round caps reach one cell beyond the ends)
    pts = [g.cell_center(20, 5), g.cell_center(20, 10)]
    before = expected.copy()
    s.apply(Edit("brush", brush_geometry(g, pts, 3).ExportToWkt(), 4, all_touched=True))
    expected[19:22, 4:12] = 4
    assert np.array_equal(read(files.corrected), expected)

    # polygon fill: cells whose centre is inside
    x0, y0 = g.cell_center(2, 20)
    x1, y1 = g.cell_center(8, 30)
    x0, y0, x1, y1 = x0 - 100, y0 + 100, x1 + 100, y1 - 100
    poly = polygon_geometry([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    s.apply(Edit("polygon", poly.ExportToWkt(), 6))
    expected[centres_inside(g, x0, y0, x1, y1) & valid] = 6
    assert np.array_equal(read(files.corrected), expected)
    assert (read(files.corrected)[2:9, 20:31] == 6).all() and (read(files.corrected)[1, 20:31] != 6).any()

    # lasso restricted to one class (from-filter)
    before = expected.copy()
    x0, y0 = g.cell_center(12, 15)
    x1, y1 = g.cell_center(18, 38)
    x0, y0, x1, y1 = x0 - 1, y0 + 1, x1 + 1, y1 - 1
    lasso = polygon_geometry([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    src = int(expected[15, 20])
    s.apply(Edit("lasso", lasso.ExportToWkt(), 0 if src else 1, from_classes=(src,)))
    sel = centres_inside(g, x0, y0, x1, y1) & (before == src)
    expected[sel] = 0 if src else 1
    assert np.array_equal(read(files.corrected), expected)

    # flood: the 4-connected region of one class around a cell
    r, c = 25, 30
    region = bfs_region(expected, r, c)
    clicked = int(expected[r, c])
    to = (int(expected[r, c]) + 3) % 10
    x, y = g.cell_center(r, c)
    e_flood = s.flood(x, y, to)
    expected[region] = to
    assert np.array_equal(read(files.corrected), expected) and e_flood.cells == int(region.sum())

    # recode the whole layer with a table (swap 1 and 2, 3 -> 9): from the values before the edit
    before = expected.copy()
    s.apply(Edit("recode", None, recode={1: 2, 2: 1, 3: 9}))
    expected[before == 1] = 2
    expected[before == 2] = 1
    expected[before == 3] = 9
    assert np.array_equal(read(files.corrected), expected)
    assert (read(files.corrected)[~valid] == 255).all()

    # the log rows match what was done, in order
    rows = s.edits()
    assert [e.tool for e in rows] == ["cell", "brush", "brush", "polygon", "lasso", "flood", "recode"]
    assert rows[-1].recode == {1: 2, 2: 1, 3: 9} and rows[4].from_classes == (src,)
    assert rows[5].from_classes == (clicked,) and rows[5].to_class == to and rows[5].cells == int(region.sum())
    assert rows[0].geometry_wkt.startswith("POINT") and rows[6].geometry_wkt is None
    assert all(e.state == "active" and e.time for e in rows)

    # rebuild from the log equals the live result, and the model output is untouched
    live = read(files.corrected)
    counts = build_corrected(run, s.edits("active"), files.folder / "again.tif", 0)
    assert np.array_equal(read(files.folder / "again.tif"), live)
    assert counts[e1.id] == 1
    s.close()
    assert sha256(run) == model_sha


@pytest.mark.parametrize("strip_cells", [1 << 22, 50])
def test_undo_redo_revert(run, strip_cells, monkeypatch):
    from eurosat_landcover.core.edits import session as session_mod

    strips = session_mod.strips
    monkeypatch.setattr(session_mod, "strips", lambda w, max_cells=0: strips(w, strip_cells))  # 50: many strips
    files = run_files(run)
    s = EditSession.open(run)
    g = s.grid
    base = read(run)
    states = [base.copy()]
    x0, y0 = g.cell_center(1, 1)
    x1, y1 = g.cell_center(10, 10)
    for k, cls in enumerate((3, 5, 7)):
        poly = polygon_geometry([(x0 + k * 640, y0), (x1 + k * 640, y0), (x1 + k * 640, y1), (x0 + k * 640, y1)])
        s.apply(Edit("polygon", poly.ExportToWkt(), cls))
        states.append(read(files.corrected))
    assert len(s.edits()) == 3
    s.undo()
    assert np.array_equal(read(files.corrected), states[2]) and len(s.edits()) == 2
    s.undo()
    assert np.array_equal(read(files.corrected), states[1]) and len(s.edits()) == 1
    s.redo()
    assert np.array_equal(read(files.corrected), states[2]) and [e.id for e in s.edits()] == [1, 2]
    s.redo()
    assert np.array_equal(read(files.corrected), states[3]) and [e.id for e in s.edits()] == [1, 2, 3]
    with pytest.raises(EditError, match="nothing to redo"):
        s.redo()
    # revert the first edit only: the second stays
    s.revert(1)
    build_corrected(run, s.edits("active"), files.folder / "want.tif", 0)
    assert np.array_equal(read(files.corrected), read(files.folder / "want.tif"))
    assert not np.array_equal(read(files.corrected), states[3])
    assert [e.state for e in s.edits()] == ["reverted", "active", "active"]
    s.undo()  # the revert
    assert [e.state for e in s.edits()] == ["active", "active", "active"]
    s.revert_all()
    assert np.array_equal(read(files.corrected), base)
    s.undo()
    assert np.array_equal(read(files.corrected), states[3])
    # undo keeps only the changed cells: one entry per changed cell of each action
    assert [a.cells for a in s.undo_stack] == [e.cells for e in s.edits()]
    s.close()


def test_crash_between_log_and_raster_is_repaired_on_open(run):
    from osgeo import gdal

    files = run_files(run)
    s = EditSession.open(run)
    x, y = s.grid.cell_center(4, 4)
    s.apply(Edit("cell", f"POINT ({x} {y})", 9 if read(run)[4, 4] != 9 else 8, all_touched=True))
    live = read(files.corrected)
    s.close()
    # as if killed after the log's commit, before the raster was written: stale cells, old revision
    ds = gdal.Open(str(files.corrected), gdal.GA_Update)
    ds.GetRasterBand(1).WriteArray(read(run)[4:5, 4:5], 4, 4)
    ds.SetMetadataItem(REVISION_KEY, "0")
    ds = None
    s = EditSession.open(run)
    assert s.rebuilt_on_open and np.array_equal(read(files.corrected), live)
    s.close()
    # a torn raster file is rebuilt too
    files.corrected.write_bytes(files.corrected.read_bytes()[:300])
    s = EditSession.open(run)
    assert s.rebuilt_on_open and np.array_equal(read(files.corrected), live)
    s.close()


def test_refusals_change_nothing(run, tmp_path):
    files = run_files(run)
    s = EditSession.open(run)
    g = s.grid
    state = folder_state(files.folder)
    far = g.cell_center(-50, -50)
    for edit in (
        Edit("cell", f"POINT ({far[0]} {far[1]})", 1, all_touched=True),
        Edit("polygon", polygon_geometry([(0, 0), (10, 0), (10, 10)]).ExportToWkt(), 1),
    ):
        with pytest.raises(EditError, match="outside the raster"):
            s.apply(edit)
    with pytest.raises(EditError, match="outside the raster"):
        s.flood(*far, 1)
    with pytest.raises(EditError, match="nothing to undo"):
        s.undo()
    nod = g.cell_center(g.height - 1, 3)  # last row is nodata
    with pytest.raises(EditError, match=r"no cell|nodata"):
        s.apply(Edit("cell", f"POINT ({nod[0]} {nod[1]})", 1, all_touched=True))
    s.close()
    assert folder_state(files.folder) == state

    # a log of another raster
    other = write_synthetic_run(tmp_path / "other", "scene", width=40, height=30, seed=4)
    o = EditSession.open(other)
    o.close()
    ofiles = run_files(other)
    ostate = folder_state(ofiles.folder)
    ofiles.log.write_bytes(files.log.read_bytes())
    ostate[ofiles.log.name] = sha256(ofiles.log)
    with pytest.raises(EditError, match="belongs to another raster"):
        EditSession.open(other)
    assert folder_state(ofiles.folder) == ostate

    # not a plugin raster
    plain = tmp_path / "plain.tif"
    plain.write_bytes(b"")
    with pytest.raises(EditError, match="not a land-cover map made by this plugin"):
        EditSession.open(plain)

    # a read-only folder: refused before anything is written
    ro = write_synthetic_run(tmp_path / "ro", "scene", width=20, height=10, seed=1)
    rstate = folder_state(ro.parent)
    with read_only_folder(ro.parent), pytest.raises(EditError, match="read-only"):
        EditSession.open(ro)
    assert folder_state(ro.parent) == rstate


_EDIT_LOOP = """
import sys
from eurosat_landcover.core.edits import Edit, EditSession
from eurosat_landcover.core.edits.model import polygon_geometry

s = EditSession.open(sys.argv[1])
g = s.grid
k = 0
while True:
    r, c = k % (g.height - 6), (3 * k) % (g.width - 6)
    x0, y0 = g.cell_center(r, c)
    x1, y1 = g.cell_center(r + 5, c + 5)
    try:
        s.apply(Edit("polygon", polygon_geometry([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]).ExportToWkt(), k % 10))
    except Exception:
        pass
    if k % 7 == 6:
        s.undo()
    print(k, flush=True)
    k += 1
"""


def test_killed_mid_edit_is_consistent_on_open(run, tmp_path):
    """A process editing in a loop is killed (SIGKILL) at some point: on open, raster = model output + log."""
    import signal
    import subprocess
    import sys

    files = run_files(run)
    script = tmp_path / "edit_loop.py"
    script.write_text(_EDIT_LOOP)
    for wait_lines in (5, 23):
        proc = subprocess.Popen([sys.executable, str(script), str(run)], stdout=subprocess.PIPE, text=True)
        for _ in range(wait_lines):
            proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        s = EditSession.open(run)
        build_corrected(run, s.edits("active"), files.folder / "replayed.tif", 0)
        assert np.array_equal(s.read(), read(files.folder / "replayed.tif"))
        assert len(s.edits()) >= wait_lines // 2
        s.close()


def _log_rows(session) -> list:
    """The log's edits without their times (two sessions made them at different times)."""
    return [
        (e.id, e.tool, e.geometry_wkt, e.to_class, e.from_classes, e.recode, e.cells, e.state, e.all_touched)
        for e in session.edits()
    ]


def _box(g, r0, c0, r1, c1) -> str:
    x0, y0 = g.cell_center(r0, c0)
    x1, y1 = g.cell_center(r1, c1)
    return polygon_geometry([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]).ExportToWkt()


@pytest.mark.parametrize("strip_cells", [1 << 22, 50])
def test_staged_changes_equal_the_direct_path(run, tmp_path, strip_cells, monkeypatch):
    """plan -> stage (as a background task runs it, with progress) -> commit gives the raster, the log and the
    undo/redo stacks of apply / undo / redo / revert / revert_all, step by step; meanwhile other changes wait."""
    import shutil

    from eurosat_landcover.core.edits import session as session_mod
    from eurosat_landcover.core.edits.raster import raster_revision

    strips = session_mod.strips
    monkeypatch.setattr(session_mod, "strips", lambda w, max_cells=0: strips(w, strip_cells))  # 50: many strips
    twin = Path(shutil.copytree(run.parent, tmp_path / "twin")) / run.name
    direct, staged = EditSession.open(run), EditSession.open(twin)
    files, tfiles = run_files(run), run_files(twin)
    g = direct.grid
    steps = [
        ("apply", Edit("polygon", _box(g, 2, 2, 12, 20), 3)),
        ("apply", Edit("recode", None, recode={1: 2, 2: 1, 4: 3})),
        ("undo",),
        ("redo",),
        ("revert", 1),
        ("revert_all",),
        ("undo",),
        ("undo",),
        ("redo",),
    ]
    x, y = g.cell_center(20, 20)
    for name, *args in steps:
        getattr(direct, name)(*args)
        change = getattr(staged, f"plan_{name}")(*args)
        with pytest.raises(EditError, match="being written"):  # one change at a time
            staged.apply(Edit("cell", f"POINT ({x} {y})", 5, all_touched=True))
        with pytest.raises(EditError, match="being written"):
            staged.rebuild_plan()
        seen = []
        change.stage(progress=seen.append)
        fractions = [p.fraction for p in seen]  # core.progress.Progress, stage "edits"
        assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
        assert {p.stage for p in seen} == {"edits"}
        staged.commit(change)
        assert staged.pending is None
        assert np.array_equal(read(tfiles.corrected), read(files.corrected)), name
        assert _log_rows(staged) == _log_rows(direct), name
        assert raster_revision(tfiles.corrected) == staged.log.revision == direct.log.revision
        assert [a.cells for a in staged.undo_stack] == [a.cells for a in direct.undo_stack]
        assert [a.cells for a in staged.redo_stack] == [a.cells for a in direct.redo_stack]
    assert [e.state for e in staged.edits()] == ["reverted", "active"]
    direct.close()
    staged.close()
    s = EditSession.open(twin)
    assert not s.rebuilt_on_open
    s.close()


def test_a_cancelled_change_leaves_the_raster_and_the_log_as_they_were(run, monkeypatch):
    """Cancelled while computing or half-way through writing: cells, revision, log and stacks unchanged;
    the same change can then be made."""
    from eurosat_landcover.core.edits import session as session_mod
    from eurosat_landcover.core.edits.raster import raster_revision

    strips = session_mod.strips
    monkeypatch.setattr(session_mod, "strips", lambda w, max_cells=0: strips(w, 1))  # one row per strip
    files = run_files(run)
    s = EditSession.open(run)
    g = s.grid
    s.apply(Edit("polygon", _box(g, 2, 2, 12, 20), 3))
    s.apply(Edit("recode", None, recode={1: 2, 2: 1}))
    s.undo()

    def state():
        return (
            read(files.corrected).tobytes(),
            raster_revision(files.corrected),
            s.log.revision,
            _log_rows(s),
            [a.cells for a in s.undo_stack],
            [a.cells for a in s.redo_stack],
        )

    before = state()
    cases = [  # (plan, polls of is_cancelled before it answers yes, cancelled while writing)
        (lambda: s.plan_apply(Edit("recode", None, recode={0: 5, 3: 4})), 0, False),
        (lambda: s.plan_apply(Edit("recode", None, recode={0: 5, 3: 4})), 7, False),  # computing (30 strips)
        (lambda: s.plan_apply(Edit("recode", None, recode={0: 5, 3: 4})), 35, True),  # writing
        (s.plan_revert_all, 3, False),
        (s.plan_revert_all, 14, True),  # 11 strips computed, 3 written
        (s.plan_undo, 4, True),
        (s.plan_redo, 5, True),
    ]
    for plan, after, writing in cases:
        change = plan()
        polls, written = [], []

        def cancelled(change=change, polls=polls, written=written, after=after):
            polls.append(1)
            if len(polls) > after:
                written.append(change.written)
                return True
            return False

        with pytest.raises(EditError, match="cancelled"):
            change.stage(is_cancelled=cancelled)
        assert (written[0] > 0) == writing, (after, written)
        s.discard(change)
        assert s.pending is None and state() == before, after
    e = s.apply(Edit("recode", None, recode={0: 5, 3: 4}))  # nothing is left in the way
    assert e.cells > 0 and len(s.edits()) == 2 and raster_revision(files.corrected) == s.log.revision
    s.close()


def test_killed_while_a_change_is_written_is_repaired_on_open(run):
    """Staged (cells written) but not committed, as if QGIS died before the task's finish: on open, the
    raster is the model output + the log, which never got the change."""
    files = run_files(run)
    s = EditSession.open(run)
    s.apply(Edit("polygon", _box(s.grid, 2, 2, 12, 20), 3))
    live = read(files.corrected)
    change = s.plan_apply(Edit("recode", None, recode={1: 2, 2: 1}))
    change.stage()
    assert not np.array_equal(read(files.corrected), live)
    s.close()  # no commit
    s = EditSession.open(run)
    assert s.rebuilt_on_open and np.array_equal(read(files.corrected), live) and len(s.edits()) == 1
    s.close()


def test_a_log_that_cannot_be_written_puts_the_cells_back(run, monkeypatch):
    from eurosat_landcover.core.edits.raster import raster_revision

    files = run_files(run)
    s = EditSession.open(run)
    s.apply(Edit("polygon", _box(s.grid, 2, 2, 12, 20), 3))
    live, rev = read(files.corrected), s.log.revision

    def full(*_a, **_k):
        raise EditError("cannot write the edit log scene_edits.gpkg: disk full")

    monkeypatch.setattr(s.log, "add", full)
    monkeypatch.setattr(s.log, "set_state", full)
    for fn in (lambda: s.apply(Edit("recode", None, recode={1: 2, 2: 1})), s.revert_all):
        with pytest.raises(EditError, match="disk full"):
            fn()
        assert np.array_equal(read(files.corrected), live) and raster_revision(files.corrected) == rev
        assert s.pending is None and len(s.undo_stack) == 1 and s.log.revision == rev
    s.close()
