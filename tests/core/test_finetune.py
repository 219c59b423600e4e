"""Fine-tuning from the analyst's labels: labels from edit logs and layers, the CLI, and its refusals.

Real files throughout: the bundled sample mosaic (EuroSAT test patches, truth per 64 px block), GeoPackages
written with OGR, edit logs written by core/edits, the bundled model fine-tuned for real (a short recipe).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eurosat_landcover.cli import main as cli_main
from osgeo import ogr, osr

REPO = Path(__file__).resolve().parents[2]
MOSAIC = REPO / "sample_data" / "eurosat_mosaic_rgb.tif"
TRUTH = json.loads((REPO / "sample_data" / "eurosat_mosaic_rgb_truth.json").read_text())


def write_points(path: Path, rows, field="landcover", epsg=32632, geom_type=ogr.wkbPoint) -> Path:
    """A GeoPackage layer: ``rows`` = [(wkt, value)]."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("labels", srs, geom_type)
    lyr.CreateField(ogr.FieldDefn(field, ogr.OFTString))
    for wkt, value in rows:
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        f.SetField(field, str(value))
        lyr.CreateFeature(f)
    ds = None
    return path


def block_points(blocks, dx=0.0, dy=0.0):
    out = []
    for b in blocks:
        x0, y0, x1, y1 = b["bounds"]
        out.append((f"POINT ({(x0 + x1) / 2 + dx} {(y0 + y1) / 2 + dy})", b["class"]))
    return out


def run_cli(args, capsys):
    code = cli_main(["finetune", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def folder_state(folder: Path) -> dict:
    return {p.name: p.stat().st_size for p in folder.iterdir()}


QUICK = ["--epochs", "2", "--replay-per-class", "3", "--selection-per-class", "3", "--test-every", "60"]
QUICK += ["--threads", "1", "--quiet"]


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    "case, expected",
    [
        ("outside", "lies on data of"),
        ("unknown_class", "map to no class of the model"),
        ("one_class", "at least 2 classes"),
        ("empty", "has no feature with a geometry"),
        ("corrupt_log", "cannot read"),
    ],
)
def test_bad_labels_get_one_sentence_and_no_file(tmp_path, capsys, eurosat_rgb_zip, case, expected):
    labels = tmp_path / "labels.gpkg"
    blocks = TRUTH["blocks"][:20]
    if case == "outside":
        write_points(labels, block_points(blocks, dx=1e6))
    elif case == "unknown_class":
        write_points(labels, [*block_points(blocks), ("POINT (480320 5299680)", "Glacier")])
    elif case == "one_class":
        write_points(labels, [(wkt, "Forest") for wkt, _ in block_points(blocks)])
    elif case == "empty":
        write_points(labels, [])
    elif case == "corrupt_log":
        labels = tmp_path / "run_edits.gpkg"
        labels.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    before = folder_state(tmp_path)
    code, out, err = run_cli(
        [MOSAIC, labels, tmp_path / "new.json", "--class-field", "landcover", "--replay-data", eurosat_rgb_zip, *QUICK],
        capsys,
    )
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert "Traceback" not in err and out == ""
    assert folder_state(tmp_path) == before


def test_the_progress_bar_takes_fine_tuning_s_reports(tmp_path, capsys, eurosat_rgb_zip):
    """Without --quiet the CLI's bar gets fine-tuning's progress (core.progress.Progress, as from the engine):
    it once took two numbers and failed with a TypeError on the first report; here the run reaches the
    refusal that comes after that report."""
    labels = write_points(tmp_path / "labels.gpkg", block_points(TRUTH["blocks"][:20], dx=1e6))
    quick = [a for a in QUICK if a != "--quiet"]
    args = [MOSAIC, labels, tmp_path / "new.json", "--class-field", "landcover", "--replay-data", eurosat_rgb_zip]
    code, out, err = run_cli([*args, *quick], capsys)
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "reading 20 window(s)" in err and "TypeError" not in err, err
    assert lines[-1].startswith("error: ") and "lies on data of" in lines[-1] and out == ""


def test_too_few_examples_and_existing_output_refused(tmp_path, capsys, eurosat_rgb_zip):
    labels = write_points(tmp_path / "few.gpkg", block_points(TRUTH["blocks"][:4]))
    code, _, err = run_cli([MOSAIC, labels, tmp_path / "n.json", "--class-field", "landcover", *QUICK], capsys)
    assert code == 2 and "at least 10" in err
    existing = tmp_path / "exists.json"
    existing.write_text("{}")
    labels = write_points(tmp_path / "ok.gpkg", block_points(TRUTH["blocks"][:30]))
    code, _, err = run_cli([MOSAIC, labels, existing, "--class-field", "landcover", *QUICK], capsys)
    assert code == 2 and "exists" in err and existing.read_text() == "{}"


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--time-limit", "nan", "--time-limit must be a finite number of at least 1, got nan"),
        ("--epochs", "-1", "--epochs must be a whole number of at least 0, got -1"),
        ("--threads", "0", "--threads must be a whole number of at least 1, got 0"),
        ("--replay-per-class", "-1", "--replay-per-class must be a whole number of at least 0, got -1"),
    ],
)
def test_bad_numeric_options_are_one_line_and_write_nothing(tmp_path, capsys, option, value, words):
    labels = write_points(tmp_path / "ok.gpkg", block_points(TRUTH["blocks"][:30]))
    before = folder_state(tmp_path)
    code, out, err = run_cli([MOSAIC, labels, tmp_path / "n.json", "--class-field", "landcover", option, value], capsys)
    assert code == 2 and out == "" and err.strip() == f"error: {words}"
    assert folder_state(tmp_path) == before


