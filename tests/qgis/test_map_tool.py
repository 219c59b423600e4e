"""The rectangle map tool on the real canvas, driven by QgsMapMouseEvents."""

from __future__ import annotations

import pytest
from eurosat_landcover.qgis_bridge.request_builder import estimate_windows
from eurosat_landcover.ui.dock import LandCoverDock
from eurosat_landcover.ui.map_tool import RectangleMapTool
from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer, QgsRectangle
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt

from .landcover_helpers import clean_settings, default_card_path, model_card, write_rgb_geotiff  # noqa: F401


def _event(canvas, kind, x, y):
    buttons = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    return QgsMapMouseEvent(
        canvas, kind, QPoint(x, y), Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier
    )


def _drag(tool, canvas, start, move, end):
    tool.canvasPressEvent(_event(canvas, QEvent.Type.MouseButtonPress, *start))
    tool.canvasMoveEvent(_event(canvas, QEvent.Type.MouseMove, *move))
    tool.canvasReleaseEvent(_event(canvas, QEvent.Type.MouseButtonRelease, *end))


def _cells(rect, extent, cell=320.0):
    """`rect` widened to whole cells of a grid starting at the layer's top-left corner, cut to the layer."""
    import math

    x0, y1 = extent.xMinimum(), extent.yMaximum()
    return QgsRectangle(
        max(x0, x0 + math.floor((rect.xMinimum() - x0) / cell) * cell),
        max(extent.yMinimum(), y1 - math.ceil((y1 - rect.yMinimum()) / cell) * cell),
        min(extent.xMaximum(), x0 + math.ceil((rect.xMaximum() - x0) / cell) * cell),
        min(y1, y1 - math.floor((y1 - rect.yMaximum()) / cell) * cell),
    )


@pytest.fixture
def utm_canvas(iface, qgis_new_project):
    canvas = iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32632"))
    canvas.setExtent(QgsRectangle(500000, 4998000, 502000, 5000000))
    canvas.refresh()
    return canvas


def test_tool_draws_rectangle_in_map_units(utm_canvas):
    canvas = utm_canvas
    tool = RectangleMapTool(canvas)
    canvas.setMapTool(tool)
    drawn, changed = [], []
    tool.rectangleDrawn.connect(drawn.append)
    tool.rectangleChanged.connect(changed.append)
    try:
        _drag(tool, canvas, (100, 100), (250, 200), (400, 300))
        to_map = canvas.getCoordinateTransform().toMapCoordinates
        p1, p2 = to_map(100, 100), to_map(400, 300)
        expected = QgsRectangle(p1, p2)
        assert len(drawn) == 1 and len(changed) == 1
        rect = drawn[0]
        for got, want in zip(
            (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()),
            (expected.xMinimum(), expected.yMinimum(), expected.xMaximum(), expected.yMaximum()),
        ):
            assert got == pytest.approx(want, abs=1e-6)
        # the rubber band shows the rectangle (4 corners) and the label its km² and windows
        geom = tool.rubber_band.asGeometry()
        assert geom.boundingBox().toString(0) == expected.toString(0)
        km2 = expected.width() * expected.height() / 1e6
        shown_km2 = float(tool.info.split(" km²")[0])
        assert shown_km2 == pytest.approx(km2, rel=0.01)  # ellipsoidal vs UTM-plane area
        windows = estimate_windows(expected.width(), expected.height())
        assert f"~{windows} windows" in tool.info
        assert tool.label.isVisible() and tool.label.text == tool.info
        # a click without a drag draws nothing
        _drag(tool, canvas, (10, 10), (10, 10), (10, 10))
        assert len(drawn) == 1 and tool.rectangle is None
    finally:
        canvas.unsetMapTool(tool)
        tool.release()


def test_dock_draw_button_uses_the_tool(iface, utm_canvas, tmp_path, clean_settings, model_card):  # noqa: F811
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif")), "scene")
    QgsProject.instance().addMapLayer(layer)
    canvas = utm_canvas
    tool_before = canvas.mapTool()
    dock = LandCoverDock(iface, iface.mainWindow())
    try:
        panel = dock.panel
        if model_card != default_card_path():
            panel.model.add_model(str(model_card))
        panel.input.layer_combo.setLayer(layer)
        panel.options.mode_combo.setCurrentIndex(panel.options.mode_combo.findData("windows"))  # 320 m cells
        panel.area.set_mode("drawn")  # switching to "drawn" arms the tool
        assert panel.area.draw_button.isChecked() and canvas.mapTool() is panel.area.map_tool
        _drag(panel.area.map_tool, canvas, (0, 0), (100, 100), (200, 150))
        to_map = canvas.getCoordinateTransform().toMapCoordinates
        expected = _cells(QgsRectangle(to_map(0, 0), to_map(200, 150)), layer.extent())
        rect, crs = panel.area.value()
        assert crs.authid() == "EPSG:32632"
        assert rect.toString(3) == expected.toString(3)  # widened to the layer's 320 m cells (issue 25 item 5)
        # estimate: the part of the rectangle over the raster, at the model's 10 m and stride 32
        over = expected.intersect(layer.extent())
        n = estimate_windows(over.width(), over.height(), 10, 64, 32)
        assert f"~{n} windows" in panel.area.area_info.text()
        assert f"~{n} windows" in panel.area.map_tool.info
        panel.area.draw_button.setChecked(False)
        assert canvas.mapTool() is tool_before
        panel.area.set_mode("layer")  # leaving the mode hides the rectangle
        assert panel.area.map_tool.rectangle is None
    finally:
        dock.shutdown()
        dock.deleteLater()
    assert canvas.mapTool() is tool_before
    items = [i for i in canvas.scene().items() if type(i).__name__ in ("QgsRubberBand", "_LabelItem")]
    assert items == []


def test_drawn_rectangle_follows_a_canvas_crs_change(iface, utm_canvas, tmp_path, clean_settings, model_card):  # noqa: F811
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif")), "scene")
    QgsProject.instance().addMapLayer(layer)
    canvas = utm_canvas
    dock = LandCoverDock(iface, iface.mainWindow())
    try:
        panel = dock.panel
        if model_card != default_card_path():
            panel.model.add_model(str(model_card))
        panel.input.layer_combo.setLayer(layer)
        panel.options.mode_combo.setCurrentIndex(panel.options.mode_combo.findData("windows"))  # 320 m cells
        drawn = QgsRectangle(500200, 4998500, 501200, 4999500)
        panel.area.set_drawn_rectangle(drawn, layer.crs())
        rect = QgsRectangle(500000, 4998400, 501280, 4999680)  # widened to the layer's 320 m cells
        assert rect == _cells(drawn, layer.extent())
        assert panel.area.map_tool.rubber_band.asGeometry().boundingBox().toString(0) == rect.toString(0)
        canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
        shown = panel.area.map_tool.rubber_band.asGeometry().boundingBox()
        assert 8.9 < shown.xMinimum() < 9.1 and 45 < shown.yMinimum() < 45.2  # now in degrees
        assert panel.area.value()[0] == rect  # the request still uses the rectangle in its own CRS
        assert "1.64 km²" in panel.area.map_tool.info  # 4 x 4 cells of 0.1024 km²
    finally:
        dock.shutdown()
        dock.deleteLater()
