"""Raster and report exports: GeoTIFF/COG with colour table + names, QML/SLD, CSV/HTML, corrected maps,
accuracy assessments, overwrite rules, cancel and unwritable targets."""

from __future__ import annotations

import csv
import json
import os
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from eurosat_landcover import cli
from eurosat_landcover.core.export import ExportCancelled, ExportError, ExportOptions, export_run, load_run
from eurosat_landcover.core.export.run import parse_assessment
from export_testlib import CELL, CLASSES, class_array, write_run
from osgeo import gdal

gdal.UseExceptions()
SLD = "{http://www.opengis.net/sld}"


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run")


def _names_colours(path):
    ds = gdal.Open(str(path))
    ds.GetMetadata()
    b = ds.GetRasterBand(1)
    ct = b.GetColorTable()
    names = b.GetCategoryNames()
    return ds, names, ["#{:02x}{:02x}{:02x}".format(*ct.GetColorEntry(i)[:3]) for i in range(len(CLASSES))]


@pytest.mark.parametrize("fmt", ["gtiff", "cog"])
def test_styled_rasters(run, tmp_path, fmt):
    out = tmp_path / "out"
    export_run(run, out, ExportOptions(what=("raster",), raster_format=fmt))
    tif = out / "demo_landcover.tif"
    ds, names, colours = _names_colours(tif)
    assert names[: len(CLASSES)] == [n for n, _c in CLASSES]
    assert colours == [c for _n, c in CLASSES]
    assert ds.GetRasterBand(1).GetNoDataValue() == 255
    assert np.array_equal(ds.ReadAsArray(), class_array())
    if fmt == "cog":
        assert ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    # the SLD parses and carries every class with its colour
    root = ET.parse(out / "demo_landcover.sld").getroot()
    entries = root.findall(f".//{SLD}ColorMapEntry")
    assert [(e.get("label"), e.get("color"), e.get("quantity")) for e in entries] == [
        (n, c, str(i)) for i, (n, c) in enumerate(CLASSES)
    ]
    qml = ET.parse(out / "demo_landcover.qml").getroot()
    pal = qml.findall(".//paletteEntry")
    assert [(p.get("label"), p.get("color")) for p in pal] == CLASSES
    for part in ("confidence", "probabilities"):
        t = gdal.Open(str(out / f"demo_landcover_{part}.tif"))
        assert abs(t.GetRasterBand(1).GetScale() - 1 / 254) < 1e-9
        ET.parse(out / f"demo_landcover_{part}.sld")
        assert "singlebandpseudocolor" in (out / f"demo_landcover_{part}.qml").read_text()
    assert gdal.Open(str(out / "demo_landcover_probabilities.tif")).GetRasterBand(2).GetDescription() == "Forest"
    assert not list(out.glob(".export-*")) and not list(out.glob("*partial*"))


def test_report_csv_html(run, tmp_path):
    out = tmp_path / "out"
    res = export_run(run, out, ExportOptions(what=("report",), title="My <map>"))
    rows = list(csv.DictReader((out / "demo_landcover_areas.csv").open(encoding="utf-8")))
    cls = class_array()
    for i, (n, c) in enumerate(CLASSES):
        r = rows[i]
        assert (r["class_name"], r["color"], int(r["cells"])) == (n, c, int((cls == i).sum()))
        assert abs(float(r["area_km2"]) - (cls == i).sum() * CELL * CELL / 1e6) < 1e-6
    assert rows[-1]["class_name"] == "total" and abs(sum(float(r["percent"]) for r in rows[:-1]) - 100) < 0.01
    html = (out / "demo_landcover_report.html").read_text(encoding="utf-8")
    assert "My &lt;map&gt;" in html and "<svg" in html and "98.72 %" in html
    for n, c in CLASSES:
        assert n in html and c in html
    assert "adjusted" not in rows[0]
    assert res.areas["total_cells"] == int((cls != 255).sum())