# ----------------------------------------------------------------------------- labels
def test_polygons_give_several_windows_and_codes_map(tmp_path):
    from eurosat_landcover.core.finetune.labels import read_labels
    from eurosat_landcover.models.card import eurosat_classes

    names = [c.name for c in eurosat_classes()]
    b = TRUTH["blocks"][0]
    x0, y0, x1, y1 = b["bounds"]
    big = f"POLYGON (({x0} {y0 - 640}, {x1 + 640} {y0 - 640}, {x1 + 640} {y1}, {x0} {y1}, {x0} {y0 - 640}))"
    path = write_points(tmp_path / "poly.gpkg", [(big, 1)], geom_type=ogr.wkbPolygon)
    pts = read_labels(path, names, "landcover")
    assert len(pts) == 16 and set(pts.labels) == {1}  # 1280 m square, a point every 320 m, code 1 = Forest


def test_edit_log_cells_are_labelled_with_the_corrected_class(tmp_path):
    from eurosat_landcover.core.edits import Edit
    from eurosat_landcover.core.edits.log import EditLog
    from eurosat_landcover.core.edits.model import RasterGrid as Grid
    from eurosat_landcover.core.finetune.labels import read_labels
    from eurosat_landcover.models.card import eurosat_classes
    from osgeo import gdal
    from synthetic_testlib import write_synthetic_run  # tests/core (on sys.path: conftest)

    classes = write_synthetic_run(tmp_path, "run", width=12, height=8, cell=640.0, origin=(480000.0, 5300000.0))
    ds = gdal.Open(str(classes))
    grid, before = Grid.of(ds), ds.GetRasterBand(1).ReadAsArray()
    ds = None
    log = EditLog.create(tmp_path / "run_edits.gpkg", grid, classes)
    square = grid.cell_polygon_wkt(type(grid.full)(1, 1, 3, 2))  # 6 cells -> Forest
    log.add(Edit(tool="polygon", geometry_wkt=square, to_class=1))
    cell = grid.cell_polygon_wkt(type(grid.full)(2, 1, 1, 1))  # one of them, later -> River
    log.add(Edit(tool="cell", geometry_wkt=cell, to_class=8))
    reverted, _ = log.add(
        Edit(tool="cell", geometry_wkt=grid.cell_polygon_wkt(type(grid.full)(8, 0, 1, 1)), to_class=9)
    )
    log.set_state([reverted.id], "reverted")
    log.add_review("cell", 5, 10, "accepted", None, "POINT (486720 5296480)")
    log.close()
    pts = read_labels(tmp_path / "run_edits.gpkg", [c.name for c in eurosat_classes()])
    got = {grid.cell_of(x, y): int(v) for (x, y), v in zip(pts.xy, pts.labels)}
    want = {(r, c): 1 for r in (1, 2) for c in (1, 2, 3)}
    want[(1, 2)] = 8
    want[(5, 10)] = int(before[5, 10])  # accepted: the class shown
    assert got == want


# ----------------------------------------------------------------------------- the whole command
def test_finetune_cli_writes_a_card_the_engine_loads(tmp_path, capsys, eurosat_rgb_zip):
    from eurosat_landcover.models.checkpoint import load_model

    labels = write_points(tmp_path / "labels.gpkg", block_points(TRUTH["blocks"][:40]))
    out = tmp_path / "models" / "mine.json"
    code, stdout, err = run_cli(
        [MOSAIC, labels, out, "--class-field", "landcover", "--replay-data", eurosat_rgb_zip, *QUICK], capsys
    )
    assert code == 0, err
    record = json.loads(stdout)
    assert record["examples"]["windows"] == 40
    assert sum(record["examples"]["train_per_class"].values()) + record["metrics"]["holdout"]["examples"] == 40
    model, card = load_model(out)
    assert card.training["fine_tuned_from"]["name"] == "eurosat_rgb_lite0"
    assert card.training["examples"]["labels"][0]["file"] == str(labels)
    assert 0.0 <= card.metrics["test_accuracy"] <= 1.0 and card.metrics["eurosat_test"]["samples"] == 41
    assert len(card.training["history"]) >= 1 and out.with_suffix(".safetensors").is_file()
    assert card.training["recipe"]["trainable"] == "norm" and card.training["recipe"]["selection_per_class"] == 3
    assert len(card.training["analyst_look"]["matrix"]) == 3  # the colour response fitted from the labels
    val = card.metrics["eurosat_val_selection"]  # 3 validation patches per class chose the epoch, with the labels
    assert 0.0 <= val["before"] <= 1.0 and 0.0 <= val["after"] <= 1.0
    assert "eurosat_val_accuracy" in card.training["history"][0]
    # the windows are those the engine reads: the parent model's probabilities on them equal a classify run's
    import torch

    x = torch.zeros(1, 3, 64, 64)
    assert model(x).shape == (1, 10)
    assert not np.isnan(card.metrics["holdout"]["after"])


