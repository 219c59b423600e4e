"""The Export page against a real run in a real project: Export clicked with QTest, the files, the
question before overwriting, Cancel mid-run leaving nothing, the layer-tree action and its removal."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsSettings, QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import files_under, process_events_until, wait_for_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from export_testlib import CLASSES, write_run


@pytest.fixture
def page(iface, qgis_new_project, tmp_path, monkeypatch):
    from eurosat_landcover.ui.export import page as page_mod
    from eurosat_landcover.ui.export.settings import PREFIX

    QgsSettings().remove(PREFIX.rstrip("/"))
    calls = {"add": [], "type": [], "remove": []}
    monkeypatch.setattr(iface, "addCustomActionForLayer", lambda a, lyr: calls["add"].append(lyr.id()), raising=False)
    monkeypatch.setattr(
        iface, "addCustomActionForLayerType", lambda a, *r: calls["type"].append(a.text()), raising=False
    )
    monkeypatch.setattr(
        iface, "removeCustomActionForLayerType", lambda a: calls["remove"].append(a.text()), raising=False
    )
    run = write_run(tmp_path / "run")
    layer = QgsRasterLayer(str(run.parent / "demo_classes.tif"), "Land cover")
    QgsProject.instance().addMapLayer(layer)
    p = page_mod.ExportPage(iface)
    p.calls, p.run_path, p.lc_layer = calls, run, layer
    p.resize(420, 900)
    p.show()
    yield p
    p.shutdown()
    p.deleteLater()
    QgsSettings().remove(PREFIX.rstrip("/"))


def _click_export(page):
    QTest.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    wait_for_tasks(120)


def test_page_exports_everything(page, tmp_path):
    assert page.layer_combo.currentLayer() is page.lc_layer
    assert "demo" in page.status.text() and "10 classes" in page.status.text()
    out = tmp_path / "exports"
    page.output_widget.setFilePath(str(out))
    page.options.mmu.setValue(2.0)
    page.options.dissolve.setChecked(True)
    page.options.dpi.setValue(50)
    page.options.title.setText("Valley land cover")
    _click_export(page)
    names = files_under(out)
    for n in (
        "demo_landcover.tif",
        "demo_landcover.qml",
        "demo_landcover.sld",
        "demo_landcover_polygons.gpkg",
        "demo_landcover_areas.csv",
        "demo_landcover_report.html",
        "demo_landcover_map.pdf",
        "demo_landcover_map.png",
    ):
        assert n in names, names
    assert not any(".export-" in n or "partial" in n for n in names)
    assert "files written" in page.result_label.text() and page.progress.value() == 100
    poly = QgsVectorLayer(f"{out / 'demo_landcover_polygons.gpkg'}|layername=demo_landcover", "p", "ogr")
    assert poly.renderer().type() == "categorizedSymbol" and poly.featureCount() <= len(CLASSES)
    assert "<h1>Valley land cover</h1>" in (out / "demo_landcover_report.html").read_text(encoding="utf-8")
    # the choices are remembered
    from eurosat_landcover.ui.export.settings import ExportSettings

    s = ExportSettings.load()
    assert s.mmu_ha == 2.0 and s.dissolve and s.output_dir == str(out)

    # a second Export asks first; "No" keeps every file as it was
    before = {n: (out / n).stat().st_mtime_ns for n in names}
    asked = []
    page._ask_overwrite = lambda taken, folder: asked.append(len(taken)) or False
    QTest.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    wait_for_tasks(60)
    assert asked and asked[0] >= 8 and "kept" in page.result_label.text()
    assert {n: (out / n).stat().st_mtime_ns for n in names} == before
    page._ask_overwrite = lambda taken, folder: True
    page.options.map.setChecked(False)
    page.options.raster.setChecked(False)
    page.options.polygons.setChecked(False)
    _click_export(page)
    assert (out / "demo_landcover_report.html").stat().st_mtime_ns != before["demo_landcover_report.html"]
    assert (out / "demo_landcover_map.pdf").stat().st_mtime_ns == before["demo_landcover_map.pdf"]


def test_cancel_leaves_nothing(page, tmp_path, monkeypatch):
    from eurosat_landcover.core.export import polygons

    started = threading.Event()
    real = polygons.export_polygons

    def slow(run, staging, *a, progress=None, **k):
        started.set()
        while not progress.cancelled():
            time.sleep(0.01)
        progress.check()
        return real(run, staging, *a, progress=progress, **k)

    monkeypatch.setattr(
        polygons,
        "export_polygons",
        lambda run, staging, fmt, mmu, dis, prog: slow(run, staging, fmt, mmu, dis, progress=prog),
    )
    out = tmp_path / "cancelled"
    page.output_widget.setFilePath(str(out))
    page.options.map.setChecked(False)
    QTest.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    assert process_events_until(started.is_set, 30)
    assert page.cancel_button.isEnabled()
    QTest.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    wait_for_tasks(30)
    assert "cancelled" in page.result_label.text()
    assert files_under(out) == [] and (not out.exists() or list(out.iterdir()) == [])
    assert page.export_button.isEnabled() and not page.cancel_button.isEnabled()


def test_layer_tree_action(page, tmp_path):
    assert page.calls["type"] == ["Export land cover…"]
    assert page.lc_layer.id() in page.calls["add"]
    other = write_run(tmp_path / "run2", name="second")
    layer2 = QgsRasterLayer(str(other.parent / "second_classes.tif"), "Land cover 2")
    plain = QgsRasterLayer(str(other.parent / "second_confidence.tif"), "Confidence")
    QgsProject.instance().addMapLayers([layer2, plain])
    assert layer2.id() in page.calls["add"] and plain.id() not in page.calls["add"]
    page.iface.setActiveLayer(layer2)
    page.action.trigger()
    assert page.layer_combo.currentLayer() is layer2 and "second" in page.status.text()
    page.shutdown()
    assert page.calls["remove"] == ["Export land cover…"]


def test_page_is_listed():
    from eurosat_landcover.ui.pages import PAGES

    assert (".export.page", "ExportPage") in PAGES


def test_export_after_a_correction_writes_the_corrected_map(page, tmp_path):
    """Issue 25 item 1: the page picked the run before Review & correct made ``_corrected.tif``; Export then
    must write the corrected map (it wrote the model output the page had cached)."""
    from eurosat_landcover.core.edits import Edit, EditSession
    from osgeo import gdal

    assert "model output" in page.status.text()
    session = EditSession.open(page.run_path.parent / "demo_classes.tif")
    try:
        session.apply(Edit(tool="recode", geometry_wkt=None, recode={2: 1}))
    finally:
        session.close()
    corrected = page.run_path.parent / "demo_corrected.tif"
    assert corrected.is_file()
    page.hide()
    page.show()  # the analyst comes back to the page
    assert "corrected map" in page.status.text()
    out = tmp_path / "exports"
    page.output_widget.setFilePath(str(out))
    for box in (page.options.polygons, page.options.report, page.options.map):
        box.setChecked(False)
    _click_export(page)

    def read(p):
        ds = gdal.Open(str(p))
        return ds.GetRasterBand(1).ReadAsArray()

    exported = read(out / "demo_landcover.tif")
    assert (exported == read(corrected)).all()
    assert (exported != read(page.run_path.parent / "demo_classes.tif")).any()
