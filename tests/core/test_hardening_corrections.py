"""Issue 27, corrections and assessment inputs: an edit log or a sample GeoPackage damaged or edited by hand
is refused at the door with one line naming the edit (or point) and the field, the map, the log and the
corrected raster untouched; a kill -9 during the first open leaves nothing that the next open does not sweep.
Real GeoPackages changed with SQL, as a hand edit in a database tool would change them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from assessment_testlib import NAMES, blocky_map, write_classes
from eurosat_landcover.core.accuracy.design import DesignSpec, create_sampling_design
from eurosat_landcover.core.accuracy.errors import AssessmentError
from eurosat_landcover.core.accuracy.reference import write_label
from eurosat_landcover.core.accuracy.report import assess
from eurosat_landcover.core.edits import Edit, EditError, EditSession, run_files
from eurosat_landcover.core.edits.model import polygon_geometry
from hardening_testlib import ROOT, assert_folder, snapshot
from osgeo import ogr
from synthetic_testlib import write_synthetic_run


def _sql(path, *statements) -> None:
    ds = ogr.Open(str(path), 1)
    for s in statements:
        ds.ExecuteSQL(s)
    ds = None


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    """A run with a log of two edits: 1 = a polygon painting class 1, 2 = a recode 3>5 of the whole layer."""
    folder = tmp_path_factory.mktemp("corr")
    run = write_synthetic_run(folder / "out", "scene", width=40, height=30, seed=3)
    s = EditSession.open(run)
    g = s.grid
    pts = [g.cell_center(2, 2), g.cell_center(2, 12), g.cell_center(12, 12), g.cell_center(12, 2)]
    s.apply(Edit("polygon", polygon_geometry(pts).ExportToWkt(), to_class=1))
    s.apply(Edit("recode", None, recode={3: 5}))
    s.close()
    return run


@pytest.fixture
def run(logged_run, tmp_path):
    """A fresh copy of the logged run's folder."""
    import shutil

    shutil.copytree(logged_run.parent, tmp_path / "out")
    return tmp_path / "out" / logged_run.name


LOG_EDITS = {
    "damaged-geometry": ("UPDATE edits SET geom = X'DEADBEEF00' WHERE id = 1", "edit 1: its geometry is damaged"),
    "geometry-removed": ("UPDATE edits SET geom = NULL WHERE id = 1", "edit 1: it has no geometry"),
    "to-class-300": ("UPDATE edits SET to_class = 300 WHERE id = 1", "edit 1: 'to_class' is 300"),
    "to-class-nodata": ("UPDATE edits SET to_class = 255 WHERE id = 1", "edit 1: 'to_class' is 255"),
    "to-class-negative": ("UPDATE edits SET to_class = -1 WHERE id = 1", "edit 1: 'to_class' is -1"),
    "to-class-null": ("UPDATE edits SET to_class = NULL WHERE id = 1", "edit 1: 'to_class' is None"),
    "to-class-not-a-class": ("UPDATE edits SET to_class = 12 WHERE id = 1", "edit 1: class code 12 is not one of"),
    "recode-letters": ("UPDATE edits SET recode = '3>x' WHERE id = 2", "edit 2: 'recode' holds '3>x'"),
    "recode-chain": ("UPDATE edits SET recode = '3>5>6' WHERE id = 2", "edit 2: 'recode' holds '3>5>6'"),
    "recode-300": ("UPDATE edits SET recode = '3>300' WHERE id = 2", "edit 2: 'recode' holds '3>300'"),
    "recode-not-a-class": ("UPDATE edits SET recode = '3>11' WHERE id = 2", "edit 2: class code 11 is not one of"),
    "from-letters": ("UPDATE edits SET from_classes = '1,x' WHERE id = 1", "edit 1: 'from_classes' holds '1,x'"),
    "from-999": ("UPDATE edits SET from_classes = '999' WHERE id = 1", "edit 1: 'from_classes' holds '999'"),
    "state-unknown": ("UPDATE edits SET state = 'maybe' WHERE id = 1", "edit 1: 'state' is 'maybe'"),
    "tool-unknown": ("UPDATE edits SET tool = 'hammer' WHERE id = 1", "edit 1: unknown tool 'hammer'"),
}


@pytest.mark.parametrize("kind", sorted(LOG_EDITS))
def test_a_damaged_edit_log_is_refused_naming_the_edit(run, kind):
    """A damaged geometry was read as "whole layer" (the next rebuild painted the entire map one class),
    300 was wrapped to 44, 255 painted nodata, an unknown state dropped the edit silently."""
    sql, message = LOG_EDITS[kind]
    files = run_files(run)
    _sql(files.log, sql)
    before = snapshot(files.folder)
    with pytest.raises(EditError) as info:
        EditSession.open(run)
    text = str(info.value)
    assert "\n" not in text and text.startswith("the edit log scene_edits.gpkg is damaged or was edited by hand: ")
    assert message in text, text
    assert_folder(files.folder, before)