# ----------------------------------------------------------------------------- the image's own windows
def test_image_windows_are_the_engines_grid_without_nodata(tmp_path):
    """The semi-supervised parts learn from the windows of the engine's grid: every 64 px block of the
    mosaic once, as read_window reads it; a block of nodata is left out; at most max_windows of them."""
    from eurosat_landcover.core.finetune.labels import LabelledPoints
    from eurosat_landcover.core.finetune.run import image_windows, inspector_for
    from osgeo import gdal

    none = LabelledPoints(np.zeros((0, 2)), np.zeros(0, np.int64), "", "layer", "")
    insp = inspector_for(MOSAIC, none, None, radiometry="8bit")
    got = image_windows(insp, 1000)
    assert got.shape == (TRUTH["columns"] * TRUTH["rows"], 3, 64, 64)
    b = TRUTH["blocks"][13]
    assert np.array_equal(got[13], insp.read_window(b["col"] * 64, b["row"] * 64)[0])
    assert len(image_windows(insp, 10)) == 10 and len(image_windows(insp, 0)) == 0
    seen = []
    image_windows(insp, 200, progress=seen.append)  # a long read reports: every 64 windows, the count in words
    assert [round(p.fraction, 3) for p in seen] == [round(i / len(got), 3) for i in range(0, len(got), 64)]
    assert seen[-1].message == f"reading the image's windows (64 of {len(got)})"
    holed = tmp_path / "holed.tif"
    ds = gdal.Translate(str(holed), str(MOSAIC), noData=0)
    for band in range(1, 4):
        ds.GetRasterBand(band).WriteArray(np.zeros((64, 64), np.uint8), 64, 0)  # block (row 0, col 1)
    ds = None
    insp = inspector_for(holed, none, None, radiometry="8bit")
    assert len(image_windows(insp, 1000)) == TRUTH["columns"] * TRUTH["rows"] - 1


def test_the_default_adapts_by_an_input_calibration_the_engine_applies(tmp_path, capsys, eurosat_rgb_zip):
    """The default recipe (issue 24's route): the parent's weights unchanged, the new card carries an input
    calibration fitted from the labels (on a copy of the sample mosaic under another sensor's response), and
    the model the card builds applies it; the EuroSAT test split is measured both ways."""
    import sys

    import torch
    from eurosat_landcover.models.checkpoint import load_model
    from osgeo import gdal

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_finetune import sensor_crosstalk

    shifted = tmp_path / "shifted.tif"
    src = gdal.Open(str(MOSAIC))
    dst = gdal.GetDriverByName("GTiff").CreateCopy(str(shifted), src)
    moved = sensor_crosstalk(src.ReadAsArray(band_list=[1, 2, 3])[None])[0]
    for b in range(3):
        dst.GetRasterBand(b + 1).WriteArray(moved[b])
    dst = src = None
    labels = write_points(tmp_path / "labels.gpkg", block_points(TRUTH["blocks"][:60]))
    out = tmp_path / "mine.json"
    quick = ["--replay-per-class", "10", "--test-every", "60", "--threads", "1", "--quiet"]
    code, stdout, err = run_cli([shifted, labels, out, "--class-field", "landcover", "--replay-data", eurosat_rgb_zip,
                                 *quick], capsys)  # fmt: skip
    assert code == 0, err
    record = json.loads(stdout)
    parent, _ = load_model(None)
    model, card = load_model(out)
    assert card.training["recipe"]["epochs"] == 0 and card.training["recipe"]["calibration"] == "look"
    assert record["stopped"] == "no weights trained (epochs 0)"
    assert all(torch.equal(v, parent.net.state_dict()[k]) for k, v in model.net.state_dict().items())
    fit = card.training["input_calibration_fit"]
    assert fit["holdout_loss_after"] <= fit["holdout_loss_before"] or fit["rejected"]
    assert (model.calibration is not None) == bool(card.input_calibration)
    test = card.metrics["eurosat_test"]
    assert test["after"] == test["before"] and "without the input calibration" in test["judged_on"]
    assert (test["after_through_calibration"] is not None) == bool(card.input_calibration)
    # the look is fitted on the image's windows the parent is sure of too (look_from_pseudo, the default): the
    # engine's grid over the image was read and the record says how many windows joined the labels
    examples = card.training["examples"]
    assert examples["image_windows"] == TRUTH["columns"] * TRUTH["rows"]
    assert 0 < examples["pseudo_labelled"] == fit["pseudo_labelled"] <= examples["image_windows"]
