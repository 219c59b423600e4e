"""Outputs: an output never replaces an input; an existing file needs overwrite; the file
set of a run name is consistent after every run; stale temporary files of killed runs are swept;
a failed run leaves the folder as it was (folders it created included). Real GeoTIFFs, the bundled
model through the CLI, the brightness stand-in through the API."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from engine_testlib import BrightnessModel, make_card
from eurosat_landcover import cli
from eurosat_landcover.core import writers
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from hardening_testlib import assert_folder, one_error_line, run_set, small_rgb, snapshot


def _cli(capsys, *args):
    rc = cli.main(["classify", *map(str, args), "--device", "cpu", "--mode", "windows", "--stride", "64", "--quiet"])
    out, err = capsys.readouterr()
    return rc, out, err


def _req(src, out, **kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("mode", "windows")  # the windows engine (map mode: tests/core/test_map_mode.py)
    kw.setdefault("stride", 64)
    return ClassificationRequest(src, out, **kw)


def _model():
    return BrightnessModel(), make_card()


# ---------------------------------------------------------------------- 1. inputs are never replaced
@pytest.mark.parametrize("overwrite", [False, True])
def test_output_name_equal_to_the_input_is_refused(tmp_path, capsys, overwrite):
    src = small_rgb(tmp_path / "scene_classes.tif")
    before = snapshot(tmp_path)
    rc, out, err = _cli(capsys, src, tmp_path, "--name", "scene", *(["--overwrite"] if overwrite else []))
    assert rc == 2 and out == ""
    line = one_error_line(err)
    assert line.startswith("error: the output scene_classes.tif would replace the input file")
    assert "outputs never replace inputs" in line
    assert_folder(tmp_path, before)


def test_a_vrt_source_is_an_input_too(tmp_path):
    from osgeo import gdal

    small_rgb(tmp_path / "x_confidence.tif")
    gdal.BuildVRT(str(tmp_path / "mosaic.vrt"), [str(tmp_path / "x_confidence.tif")]).FlushCache()
    before = snapshot(tmp_path)
    with pytest.raises(ClassificationError, match=r"x_confidence.tif would replace the input file .*x_confidence.tif"):
        classify(_req(tmp_path / "mosaic.vrt", tmp_path, name="x", overwrite=True), model=_model())
    assert_folder(tmp_path, before)


def test_existing_output_needs_overwrite(tmp_path, capsys):
    src = small_rgb(tmp_path / "in.tif")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    rc, _, _ = _cli(capsys, src, out)
    assert rc == 0
    assert_folder(out, before, run_set("in"))
    first = snapshot(out)
    rc, stdout, err = _cli(capsys, src, out)  # the same run again: refused, nothing touched
    assert rc == 2 and stdout == ""
    line = one_error_line(err)
    assert "already exist in" in line and "--overwrite" in line and "in_classes.tif" in line
    assert_folder(out, first)
    rc, _, _ = _cli(capsys, src, out, "--overwrite")
    assert rc == 0
    assert set(snapshot(out)) == set(first)


def test_a_users_file_with_an_output_name_is_not_replaced(tmp_path):
    src = small_rgb(tmp_path / "in.tif")
    out = tmp_path / "out"
    out.mkdir()
    (out / "in_summary.json").write_text('{"my": "own notes"}')
    before = snapshot(out)
    with pytest.raises(ClassificationError, match=r"^in_summary.json already exists in .*allow overwriting"):
        classify(_req(src, out), model=_model())
    assert_folder(out, before)


def test_a_file_created_during_the_run_is_not_replaced(tmp_path):
    """Checked at the start and again at the rename (no-replace link): a concurrent run or a user
    who creates an output name meanwhile keeps the file; this run fails and places nothing."""
    src = small_rgb(tmp_path / "in.tif")
    out = tmp_path / "out"

    def progress(p):
        if p.stage == "overviews":
            (out / "in_confidence.tif").write_text("someone else's")

    with pytest.raises(ClassificationError, match=r"in_confidence.tif was created in .* during the run"):
        classify(_req(src, out), progress, model=_model())
    assert snapshot(out) == {"in_confidence.tif": snapshot(out)["in_confidence.tif"]}
    assert (out / "in_confidence.tif").read_text() == "someone else's"


# ---------------------------------------------------------------------- 5. one consistent set per run name
def test_rerun_with_other_options_leaves_exactly_the_new_set(tmp_path, capsys):
    src = small_rgb(tmp_path / "in.tif")
    out = tmp_path / "out"
    out.mkdir()
    (out / "other_classes.tif").write_text("another run name: not ours to touch")
    before = snapshot(out)
    rc, _, _ = _cli(capsys, src, out)
    assert rc == 0
    # QGIS builds external overviews (.ovr) on request: stale ones would show the old run's data
    (out / "in_classes.tif.ovr").write_bytes(b"old pyramids")
    rc, stdout, _ = _cli(capsys, src, out, "--no-probabilities", "--overwrite")
    assert rc == 0
    assert_folder(out, before, run_set("in", probabilities=False))
    assert "probabilities" not in __import__("json").loads(stdout)["outputs"]


# ---------------------------------------------------------------------- 4. stale partial files, signals
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_partials_of_killed_runs_are_swept_and_nothing_else(tmp_path):
    src = small_rgb(tmp_path / "in.tif")
    out = tmp_path / "out"
    out.mkdir()
    dead, host = _dead_pid(), writers.host_tag()
    other_host = f"{(int(host, 16) + 1) % 65536:04x}"
    stale = [
        f"old_classes.tif.{dead}-{host}-0123abcd.partial.tif",
        f"old_classes.tif.{dead}-{host}-0123abcd.partial.tif.aux.xml",
        f"old_summary.json.{dead}-{host}-0123abcd.partial",
    ]
    kept = [
        f"live_classes.tif.{os.getpid()}-{host}-0123abcd.partial.tif",  # a live run (this process)
        f"far_classes.tif.{dead}-{other_host}-0123abcd.partial.tif",  # another machine's: cannot tell
        "mine.partial.tif",  # not the plugin's pattern
        "old_classes.tif",
    ]
    for name in stale + kept:
        (out / name).write_text("x")
    before = snapshot(out)
    classify(_req(src, out), model=_model())
    after = snapshot(out)
    assert set(after) == (set(before) - set(stale)) | run_set("in")
    assert writers.PARTIAL_RE.match(stale[0]) and not writers.PARTIAL_RE.match("mine.partial.tif")


def _start_cli_run(tmp_path, out):
    """A CLI run in a child process, long enough to be stopped while it writes (stride 8)."""
    src = small_rgb(tmp_path / "big.tif", size=1024)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "eurosat_landcover",
        "classify",
        str(src),
        str(out),
        "--mode",
        "windows",
        "--stride",
        "8",
    ]
    cmd += ["--device", "cpu", "--quiet", "--batch-size", "16", "--fast-path", "off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    import time

    t0 = time.monotonic()
    while not any(".partial" in p.name for p in out.glob("*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 90, "the run did not start writing"
        time.sleep(0.02)
    return proc


def test_sigterm_stops_like_ctrl_c_and_removes_partials(tmp_path):
    import signal

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = snapshot(out)
    proc = _start_cli_run(tmp_path, out)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert one_error_line(stderr) == "terminated by SIGTERM: partial outputs removed"
    assert stdout == ""
    assert_folder(out, before)


def test_partials_left_by_sigkill_are_swept_by_the_next_run(tmp_path, capsys):
    import signal

    out = tmp_path / "out"
    out.mkdir()
    proc = _start_cli_run(tmp_path, out)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert any(".partial" in name for name in snapshot(out))  # what a killed run leaves
    src = small_rgb(tmp_path / "in.tif")
    rc, _, _ = _cli(capsys, src, out)
    assert rc == 0
    assert set(snapshot(out)) == run_set("in")


# ---------------------------------------------------------------------- 8. folders a failed run created
def test_failed_run_into_a_new_folder_removes_the_folders_it_created(tmp_path):
    src = small_rgb(tmp_path / "in.tif")
    (tmp_path / "exists").mkdir()
    before = snapshot(tmp_path)
    for out in (tmp_path / "a" / "b" / "c", tmp_path / "exists" / "d" / "e"):
        with pytest.raises(RuntimeError, match="boom"):  # the real error, not a clean-up error
            classify(_req(src, out), model=(BrightnessModel(fail_on_call=1), make_card()))
        assert_folder(tmp_path, before)
        assert not (tmp_path / "a").exists() and not (tmp_path / "exists" / "d").exists()
    assert (tmp_path / "exists").is_dir()


# ---------------------------------------------------------------------- a full disk
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs setrlimit in a child process")
def test_a_full_disk_is_an_error_not_a_truncated_output(tmp_path):
    """Writes that fail only when GDAL flushes its block cache or closes the file (a full disk, a
    file-size limit) once gave exit 0 and truncated GeoTIFFs; here the file-size limit of the child
    process stands in for a full disk."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    src = small_rgb(tmp_path / "in.tif", size=256)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "eurosat_landcover",
        "classify",
        str(src),
        str(out),
        "--mode",
        "windows",
        "--stride",
        "16",
    ]
    cmd += ["--device", "cpu", "--quiet", "--float-probabilities", "--fast-path", "off"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit, env=env, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    line = one_error_line(proc.stderr)
    assert line.startswith("error: cannot write in_") and line.endswith("(disk full?)")
    assert not out.exists()  # nothing half-written, and the folder it created is gone