def test_a_kill_during_the_first_open_is_swept_by_the_next(tmp_path):
    """kill -9 while the first open writes the corrected raster: its temporary file was named without an
    owner, so no sweep would ever remove it."""
    run = write_synthetic_run(tmp_path / "out", "scene", width=40, height=30, seed=3)
    script = (
        "import os, signal, sys\n"
        "from eurosat_landcover.core.edits import session\n"
        "real = session.build_corrected\n"
        "def dying(*a, **k):\n"
        "    k['progress'] = lambda *x: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*a, **k)\n"
        "session.build_corrected = dying\n"
        "session.EditSession.open(sys.argv[1])\n"
    )
    env = {"PYTHONPATH": str(ROOT / ".pp"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-P", "-c", script, str(run)], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    left = [p.name for p in run.parent.iterdir() if ".partial" in p.name]
    assert left, "the kill came before anything temporary was written"
    s = EditSession.open(run)
    s.close()
    assert not [p.name for p in run.parent.iterdir() if ".partial" in p.name]


# ------------------------------------------------------------------ sample GeoPackages (assessment inputs)
@pytest.fixture(scope="module")
def labelled_sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    classes = write_classes(folder / "map_classes.tif", blocky_map())
    spec = DesignSpec(sample_size=40, min_per_class=5, seed=1)
    out = create_sampling_design(classes, folder / "sample.gpkg", spec)
    ds = ogr.Open(out["path"])
    fids = [(f.GetFID(), f.GetField("map_code")) for f in ds.GetLayerByName("sample_points")]
    ds = None
    for fid, code in fids:
        write_label(out["path"], fid, "labelled", code, NAMES[code])
    return Path(out["path"])


@pytest.fixture
def sample(labelled_sample, tmp_path):
    import shutil

    shutil.copytree(labelled_sample.parent, tmp_path / "s")
    return tmp_path / "s" / labelled_sample.name


SAMPLE_EDITS = {
    "ref-code-300": ("UPDATE sample_points SET ref_code = 300 WHERE fid = 3", "point 3: 'ref_code' is 300"),
    "ref-code-negative": ("UPDATE sample_points SET ref_code = -1 WHERE fid = 3", "point 3: 'ref_code' is -1"),
    "ref-code-nodata": ("UPDATE sample_points SET ref_code = 255 WHERE fid = 3", "point 3: 'ref_code' is 255"),
    "map-code-null": ("UPDATE sample_points SET map_code = NULL WHERE fid = 4", "point 4: 'map_code' is None"),
    "map-code-300": ("UPDATE sample_points SET map_code = 300 WHERE fid = 4", "point 4: 'map_code' is 300"),
    "status-unknown": ("UPDATE sample_points SET status = 'maybe' WHERE fid = 5", "point 5: 'status' is 'maybe'"),
    "geometry-removed": ("UPDATE sample_points SET geom = NULL WHERE fid = 6", "point 6: it has no location"),
    "geometry-damaged": ("UPDATE sample_points SET geom = X'DEADBEEF00' WHERE fid = 6", "point 6: it has no"),
}


@pytest.mark.parametrize("kind", sorted(SAMPLE_EDITS))
def test_a_hand_edited_sample_is_refused_naming_the_point(sample, kind):
    sql, message = SAMPLE_EDITS[kind]
    _sql(sample, sql)
    before = snapshot(sample.parent)
    with pytest.raises(AssessmentError) as info:
        assess(sample=sample)
    text = str(info.value)
    assert "\n" not in text and text.startswith("the sample sample.gpkg is damaged or was edited by hand: "), text
    assert message in text, text
    assert_folder(sample.parent, before)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("not-a-geopackage", "cannot open"),
        ("empty-file", "cannot open"),
        ("points-layer-renamed", "has no layer 'sample_points'"),
    ],
)
def test_a_file_that_is_no_sample_is_refused(sample, kind, message):
    if kind == "not-a-geopackage":
        sample.write_text("id,ref\n1,2\n")
    elif kind == "empty-file":
        sample.write_bytes(b"")
    else:
        _sql(sample, "ALTER TABLE sample_points RENAME TO pts")
    before = snapshot(sample.parent)
    with pytest.raises(AssessmentError, match=message) as info:
        assess(sample=sample)
    assert "\n" not in str(info.value)
    assert_folder(sample.parent, before)


def test_the_untouched_sample_is_assessed(sample):
    """The fixtures are sound: the same sample, not edited, gives an assessment."""
    result, labels, _info = assess(sample=sample)
    assert labels.map_codes.size == 40 and np.array_equal(labels.map_codes, labels.ref_codes)
    assert result is not None


# ------------------------------------------------------------------ the run summary at the other doors
@pytest.mark.parametrize("field, value", [("outputs", ["x"]), ("model", "lite0"), ("input", 5)])
def test_corrections_refuse_a_hand_edited_run_summary(run, field, value):
    import json

    files = run_files(run)
    data = json.loads(files.summary.read_text())
    data[field] = value
    files.summary.write_text(json.dumps(data))
    before = snapshot(files.folder)
    with pytest.raises(EditError, match=f"^scene_summary.json: field '{field}' must be"):
        EditSession.open(run)
    assert_folder(files.folder, before)


def test_the_explain_page_refuses_a_hand_edited_run_summary(run):
    import json

    from eurosat_landcover.core.errors import ClassificationError
    from eurosat_landcover.core.inspect import Inspector

    files = run_files(run)
    data = json.loads(files.summary.read_text())
    data["band_mapping"] = {"bands": "1,2,3"}
    files.summary.write_text(json.dumps(data))
    with pytest.raises(ClassificationError, match=r"^scene_summary\.json: field 'band_mapping\.bands' must be"):
        Inspector.from_summary(files.summary, device="cpu")
