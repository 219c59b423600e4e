"""Explain page: simulated clicks on the real inspect map tool over real layers in the real project; the
probabilities shown are compared with the engine's output files for the same window."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import Qgis, QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject, QgsRasterLayer
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import REPO_ROOT, wait_for_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from engine_testlib import RGB_ZIP, write_geotiff

pytest.importorskip("captum")
pytestmark = pytest.mark.skipif(not RGB_ZIP.exists(), reason=f"{RGB_ZIP} is missing")
S2_SAMPLE = REPO_ROOT / "sample_data" / "sentinel2_13band.tif"
CLASSES = ("Forest", "SeaLake", "Industrial", "Residential")


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    """2 x 2 real EuroSAT images, (3, 128, 128) uint8."""
    from PIL import Image

    tiles = []
    with zipfile.ZipFile(RGB_ZIP) as zf:
        names = zf.namelist()
        for cls in CLASSES:
            member = sorted(n for n in names if f"/{cls}/" in n)[3]
            tiles.append(np.asarray(Image.open(io.BytesIO(zf.read(member))).convert("RGB")))
    return np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0).transpose(2, 0, 1)


def engine_run(path, out, stride=64):
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    req = ClassificationRequest(
        str(path), str(out), stride=stride, probabilities_dtype="float32", device="cpu", mode="windows"
    )
    res = classify(req)
    ds = gdal.Open(str(res.probabilities_path))
    return res, ds.ReadAsArray().astype(np.float32), ds.GetGeoTransform()


@pytest.fixture
def page(iface, qgis_new_project, qgis_canvas):
    from eurosat_landcover.ui.explain.page import ExplainPage

    p = ExplainPage(iface)
    p.device_combo.setCurrentIndex(p.device_combo.findData("cpu"))
    p.model_file.setFilePath("")
    yield p
    p.shutdown()
    p.deleteLater()


def add_layer(path, name="input") -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), name, "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def show(page, layer, canvas_crs: str):
    canvas = page.canvas
    canvas.resize(600, 600)
    crs = QgsCoordinateReferenceSystem(canvas_crs)
    canvas.setDestinationCrs(crs)
    ct = QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance())
    canvas.setExtent(ct.transformBoundingBox(layer.extent()))
    canvas.refresh()
    page.input_combo.setLayer(layer)


def click(page, x, y, crs: str):
    """A press + release of the left button on the real canvas at map point (x, y) in ``crs``."""
    canvas = page.canvas
    ct = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem(crs), canvas.mapSettings().destinationCrs(), QgsProject.instance()
    )
    pt = ct.transform(QgsPointXY(x, y))
    if not page.inspect_button.isChecked():
        QTest.mouseClick(page.inspect_button, Qt.MouseButton.LeftButton)
    assert canvas.mapTool() is page.map_tool
    pix = canvas.getCoordinateTransform().transform(pt)
    pos = QPoint(round(pix.x()), round(pix.y()))
    for kind, buttons in (
        (QEvent.Type.MouseButtonPress, Qt.MouseButton.LeftButton),
        (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton),
    ):
        ev = QgsMapMouseEvent(canvas, kind, pos, Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)
        if kind == QEvent.Type.MouseButtonPress:
            page.map_tool.canvasPressEvent(ev)
        else:
            page.map_tool.canvasReleaseEvent(ev)
    wait_for_tasks(120)
    assert page.last_error is None, page.last_error


def shown_probabilities(page) -> np.ndarray:
    """The chart's bars, back in the model's class order."""
    names = page.windows[page.current_index].class_names if page.windows else page.prediction.class_names
    d = {n: p for n, p, _ in page.chart.rows}
    return np.array([d[n] for n in names], np.float32)


def test_the_page_is_in_the_workspace():
    from eurosat_landcover.ui.pages import PAGES

    assert (".explain.page", "ExplainPage") in PAGES


def test_click_shows_the_engine_probabilities_patch_and_heat_map(page, tmp_path, mosaic):
    src = write_geotiff(tmp_path / "m.tif", mosaic)
    _res, probs, gt = engine_run(src, tmp_path / "out")
    layer = add_layer(src)
    show(page, layer, "EPSG:32632")
    x, y = gt[0] + 1.5 * gt[1], gt[3] + 0.5 * gt[5]  # the centre of the engine's window (1, 0): SeaLake
    click(page, x + 5, y - 5, "EPSG:32632")  # inside the pixel right/below the centre: the canvas rounds to ~2 m
    assert page.mode == "window" and len(page.windows) == 1
    w = page.windows[0]
    assert (w.footprint.col, w.footprint.row) == (64, 0)
    np.testing.assert_allclose(shown_probabilities(page), probs[:, 0, 1], atol=1e-5)
    values = [p for _, p, _ in page.chart.rows]
    assert values == sorted(values, reverse=True)
    card_colors = dict(zip(w.class_names, w.class_colors))
    assert all(card_colors[n] == c for n, _, c in page.chart.rows)
    assert np.array_equal(page.view.patch, mosaic[:, :64, 64:128].transpose(1, 2, 0))
    assert page.view.heat is not None and page.view.heat.shape == (64, 64)
    assert "640 m" in page.status.text() and w.ranked(1)[0][0] in page.status.text()
    band = page.map_tool.window_band.asGeometry().boundingBox()
    assert band.xMinimum() == pytest.approx(x - 320) and band.yMaximum() == pytest.approx(y + 320)

    # the opacity slider changes the overlay only (on the top class's heat map, which is never all zero)
    page.opacity.setValue(0)
    assert np.array_equal(page.view.overlaid(), page.view.patch)
    page.opacity.setValue(80)
    assert not np.array_equal(page.view.overlaid(), page.view.patch)

    # another class: another heat map
    top_heat = page.view.heat.copy()
    page.class_combo.setCurrentIndex(page.class_combo.findText("Forest"))
    wait_for_tasks(60)
    assert page.view.heat is not None and not np.allclose(page.view.heat, top_heat)

    # Show on map: a georeferenced layer aligned with the window, removed with its folder on shutdown
    QTest.mouseClick(page.show_button, Qt.MouseButton.LeftButton)
    heat_layer = QgsProject.instance().mapLayer(page.layers.layer_ids[-1])
    assert heat_layer is not None and "Grad-CAM Forest" in heat_layer.name()
    ext = heat_layer.extent()
    assert (ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum()) == pytest.approx(w.footprint.bounds)
    assert heat_layer.crs().authid() == "EPSG:32632"
    folder, heat_id = page.layers.folder, heat_layer.id()
    assert folder.is_dir() and QgsProject.instance().layerTreeRoot().findGroup("Explain (temporary)") is not None
    page.shutdown()
    assert not folder.exists() and QgsProject.instance().mapLayer(heat_id) is None
    assert QgsProject.instance().layerTreeRoot().findGroup("Explain (temporary)") is None


def test_a_geographic_layer_on_a_web_mercator_canvas(page, tmp_path, mosaic):
    lat = 45.0
    px = (10.0 / (111320.0 * np.cos(np.radians(lat))), 10.0 / 110950.0)
    src = write_geotiff(tmp_path / "g.tif", mosaic, epsg=4326, origin=(9.0, lat), pixel=px)
    res, probs, gt = engine_run(src, tmp_path / "out")
    layer = add_layer(src, "geographic")
    show(page, layer, "EPSG:3857")
    utm = osr.SpatialReference()
    utm.ImportFromWkt(res.summary["working_raster"]["crs_wkt"])
    checked = 0
    for j in range(probs.shape[1]):
        for i in range(probs.shape[2]):
            if not np.isfinite(probs[:, j, i]).all():
                continue
            x, y = gt[0] + (i + 0.5) * gt[1], gt[3] + (j + 0.5) * gt[5]
            click(page, x + 5, y - 5, utm.ExportToWkt())  # canvas pixel -> 3857 -> the run's UTM grid
            np.testing.assert_allclose(shown_probabilities(page), probs[:, j, i], atol=1e-5)
            assert "Resampled to 10 m" in page.status.text() and "EPSG:32632" in page.status.text()
            checked += 1
    assert checked >= 1


def test_a_13_band_sentinel2_layer(page, tmp_path):
    if not S2_SAMPLE.is_file():
        pytest.skip("sample_data/sentinel2_13band.tif missing")
    _res, probs, gt = engine_run(S2_SAMPLE, tmp_path / "out")
    layer = add_layer(S2_SAMPLE, "s2")
    show(page, layer, layer.crs().authid())
    click(page, gt[0] + 0.5 * gt[1] + 5, gt[3] + 0.5 * gt[5] - 5, layer.crs().authid())
    np.testing.assert_allclose(shown_probabilities(page), probs[:, 0, 0], atol=1e-5)
    assert page.chart.rows[0][0] == "AnnualCrop"  # its label
    assert page.inspector.mapping.bands == [4, 3, 2]


def test_a_result_cell_shows_the_windows_that_made_it(page, tmp_path, mosaic):
    src = write_geotiff(tmp_path / "m.tif", mosaic)
    res, probs, gt = engine_run(src, tmp_path / "out", stride=32)
    add_layer(src)
    result = add_layer(res.classes_path, "Land cover")
    show(page, result, "EPSG:32632")
    x, y = gt[0] + 1.5 * gt[1], gt[3] + 1.5 * gt[5]  # cell (1, 1): four windows of 64 px at stride 32
    click(page, x, y, "EPSG:32632")
    assert page.mode == "cell" and page.windows_combo.count() == 4 and not page.windows_combo.isHidden()
    np.testing.assert_allclose(page.cell.probabilities, probs[:, 1, 1], atol=1e-5)
    np.testing.assert_allclose(np.mean([w.probabilities for w in page.windows], axis=0), probs[:, 1, 1], atol=1e-5)
    assert "the mean of 4 window(s)" in page.status.text()
    cell = page.map_tool.cell_band.asGeometry().boundingBox()
    assert (cell.xMinimum(), cell.yMaximum()) == pytest.approx((gt[0] + 32 * 10, gt[3] - 32 * 10))
    page.windows_combo.setCurrentIndex(3)
    wait_for_tasks(60)
    assert page.current_index == 3
    np.testing.assert_allclose(shown_probabilities(page), page.windows[3].probabilities)
    assert page.view.heat is not None
    band = page.map_tool.window_band.asGeometry().boundingBox()
    assert band.xMinimum() == pytest.approx(page.windows[3].footprint.bounds[0])


def test_classify_an_image_file_button(page, tmp_path, monkeypatch):
    from qgis.PyQt.QtWidgets import QFileDialog

    with zipfile.ZipFile(RGB_ZIP) as zf:
        member = sorted(n for n in zf.namelist() if "/Industrial/" in n)[5]
        jpg = tmp_path / Path(member).name
        jpg.write_bytes(zf.read(member))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(jpg), ""))
    QTest.mouseClick(page.file_button, Qt.MouseButton.LeftButton)
    wait_for_tasks(120)
    assert page.last_error is None and page.mode == "file"
    assert "as is (64 x 64 px)" in page.status.text() and jpg.name in page.status.text()
    assert page.chart.rows[0][0] == page.prediction.top(1)[0][0]
    assert page.view.heat is not None and not page.show_button.isEnabled()
    # an outside click reads the input layer: none chosen here -> a clear message, no task
    page.input_combo.setLayer(None)
    page.inspect_at(QgsPointXY(0, 0))
    warnings = page.iface.messageBar().get_messages(Qgis.MessageLevel.Warning)
    assert any("choose an input raster layer" in m for m in warnings)


def test_without_captum_the_page_still_shows_the_probabilities(iface, qgis_new_project, tmp_path, mosaic, monkeypatch):
    from eurosat_landcover.models import gradcam
    from eurosat_landcover.ui.explain.page import ExplainPage

    monkeypatch.setattr(gradcam, "is_available", lambda: False)
    page = ExplainPage(iface)
    try:
        page.device_combo.setCurrentIndex(page.device_combo.findData("cpu"))
        src = write_geotiff(tmp_path / "m.tif", mosaic)
        layer = add_layer(src)
        show(page, layer, "EPSG:32632")
        click(page, 500000 + 645, 5000000 - 645, "EPSG:32632")
        assert page.view.heat is None and "captum" in page.view.message and "Setup page" in page.view.message
        assert len(page.chart.rows) == 10 and not page.show_button.isEnabled()
    finally:
        page.shutdown()
        page.deleteLater()
