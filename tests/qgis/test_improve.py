"""Review & correct -> 'Improve the model from these corrections' on a real run, in a real QgsTask.

The bundled sample mosaic (EuroSAT test patches) is classified for real; some cells are corrected to their
true class through the page's edit session; the button is clicked; the fine-tuning runs in QGIS's task
manager; the new card appears in the Classify page's model picker; the re-classify offer queues a run whose
summary records the new model. With EUROSAT_SCREENSHOT_DIR set, the page is saved there as a PNG.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from eurosat_landcover.core.edits import Edit, EditError
from eurosat_landcover.models.finetune import Recipe
from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import wait_for_tasks

REPO = Path(__file__).resolve().parents[2]
MOSAIC = REPO / "sample_data" / "eurosat_mosaic_rgb.tif"
TRUTH = json.loads((REPO / "sample_data" / "eurosat_mosaic_rgb_truth.json").read_text())


def _classify(tmp_path, mode="windows"):
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    image = Path(shutil.copy(MOSAIC, tmp_path / "mosaic.tif"))
    req = ClassificationRequest(image, tmp_path / "out", stride=64, device="cpu", threads=1, mode=mode)
    return image, Path(classify(req).classes_path)


@pytest.fixture
def mosaic_run(tmp_path):
    return _classify(tmp_path)


@pytest.fixture
def map_mosaic_run(tmp_path):
    return _classify(tmp_path, mode="map")


def _correct_and_improve(dock, run):
    """The run's classes on the Correct page, 30 cells set to their true class (or accepted where the model had
    them right) through the page's session, the button clicked and the task finished; -> (page, new card)."""
    image, classes = run
    QgsProject.instance().addMapLayer(QgsRasterLayer(str(image), "mosaic"))
    layer = QgsRasterLayer(str(classes), "Land cover")
    QgsProject.instance().addMapLayer(layer)
    page = dock.workspace.page("CorrectPage")
    improve = page.improve
    assert not improve.isEnabled()  # nothing to learn from before editing
    page.layer_combo.setLayer(layer)
    QTest.mouseClick(page.edit_button, Qt.MouseButton.LeftButton)
    assert page.session is not None and improve.isEnabled()
    for b in TRUTH["blocks"][:30]:  # the analyst sets 30 cells (one per 64 px block) to their true class
        x0, y0, x1, y1 = b["bounds"]
        x, y = (x0 + x1) / 2, (y0 + y1) / 2
        try:
            page.session.apply(Edit("cell", f"POINT ({x} {y})", b["class_index"], all_touched=True))
        except EditError:  # the model had it right: the analyst accepts the cell, as the guided review does
            page.session.mark_reviewed(*page.session.grid.cell_of(x, y), "accepted")
    page.refresh_log()
    improve.recipe = Recipe(epochs=2, replay_per_class=5, selection_per_class=3, test_every=60, threads=1)
    QTest.mouseClick(improve.start, Qt.MouseButton.LeftButton)
    assert improve.task is not None and improve.cancel.isEnabled() and not improve.progress.isHidden()
    wait_for_tasks(900)
    assert improve.task is None, improve.status.text()
    card = improve.card_path
    assert card == classes.parent / "mosaic_model_1.json" and card.is_file(), improve.status.text()
    assert improve.status.text().startswith("New model mosaic_model_1.json from 30 place(s) you corrected or accepted")
    record = json.loads(card.read_text())
    assert record["training"]["examples"]["windows"] == 30
    assert record["training"]["examples"]["labels"][0]["kind"] == "edit log"
    assert not improve.reclassify.isHidden()
    return page, card


def _reclassify(improve, card) -> dict:
    """Click 'Re-classify with the new model', wait; -> the new run's summary (it names the new card)."""
    QTest.mouseClick(improve.reclassify, Qt.MouseButton.LeftButton)
    wait_for_tasks(600)
    task = improve.last_run
    assert task is not None and Path(task.request.model_card).resolve() == card.resolve()
    summaries = list(Path(task.request.output_dir).glob(f"{task.request.name or 'mosaic'}*_summary.json"))
    summary = json.loads(max(summaries, key=lambda p: p.stat().st_mtime).read_text())
    assert Path(summary["model"]["card"]).resolve() == card.resolve()  # the run records which model made it
    return summary


def test_improve_from_corrections_then_reclassify(dock, iface, mosaic_run, eurosat_rgb_zip, monkeypatch):
    monkeypatch.setenv("EUROSAT_DATASETS", str(eurosat_rgb_zip.parent.parent))
    dock.workspace.page("classifyPage").options.set_mode("windows")  # the run's mode, whatever the default
    page, card = _correct_and_improve(dock, mosaic_run)
    picker = dock.panel.model
    assert picker.model_combo.findData(str(card.resolve())) >= 0 and picker.value() == str(card.resolve())
    if os.environ.get("EUROSAT_SCREENSHOT_DIR"):
        dock.workspace.show_page("CorrectPage")
        body = page.improve.parentWidget()  # the page's scrolling body, at a size that shows all of it
        body.resize(max(560, body.sizeHint().width()), body.sizeHint().height())
        body.grab().save(str(Path(os.environ["EUROSAT_SCREENSHOT_DIR"]) / "screenshot-improve.png"))
    assert _reclassify(page.improve, card)["mode"] == "windows"


