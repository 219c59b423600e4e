"""Issue 25 item 5 in the dock: a rectangle dragged on the real canvas with the real map tool snaps to the layer's
cells; the rubber band then shows what the run covers (its area is the land-cover layer's), on the whole-layer
run's grid, without a nodata strip."""

from __future__ import annotations

import pytest
from qgis.core import QgsPointXY, QgsProject, QgsRasterLayer, QgsWkbTypes
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt

from .landcover_helpers import wait_for_tasks, write_rgb_geotiff

X0, Y1, CELL = 500000.0, 5000000.0, 320.0  # write_rgb_geotiff's origin; 32 px cells of 10 m


def _ev(canvas, kind, x, y):
    p = canvas.getCoordinateTransform().transform(QgsPointXY(x, y))
    pos = QPoint(round(p.x()), round(p.y()))
    buttons = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    return QgsMapMouseEvent(canvas, kind, pos, Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)


def test_dragged_rectangle_snaps_to_the_layers_cells(dock, tmp_path, iface):
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif", size=640)), "scene")
    QgsProject.instance().addMapLayer(layer)
    panel = dock.panel
    panel.input.layer_combo.setLayer(layer)
    panel.options.mode_combo.setCurrentIndex(panel.options.mode_combo.findData("windows"))  # cells of 32 px
    canvas = panel.canvas
    canvas.resize(800, 800)
    canvas.setDestinationCrs(layer.crs())
    canvas.setExtent(layer.extent())
    canvas.refresh()
    panel.area.set_mode("drawn")
    tool = panel.area.map_tool
    assert canvas.mapTool() is tool
    a, b = (X0 + 3.375 * CELL, Y1 - 2.6 * CELL), (X0 + 12.8 * CELL, Y1 - 11.2 * CELL)  # cuts cells
    tool.canvasPressEvent(_ev(canvas, QEvent.Type.MouseButtonPress, *a))
    tool.canvasMoveEvent(_ev(canvas, QEvent.Type.MouseMove, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
    tool.canvasReleaseEvent(_ev(canvas, QEvent.Type.MouseButtonRelease, *b))
    rect = panel.area.drawn_rect
    assert (rect.xMinimum() - X0) / CELL == pytest.approx(3) and (Y1 - rect.yMaximum()) / CELL == pytest.approx(2)
    assert (rect.xMaximum() - X0) / CELL == pytest.approx(13) and (Y1 - rect.yMinimum()) / CELL == pytest.approx(12)
    band = tool.rubber_band.asGeometry()
    assert band.type() == QgsWkbTypes.GeometryType.PolygonGeometry
    assert band.area() == pytest.approx(rect.area(), rel=1e-6)  # the band shows the snapped rectangle
    assert tool.info.startswith("10.2 km²")  # 10 x 10 cells of 0.1024 km²
    panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    task = panel.run()
    assert task is not None
    wait_for_tasks(300)
    result = task.outcome.result
    land = QgsRasterLayer(str(result.classes_path), "r")
    assert land.extent().area() == pytest.approx(band.area(), rel=1e-9)  # what the band promised
    assert (land.extent().xMinimum() - X0) / CELL == pytest.approx(3)  # on the whole-layer run's grid
    provider = land.dataProvider()
    block = provider.block(1, land.extent(), land.width(), land.height())
    assert not any(block.isNoData(r, c) for r in range(land.height()) for c in range(land.width()))
