"""The inspect map tool: a left click asks for the window centred there; the page draws the answer
(the window's footprint, and for a result layer the cell) with :meth:`InspectMapTool.show`."""

from __future__ import annotations

from qgis.core import QgsPointXY, QgsWkbTypes
from qgis.gui import QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor

WINDOW_COLOR = QColor(255, 140, 0, 230)
CELL_COLOR = QColor(0, 200, 255, 230)


class InspectMapTool(QgsMapTool):
    """Emits ``clicked(QgsPointXY)`` (canvas CRS) on a left click; Esc clears the drawn outlines."""

    clicked = pyqtSignal(QgsPointXY)

    def __init__(self, canvas):
        super().__init__(canvas)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.window_band = QgsRubberBand(canvas, QgsWkbTypes.GeometryType.PolygonGeometry)
        self.window_band.setStrokeColor(WINDOW_COLOR)
        self.window_band.setFillColor(QColor(255, 140, 0, 30))
        self.window_band.setWidth(2)
        self.cell_band = QgsRubberBand(canvas, QgsWkbTypes.GeometryType.PolygonGeometry)
        self.cell_band.setStrokeColor(CELL_COLOR)
        self.cell_band.setFillColor(QColor(0, 200, 255, 40))
        self.cell_band.setWidth(2)
        self._pressed = False

    def canvasPressEvent(self, event):  # noqa: N802 (Qt API)
        self._pressed = event.button() == Qt.MouseButton.LeftButton

    def canvasReleaseEvent(self, event):  # noqa: N802 (Qt API)
        if event.button() == Qt.MouseButton.LeftButton and self._pressed:
            self._pressed = False
            self.clicked.emit(QgsPointXY(self.toMapCoordinates(event.pos())))

    def keyPressEvent(self, event):  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Escape:
            self.clear()
            event.accept()
        else:
            event.ignore()

    def show(self, window_geometry=None, cell_geometry=None) -> None:
        """Outline the window (and the result cell) in the canvas CRS."""
        self.window_band.reset(QgsWkbTypes.GeometryType.PolygonGeometry)
        self.cell_band.reset(QgsWkbTypes.GeometryType.PolygonGeometry)
        if window_geometry is not None:
            self.window_band.setToGeometry(window_geometry, None)
        if cell_geometry is not None:
            self.cell_band.setToGeometry(cell_geometry, None)

    def clear(self) -> None:
        self.show(None, None)

    def release(self) -> None:
        """Remove the canvas items (the page calls it when it shuts down)."""
        scene = self.canvas().scene()
        for band in (self.window_band, self.cell_band):
            if band is not None and band.scene() is scene:
                scene.removeItem(band)
        self.window_band = self.cell_band = None