def test_improve_on_a_map_mode_run_reclassifies_in_map_mode(dock, iface, map_mosaic_run, eurosat_rgb_zip, monkeypatch):
    """A map-mode run (a class per 10 m pixel): the new card is a MAP card (the map model's trunk fine-tuned, its
    decoder the parent's); the Classify page, left in windows mode, switches to map mode as the card is added
    (a map model runs there only) and selects it, and the re-classify offer re-runs the input in map mode with
    it. Before: 'Improving the model failed: 'bool' object has no attribute 'mean''."""
    monkeypatch.setenv("EUROSAT_DATASETS", str(eurosat_rgb_zip.parent.parent))
    classify_page = dock.workspace.page("classifyPage")
    classify_page.options.set_mode("windows")
    page, card = _correct_and_improve(dock, map_mosaic_run)
    record = json.loads(card.read_text())
    assert record["architecture"] == "tf_efficientnet_lite0_map"
    assert record["training"]["fine_tuned_from"]["name"] == "eurosat_rgb_lite0_map"
    assert page.improve.status.text().endswith("(a map model: Mode = Map).")
    picker = dock.panel.model
    i = picker.model_combo.findData(str(card.resolve()))
    assert i >= 0 and picker.value() == str(card.resolve()) and classify_page.options.value().mode == "map"
    summary = _reclassify(page.improve, card)
    assert summary["mode"] == "map" and classify_page.options.value().mode == "map"
    assert picker.value() == str(card.resolve()) and picker.model_combo.model().item(i).isEnabled()
    classify_page.options.set_mode("windows")  # back: the map card cannot run there, the bundled model is chosen
    assert picker.value() == "" and picker.card().architecture == "tf_efficientnet_lite0"


def _editing_with_one_reviewed_cell(dock, mosaic_run):
    """The run's classes on the Correct page, editing started, one cell accepted (too few examples);
    -> (page, classes path, the run folder's file names before anything is clicked)."""
    _image, classes = mosaic_run
    layer = QgsRasterLayer(str(classes), "Land cover")
    QgsProject.instance().addMapLayer(layer)
    page = dock.workspace.page("CorrectPage")
    page.layer_combo.setLayer(layer)
    QTest.mouseClick(page.edit_button, Qt.MouseButton.LeftButton)
    page.session.mark_reviewed(0, 0, "accepted")
    return page, classes, sorted(p.name for p in classes.parent.iterdir())


def test_improve_refusal_is_one_sentence(dock, iface, mosaic_run, eurosat_rgb_zip, monkeypatch):
    monkeypatch.setenv("EUROSAT_DATASETS", str(eurosat_rgb_zip.parent.parent))
    page, classes, before = _editing_with_one_reviewed_cell(dock, mosaic_run)
    QTest.mouseClick(page.improve.start, Qt.MouseButton.LeftButton)
    wait_for_tasks(300)
    text = page.improve.status.text()
    assert "at least 10" in text and "\n" not in text and "Traceback" not in text
    assert sorted(p.name for p in classes.parent.iterdir()) == before


def test_missing_eurosat_zip_is_one_line_and_the_chosen_zip_is_remembered(
    dock, iface, mosaic_run, eurosat_rgb_zip, monkeypatch, tmp_path
):
    """No zip where $EUROSAT_DATASETS points and none chosen: one line naming the picker, no task, no file;
    the zip chosen in the picker is stored in CorrectSettings, shown again by a new page and used."""
    from eurosat_landcover.ui.correct.settings import CorrectSettings

    monkeypatch.setenv("EUROSAT_DATASETS", str(tmp_path / "no datasets here"))
    page, classes, before = _editing_with_one_reviewed_cell(dock, mosaic_run)
    QTest.mouseClick(page.improve.start, Qt.MouseButton.LeftButton)
    text = page.improve.status.text()
    assert page.improve.task is None and sorted(p.name for p in classes.parent.iterdir()) == before
    assert text.startswith("The EuroSAT RGB zip is not at ") and "'EuroSAT zip'" in text and "\n" not in text
    page.improve.replay_widget.setFilePath(str(eurosat_rgb_zip))  # what choosing it in the file dialog does
    assert CorrectSettings.load().replay_data == str(eurosat_rgb_zip)
    from eurosat_landcover.ui.correct.improve_section import ImproveSection

    again = ImproveSection(page)  # a later session reads it back
    assert again.replay_widget.filePath() == str(eurosat_rgb_zip) and again.replay_data() == eurosat_rgb_zip
    QTest.mouseClick(page.improve.start, Qt.MouseButton.LeftButton)  # the zip is found: the next check speaks
    wait_for_tasks(300)
    assert "at least 10" in page.improve.status.text()


def test_processing_algorithm_refuses_in_one_sentence(provider, tmp_path, eurosat_rgb_zip):
    import processing
    from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
    from osgeo import ogr, osr
    from qgis.core import QgsApplication, QgsProcessingException

    alg = f"{PROVIDER_ID}:finetune"
    assert QgsApplication.processingRegistry().algorithmById(alg) is not None
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "one.gpkg"))
    lyr = ds.CreateLayer("labels", srs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("landcover", ogr.OFTString))
    for b in TRUTH["blocks"][:12]:
        x0, y0, x1, y1 = b["bounds"]
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({(x0 + x1) / 2} {(y0 + y1) / 2})"))
        f.SetField("landcover", "Forest")
        lyr.CreateFeature(f)
    ds = None
    params = {
        "IMAGE": str(MOSAIC),
        "LABELS": str(tmp_path / "one.gpkg"),
        "CLASS_FIELD": "landcover",
        "REPLAY_DATA": str(eurosat_rgb_zip),
        "OUTPUT": str(tmp_path / "new.json"),
    }
    with pytest.raises(QgsProcessingException, match="at least 2 classes"):
        processing.run(alg, params)
    assert not (tmp_path / "new.json").exists() and not (tmp_path / "new.safetensors").exists()
