"""Apply corrections: an edit log replayed on another run (finer grid), overwrite refusal, the run's own log."""

from __future__ import annotations

import numpy as np
import pytest
from edits_testlib import centres_inside, folder_state, read, sha256
from eurosat_landcover.core.edits import Edit, EditError, EditSession, run_files
from eurosat_landcover.core.edits.model import polygon_geometry
from eurosat_landcover.core.edits.reapply import apply_log_to_run
from synthetic_testlib import write_synthetic_run


def test_log_carries_over_to_a_run_at_another_stride(tmp_path):
    old = write_synthetic_run(tmp_path / "old", "scene", width=40, height=30, seed=1, cell=320.0)
    new = write_synthetic_run(tmp_path / "new", "scene", width=80, height=60, seed=2, cell=160.0)
    s = EditSession.open(old)
    g = s.grid
    x0, y0 = g.cell_center(3, 4)
    x1, y1 = g.cell_center(12, 20)
    poly = polygon_geometry([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    s.apply(Edit("polygon", poly.ExportToWkt(), 7, note="fields"))
    cx, cy = g.cell_center(20, 30)
    s.apply(Edit("cell", f"POINT ({cx} {cy})", 9 if read(old)[20, 30] != 9 else 8, all_touched=True))
    s.close()
    new_sha = sha256(new)
    result = apply_log_to_run(run_files(old).log, new)
    nf = run_files(new)
    assert nf.corrected_style.read_text() == nf.classes_style.read_text()  # QGIS styles it on opening
    got, base = read(nf.corrected), read(new)
    from eurosat_landcover.core.edits import RasterGrid
    from osgeo import gdal

    ng = RasterGrid.of(gdal.Open(str(new)))
    inside = centres_inside(ng, x0, y0, x1, y1) & (base != 255)
    assert (got[inside] == 7).all() and inside.sum() > 100
    point_cell = ng.cell_of(cx, cy)
    changed = got != base
    assert set(map(tuple, np.argwhere(changed & ~inside))) <= {point_cell}
    assert result.edits == 2 and result.cells == int(changed.sum()) and sha256(new) == new_sha
    # the new log belongs to the new run, with the note and the cells recounted there
    s = EditSession.open(new)
    assert not s.rebuilt_on_open
    rows = s.edits()
    assert rows[0].note.startswith("fields (from scene_edits.gpkg, edit 1)") and rows[0].cells == int(
        (inside & (base != 7)).sum()
    )
    s.close()
    # again without overwrite: refused, nothing changed; with overwrite: the same raster
    state = folder_state(nf.folder)
    with pytest.raises(EditError, match="already exist"):
        apply_log_to_run(run_files(old).log, new)
    assert folder_state(nf.folder) == state
    apply_log_to_run(run_files(old).log, new, overwrite=True)
    assert np.array_equal(read(nf.corrected), got)
    # the run's own log: a rebuild
    apply_log_to_run(nf.log, new)
    assert np.array_equal(read(nf.corrected), got)
    assert not [p.name for p in nf.folder.iterdir() if "partial" in p.name]