def test_corrected_map_and_assessment_are_used(run, tmp_path):
    folder = run.parent
    corrected = folder / "demo_corrected.tif"
    shutil.copy(folder / "demo_classes.tif", corrected)
    shutil.copy(folder / "demo_classes.tif.aux.xml", folder / "demo_corrected.tif.aux.xml")
    ds = gdal.Open(str(corrected), gdal.GA_Update)
    a = ds.ReadAsArray()
    a[a == 2] = 1  # HerbaceousVegetation corrected to Forest
    ds.GetRasterBand(1).WriteArray(a)
    ds = None
    (folder / "demo_assessment.json").write_text(
        json.dumps(
            {
                "overall_accuracy": 0.91,
                "n": 300,
                "adjusted_area": {
                    "Forest": {"area_km2": 2.5, "ci95_km2": 0.4},
                    "AnnualCrop": {"area_km2": 1.0, "ci95_km2": 0.2},
                },
            }
        )
    )
    info = load_run(run)
    assert info.corrected and info.classes_path == corrected and info.assessment["overall_accuracy"] == 0.91
    out = tmp_path / "out"
    res = export_run(run, out, ExportOptions(what=("raster", "report")))
    assert any("corrected" in n for n in res.notes)
    exported = gdal.Open(str(out / "demo_landcover.tif")).ReadAsArray()
    assert not (exported == 2).any() and np.array_equal(exported, a)
    rows = list(csv.DictReader((out / "demo_landcover_areas.csv").open(encoding="utf-8")))
    forest = next(r for r in rows if r["class_name"] == "Forest")
    assert float(forest["adjusted_area_km2"]) == 2.5 and float(forest["ci95_km2"]) == 0.4
    assert float(forest["adjusted_low_km2"]) == pytest.approx(2.1)
    html = (out / "demo_landcover_report.html").read_text(encoding="utf-8")
    assert "corrected map demo_corrected.tif" in html and "demo_assessment.json" in html and "91.0 %" in html


def test_assessment_shapes():
    assert parse_assessment({"nothing": 1}) is None
    a = parse_assessment(
        {"accuracy": 0.8, "per_class": [{"class": "Forest", "adjusted_area_km2": 3, "ci_low_km2": 2, "ci_high_km2": 4}]}
    )
    assert a["rows"][0]["ci_km2"] == 1 and a["overall_accuracy"] == 0.8


def test_overwrite_rules_and_inputs_protected(run, tmp_path):
    out = tmp_path / "out"
    export_run(run, out, ExportOptions(what=("report",)))
    before = (out / "demo_landcover_areas.csv").stat().st_mtime_ns
    with pytest.raises(ExportError, match="already exist"):
        export_run(run, out, ExportOptions(what=("report",)))
    assert (out / "demo_landcover_areas.csv").stat().st_mtime_ns == before
    export_run(run, out, ExportOptions(what=("report",), overwrite=True))
    # exporting a bare class raster into its own folder never touches the run's files
    cls_tif = run.parent / "demo_classes.tif"
    res = export_run(cls_tif, run.parent, ExportOptions(what=("raster",), overwrite=True))
    assert cls_tif not in res.files
    assert np.array_equal(gdal.Open(str(cls_tif)).ReadAsArray(), class_array())
    assert not list(out.glob(".export-*"))


