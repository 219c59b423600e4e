"""Issue 25 item 12: what a page draws on the canvas leaves with it. The real dock, its tabs switched."""

from __future__ import annotations

from qgis.core import QgsRectangle


def test_the_drawn_extent_leaves_the_canvas_with_the_classify_page(dock, scene, iface):
    canvas = iface.mapCanvas()
    canvas.setDestinationCrs(scene.crs())
    canvas.setExtent(scene.extent())
    area = dock.panel.area
    ext = scene.extent()
    rect = QgsRectangle(ext.xMinimum() + 100, ext.yMinimum() + 100, ext.xMinimum() + 900, ext.yMinimum() + 900)
    area.set_mode("drawn")
    area.set_drawn_rectangle(rect, scene.crs())
    rect = QgsRectangle(area.drawn_rect)  # widened to the layer's cells (issue 25 item 5)
    area.apply_mode()
    band = area.map_tool.rubber_band
    assert not band.asGeometry().isEmpty() and canvas.mapTool() is area.map_tool
    dock.workspace.show_page("AssessPage")
    assert band.asGeometry().isEmpty(), "the extent rectangle leaves the canvas with the page"
    assert canvas.mapTool() is not area.map_tool, "and the draw tool is disarmed"
    dock.workspace.show_page("classifyPage")
    assert band.asGeometry().boundingBox().toString(0) == rect.toString(0), "back on the page, it shows again"
    assert area.value()[0] == rect
