"""Issue 27, export: hand-edited or tampered run summaries, a summary whose class map is another output,
a classify-many result, odd numbers for the options and the minimum mapping unit. Each refusal: exit
code 2, one line on stderr, nothing on stdout, the run folder and the existing exports unchanged and
nothing partial left (hidden staging folders included: the snapshot lists every file)."""

from __future__ import annotations

import json
import math

import pytest
from eurosat_landcover import cli
from eurosat_landcover.core.export import ExportError, ExportOptions, export_run
from export_testlib import write_run
from hardening_testlib import assert_folder, one_error_line, snapshot


@pytest.fixture
def run(tmp_path):
    """A run folder and an output folder that already holds an export of the user's."""
    summary = write_run(tmp_path / "run")
    out = tmp_path / "out"
    out.mkdir()
    (out / "demo_landcover_areas.csv").write_text("mine\n")
    return summary


def _export_error(capsys, tmp_path, source, *args) -> str:
    before = snapshot(tmp_path)
    rc = cli.main(["export", str(source), str(tmp_path / "out"), *map(str, args), "--quiet", "--overwrite"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "", err
    line = one_error_line(err)
    assert line.startswith("error: ") and "Traceback" not in err and "run with --debug" not in line, line
    assert_folder(tmp_path, before)
    return line


def _tamper(summary_path, change) -> None:
    data = json.loads(summary_path.read_text())
    change(data, summary_path.parent)
    summary_path.write_text(json.dumps(data))


def _set(path: str, value):
    def change(d, _folder):
        *parents, last = path.split(".")
        node = d
        for p in parents:
            node = node[p]
        node[last] = value

    return change


# ------------------------------------------------------------------ hand-edited run summaries (the door)
SUMMARY_EDITS = {
    "outputs-a-list": (_set("outputs", ["a.tif"]), "field 'outputs' must be an object"),
    "classes-a-number": (_set("outputs.classes", 5), "field 'outputs.classes' must be a file path"),
    "classes-with-nul": (_set("outputs.classes", "a\0b.tif"), "field 'outputs.classes' must be a file path"),
    "confidence-a-list": (_set("outputs.confidence", ["x"]), "field 'outputs.confidence' must be a file path"),
    "input-a-list": (_set("input", [1, 2]), "field 'input' must be an object"),
    "input-path-a-number": (_set("input.path", 7), "field 'input.path' must be text"),
    "input-crs-a-dict": (_set("input.crs", {"epsg": 1}), "field 'input.crs' must be text"),
    "request-text": (_set("request", "stride=64"), "field 'request' must be an object"),
    "grid-a-list": (_set("grid", [1]), "field 'grid' must be an object"),
    "cell-size-text": (_set("grid.cell_size_m", "100"), "field 'grid.cell_size_m' must be two positive numbers"),
    "cell-size-negative": (_set("grid.cell_size_m", [-1, 1]), "field 'grid.cell_size_m' must be two positive"),
    "cell-size-three": (_set("grid.cell_size_m", [1, 1, 1]), "field 'grid.cell_size_m' must be two positive"),
    "stride-float": (_set("grid.stride_px", 10.5), "field 'grid.stride_px' must be a whole number"),
    "band-mapping-text": (_set("band_mapping", "1,2,3"), "field 'band_mapping' must be an object"),
    "bands-text": (_set("band_mapping.bands", "123"), "field 'band_mapping.bands' must be a list of whole numbers"),
    "radiometry-a-list": (_set("radiometry", []), "field 'radiometry' must be an object"),
    "radiometry-method-number": (_set("radiometry.method", 8), "field 'radiometry.method' must be text"),
    "model-text": (_set("model", "lite0"), "field 'model' must be an object"),
    "model-title-dict": (_set("model.title", {"x": 1}), "field 'model.title' must be text"),
    "model-bands-text": (_set("model.bands", "B04"), "field 'model.bands' must be a list of texts"),
    "model-patch-float": (_set("model.patch_size", 64.5), "field 'model.patch_size' must be a whole number"),
    "model-gsd-nan": (_set("model.gsd_m", math.nan), "field 'model.gsd_m' must be a finite number"),
    "model-gsd-text": (_set("model.gsd_m", "10"), "field 'model.gsd_m' must be a finite number"),
    "model-metrics-list": (_set("model.metrics", [0.9]), "field 'model.metrics' must be an object"),
    "model-card-number": (_set("model.card", 3), "field 'model.card' must be text"),
    "area-negative": (_set("area_km2", {"Forest": -1.0}), "field 'area_km2' must be class name -> finite area"),
    "area-infinite": (_set("area_km2", {"Forest": math.inf}), "field 'area_km2' must be class name -> finite area"),
    "area-text": (_set("area_km2", {"Forest": "lots"}), "field 'area_km2' must be class name -> finite area"),
    "windows-a-list": (_set("windows", [100]), "field 'windows' must be an object"),
    "warnings-text": (_set("warnings", "careful"), "field 'warnings' must be a list of texts"),
    "created-a-number": (_set("created_utc", 2026), "field 'created_utc' must be text"),
    "device-a-list": (_set("device", ["cpu"]), "field 'device' must be text"),
}


@pytest.mark.parametrize("kind", sorted(SUMMARY_EDITS))
def test_a_hand_edited_summary_is_refused_naming_the_field(tmp_path, capsys, run, kind):
    change, message = SUMMARY_EDITS[kind]
    _tamper(run, change)
    line = _export_error(capsys, tmp_path, run)
    assert line.startswith(f"error: {run.name}: {message}"), line
    assert "was the file edited?" in line


RAW_SUMMARIES = {
    "empty-file": (b"", "cannot read the run summary demo_summary.json"),
    "not-json": (b"{outputs: 1", "cannot read the run summary demo_summary.json"),
    "binary": (b"\xff\xfe\x00\x01garbage", "cannot read the run summary demo_summary.json"),
    "deeply-nested": (b"[" * 100000 + b"]" * 100000, "cannot read the run summary demo_summary.json"),
    "top-level-list": (b"[1, 2]", "demo_summary.json is not a run summary (not a JSON object)"),
    "no-outputs": (b'{"engine": "x"}', "demo_summary.json is not a run summary (no 'outputs')"),
}


@pytest.mark.parametrize("kind", sorted(RAW_SUMMARIES))
def test_a_summary_that_is_not_one_is_refused(tmp_path, capsys, run, kind):
    text, message = RAW_SUMMARIES[kind]
    run.write_bytes(text)
    line = _export_error(capsys, tmp_path, run)
    assert line.startswith(f"error: {message}"), line


# ------------------------------------------------------------------ 6. the class map must be a class map
CLASS_MAPS = {
    "probabilities": ("demo_probabilities.tif", "is not a class map (10 band(s) of Byte, scaled)"),
    "confidence": ("demo_confidence.tif", "demo_confidence.tif is named as the run's class map and as another"),
    "the-summary-itself": ("demo_summary.json", "GDAL cannot open"),
    "missing": ("gone_classes.tif", "the class raster of demo_summary.json is missing"),
}


@pytest.mark.parametrize("kind", sorted(CLASS_MAPS))
def test_a_summary_whose_class_map_is_another_file(tmp_path, capsys, run, kind):
    name, message = CLASS_MAPS[kind]

    def change(d, folder):
        d["outputs"]["classes"] = str(folder / name)
        if kind == "probabilities":  # and no longer listed as the probabilities: the raster itself is checked
            del d["outputs"]["probabilities"]

    _tamper(run, change)
    line = _export_error(capsys, tmp_path, run)
    assert message in line, line


def test_the_probabilities_given_as_the_map_are_refused(tmp_path, capsys, run):
    """A bare raster too: the probabilities are no class map (it exported 158 "classes")."""
    line = _export_error(capsys, tmp_path, run.parent / "demo_probabilities.tif")
    assert "demo_probabilities.tif is not a class map" in line


# ------------------------------------------------------------------ numbers, checked where they are parsed
NUMBERS = {
    "mmu-nan": (["--mmu-ha", "nan"], "error: --mmu-ha must be a finite number from 0 to 1e+07, got nan"),
    "mmu-inf": (["--mmu-ha", "inf"], "error: --mmu-ha must be a finite number from 0 to 1e+07, got inf"),
    "mmu-minus-inf": (["--mmu-ha=-inf"], "error: --mmu-ha must be a finite number from 0 to 1e+07, got -inf"),
    "mmu-negative": (["--mmu-ha", "-1"], "error: --mmu-ha must be a finite number from 0 to 1e+07, got -1.0"),
    "mmu-huge": (["--mmu-ha", "1e12"], "error: --mmu-ha must be a finite number from 0 to 1e+07, got 1000000000000.0"),
    "dpi-zero": (["--dpi", "0"], "error: --dpi must be a whole number from 30 to 1200, got 0"),
    "dpi-negative": (["--dpi", "-300"], "error: --dpi must be a whole number from 30 to 1200, got -300"),
    "dpi-huge": (["--dpi", "100000"], "error: --dpi must be a whole number from 30 to 1200, got 100000"),
    "what-unknown": (["--what", "raster,pdf"], "error: --what takes a comma-separated list of raster"),
    "what-empty": (["--what", ","], "error: --what takes a comma-separated list of raster"),
}


@pytest.mark.parametrize("kind", sorted(NUMBERS))
def test_odd_option_values_are_one_line(tmp_path, capsys, run, kind):
    args, message = NUMBERS[kind]
    line = _export_error(capsys, tmp_path, run, *args)
    assert line.startswith(message), line


@pytest.mark.parametrize("mmu", [math.nan, math.inf, -0.5])
def test_api_minimum_mapping_unit_is_checked(tmp_path, run, mmu):
    before = snapshot(tmp_path)
    with pytest.raises(ExportError, match=r"^the minimum mapping unit \(mmu_ha\) must be a finite number"):
        export_run(run, tmp_path / "out", ExportOptions(what=("polygons",), mmu_ha=mmu, overwrite=True))
    assert_folder(tmp_path, before)


# ------------------------------------------------------------------ 4. the minimum mapping unit
def test_the_minimum_mapping_unit_only_ever_merges(tmp_path):
    """Polygons never grow in number as the MMU grows, and a large MMU is applied, not skipped (GDAL's
    one-pass sieve returned this map unsieved at 20,000 ha: 33 polygons)."""
    summary = write_run(tmp_path / "run", w=200, h=150, seed=7)
    counts = []
    for mmu in (0, 2, 50, 400, 1600, 3000, 20000):
        res = export_run(summary, tmp_path / f"out{mmu}", ExportOptions(what=("polygons",), mmu_ha=mmu))
        counts.append(res.polygons["polygons"])
    assert counts == sorted(counts, reverse=True), counts
    assert counts[-1] < counts[0] and counts[-1] <= 2, counts


def test_an_mmu_larger_than_the_map_is_refused(tmp_path, capsys, run):
    line = _export_error(capsys, tmp_path, run, "--what", "polygons", "--mmu-ha", "5000")
    assert line.startswith("error: the minimum mapping unit of 5000 ha is larger than the whole classified map")


# ------------------------------------------------------------------ 5. a classify-many result exports
def test_a_classify_many_summary_exports_its_report(tmp_path, capsys):
    """The per-raster summary classify-many writes (core/scaleout/mosaic.raster_summary: ``input`` is the
    path as text) crashed the report with "'str' object has no attribute 'get'"."""
    from types import SimpleNamespace

    from eurosat_landcover.core.scaleout.mosaic import raster_summary
    from eurosat_landcover.core.stages.model import read_card

    summary = write_run(tmp_path / "run")
    outputs = {k: v for k, v in json.loads(summary.read_text())["outputs"].items() if k in ("classes", "confidence")}
    plan = SimpleNamespace(  # the plan's fields raster_summary reads (core/scaleout/blocks.RasterPlan)
        name="demo",
        input_path="/data/tile_7.tif",
        blocks=[0, 1],
        cell_geotransform=(500000.0, 100.0, 0.0, 5000000.0, 0.0, -100.0),
        grid=SimpleNamespace(ncx=60, ncy=40),
        windows=100,
    )
    counts = [[10] * 10, [5] * 10]
    markers = [{"class_counts": c, "windows": {"classified": 50, "skipped_nodata": 0}, "seconds": 1.0} for c in counts]
    many = raster_summary(plan, markers, read_card(None), outputs)
    assert isinstance(many["input"], str)
    summary.write_text(json.dumps(many))
    rc = cli.main(["export", str(summary), str(tmp_path / "out"), "--what", "report", "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    html = (tmp_path / "out" / "demo_landcover_report.html").read_text()
    assert "/data/tile_7.tif" in html
    assert json.loads(out)["files"]


# ------------------------------------------------------------------ a full disk while writing the report
@pytest.mark.parametrize("what, limit", [("report", 3000), ("raster", 2000), ("raster", 8000), ("polygons", 60000)])
def test_a_full_disk_during_the_export_is_one_line_and_leaves_nothing(tmp_path, run, what, limit):
    """The file-size limit of the process (RLIMIT_FSIZE) makes a write fail as a full disk does: the
    report's HTML (a Python write) raised a raw OSError; now one line, the old export in place."""
    import subprocess
    import sys

    from hardening_testlib import ROOT

    script = (
        "import resource, signal, sys\n"
        "from eurosat_landcover import cli\n"
        "from eurosat_landcover.core import export\n"
        "from eurosat_landcover.core.export import polygons, raster, report\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    before = snapshot(tmp_path)
    args = ["export", str(run), str(tmp_path / "out"), "--what", what, "--quiet", "--overwrite"]
    env = {"PYTHONPATH": str(ROOT / ".pp"), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-P", "-c", script, *args], env=env, capture_output=True, timeout=300)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and proc.stdout == b"", err
    line = one_error_line(err)
    assert line.startswith("error: ") and "run with --debug" not in line, line
    if what == "report":
        assert line.startswith(f"error: cannot write the exports in {tmp_path / 'out'}: File too large"), line
    assert_folder(tmp_path, before)