def test_cancel_leaves_nothing(run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 8

    with pytest.raises(ExportCancelled):
        export_run(run, out, ExportOptions(what=("raster", "polygons", "report")), is_cancelled=cancel)
    assert list(out.iterdir()) == []


def test_unwritable_target_leaves_nothing(run, tmp_path, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        if os.access(out, os.W_OK):  # root ignores permission bits: make the OS's answer explicit
            real_mkdir = type(out).mkdir

            def refuse(self, *a, **k):
                if self.parent == out:
                    raise PermissionError(13, "Permission denied", str(self))
                return real_mkdir(self, *a, **k)

            monkeypatch.setattr(type(out), "mkdir", refuse)
        with pytest.raises(ExportError, match="cannot write in"):
            export_run(run, out, ExportOptions(what=("raster", "polygons", "report")))
    finally:
        out.chmod(0o755)
    assert list(out.iterdir()) == []


def test_failure_during_rename_takes_back_the_renamed_files(run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = os.replace
    n = []

    def flaky(a, b):
        n.append(1)
        if len(n) == 3:
            raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(ExportError, match="No space left"):
        export_run(run, out, ExportOptions(what=("raster",)))
    assert list(out.iterdir()) == []


def test_cli_export(run, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        [
            "export",
            str(run),
            str(out),
            "--what",
            "raster,polygons,report",
            "--format",
            "cog",
            "--mmu-ha",
            "2",
            "--dissolve",
            "--vector-format",
            "geojson",
        ]
    )
    cap = capsys.readouterr()
    assert code == 0, cap.err
    data = json.loads(cap.out)
    assert data["polygons"]["dissolved"] and data["polygons"]["mmu_cells"] == 2
    assert (out / "demo_landcover_polygons.geojson").is_file() and "%" in cap.err
    assert cli.main(["export", str(run), str(out), "--what", "report"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert cli.main(["export", str(run), str(out), "--what", "raster,bogus"]) == 2
    assert "--what takes" in capsys.readouterr().err


def test_cli_map_without_qgis_says_so_in_one_line(run, tmp_path, capsys, monkeypatch):
    from eurosat_landcover.cli import export as cli_export

    monkeypatch.setattr(cli_export, "qgis_available", lambda: False)
    out = tmp_path / "out"
    assert cli.main(["export", str(run), str(out), "--what", "map", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("map: not made") and "QGIS" in err[0]
    assert cli.main(["export", str(run), str(out), "--what", "report,map", "--quiet"]) == 0
    assert (out / "demo_landcover_report.html").is_file() and "map: not made" in capsys.readouterr().err


def test_assessment_in_the_assessment_schema(run, tmp_path):
    """``<map stem>_assessment.json`` as core/accuracy/report.py writes it (schema eurosat_landcover.assessment/1)."""
    folder = run.parent
    data = {
        "schema": "eurosat_landcover.assessment/1",
        "map": str(folder / "demo_classes.tif"),
        "overall_accuracy": 0.875,
        "n": 240,
        "classes": [
            {
                "class": n,
                "code": i,
                "color": c,
                "mapped_km2": 1.0,
                "adjusted_area_km2": 1.0 + i / 10,
                "se_km2": 0.05,
                "ci95_km2": 0.098,
                "ci95_low_km2": 0.902 + i / 10,
                "ci95_high_km2": 1.098 + i / 10,
                "users_accuracy": 0.9,
                "producers_accuracy": 0.8,
            }
            for i, (n, c) in enumerate(CLASSES)
        ],
    }
    (folder / "demo_classes_assessment.json").write_text(json.dumps(data))
    (folder / "other_assessment.json").write_text(json.dumps({**data, "map": "elsewhere.tif", "overall_accuracy": 0.1}))
    info = load_run(run)
    assert info.assessment_path.name == "demo_classes_assessment.json" and info.assessment["n"] == 240
    res = export_run(run, tmp_path / "out", ExportOptions(what=("report",)))
    rows = list(csv.DictReader((tmp_path / "out" / "demo_landcover_areas.csv").open(encoding="utf-8")))
    assert float(rows[3]["adjusted_area_km2"]) == pytest.approx(1.3)
    assert float(rows[3]["adjusted_high_km2"]) == pytest.approx(1.398)
    html = (tmp_path / "out" / "demo_landcover_report.html").read_text(encoding="utf-8")
    assert "87.5 %" in html and "240 reference samples" in html and "± 0.10" in html
    assert res.to_dict()["assessment"].endswith("demo_classes_assessment.json")


def test_corrected_raster_given_directly(run, tmp_path):
    folder = run.parent
    shutil.copy(folder / "demo_classes.tif", folder / "demo_corrected.tif")
    shutil.copy(folder / "demo_classes.tif.aux.xml", folder / "demo_corrected.tif.aux.xml")
    info = load_run(folder / "demo_corrected.tif")
    assert info.corrected and info.name == "demo" and info.summary_path == run
    assert info.confidence_path == folder / "demo_confidence.tif"


def test_a_real_correction_of_issue_11_is_exported(run, tmp_path):
    """A recode made with core.edits (the Review & correct tool's engine) writes <run>_corrected.tif;
    the export takes it, counts its areas and polygonises it."""
    from eurosat_landcover.core.edits import Edit, EditSession

    session = EditSession.open(run.parent / "demo_classes.tif")
    try:
        session.apply(Edit(tool="recode", geometry_wkt=None, recode={2: 1}))
    finally:
        session.close()
    assert (run.parent / "demo_corrected.tif").is_file()
    info = load_run(run)
    assert info.corrected and info.classes_path.name == "demo_corrected.tif"
    assert not any("revision" in n for n in info.notes)
    res = export_run(run, tmp_path / "out", ExportOptions(what=("polygons", "report")))
    areas = {r["class_name"]: r["cells"] for r in res.areas["rows"]}
    cls = class_array()
    assert areas["HerbaceousVegetation"] == 0 and areas["Forest"] == int(((cls == 1) | (cls == 2)).sum())
    assert "HerbaceousVegetation" not in res.polygons["area_ha"]


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_in_a_headless_browser(run, tmp_path):
    """The HTML report opened in real headless chromium: the screenshot shows the bars in the class colours."""
    import subprocess

    browser = _browser()
    if browser is None:
        pytest.skip("no chromium here (apt-get install chromium)")
    out = tmp_path / "out"
    export_run(run, out, ExportOptions(what=("report",)))
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=900,700",
            f"--screenshot={shot}",
            (out / "demo_landcover_report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), proc.stderr[-2000:]
    img = gdal.Open(str(shot)).ReadAsArray()[:3].reshape(3, -1).T
    colours = {"#{:02x}{:02x}{:02x}".format(*p) for p in np.unique(img, axis=0)}
    cls = class_array()
    drawn = {c for i, (_n, c) in enumerate(CLASSES) if (cls == i).any()}
    assert drawn <= colours, sorted(drawn - colours)


def test_report_separates_patch_accuracy_from_this_maps_assessed_accuracy(run, tmp_path):
    """Issue 22: the model's accuracy on EuroSAT test patches is never presented as the map's; the map's
    assessed accuracy is shown whenever an assessment of that map exists."""
    export_run(run, tmp_path / "a", ExportOptions(what=("report",)))
    html = (tmp_path / "a" / "demo_landcover_report.html").read_text(encoding="utf-8")
    assert "this map&#x27;s accuracy: not assessed" in html and "accuracy on EuroSAT test patches 98.7 %" in html
    assert "measured accuracy" not in html
    (run.parent / "demo_classes_assessment.json").write_text(
        json.dumps(
            {
                "map": "demo_classes.tif",
                "overall_accuracy": 0.756,
                "n": 412,
                "adjusted_area": {"Forest": {"area_km2": 2.5, "ci95_km2": 0.4}},
            }
        )
    )
    export_run(run, tmp_path / "b", ExportOptions(what=("report",)))
    html = (tmp_path / "b" / "demo_landcover_report.html").read_text(encoding="utf-8")
    line = html[html.index('<p id="accuracy">') :].split("</p>")[0]
    assert "this map&#x27;s assessed accuracy 75.6 % (412 reference samples)" in line
    assert line.index("75.6 %") < line.index("accuracy on EuroSAT test patches 98.7 %")
