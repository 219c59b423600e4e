"""A map tool to draw the area to classify: press, drag, release.

While dragging, a rubber band shows the rectangle and a label on the map gives its size in km²
and the estimated number of model windows (the estimate comes from the Classify page, which knows the
model's patch size, gsd and the chosen stride). The rectangle is in the canvas CRS.
"""

from __future__ import annotations

from typing import Callable, Optional

from qgis.core import QgsCoordinateReferenceSystem, QgsPointXY, QgsRectangle, QgsWkbTypes
from qgis.gui import QgsMapCanvasItem, QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import QRectF, Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor, QFont, QFontMetricsF, QPen

from ..qgis_bridge.request_builder import area_km2, estimate_windows, size_m

RUBBER_COLOR = QColor(255, 140, 0)


def default_estimate(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem, gsd=10.0, patch=64, stride=32) -> str:
    km2 = area_km2(rect, crs)
    w, h = size_m(rect, crs)
    n = estimate_windows(w, h, gsd, patch, stride)
    return f"{km2:.3g} km² · ~{n} windows"


class _LabelItem(QgsMapCanvasItem):
    """Text with a white background, anchored at a map point."""

    def __init__(self, canvas):
        super().__init__(canvas)
        self.text = ""
        self.anchor = QgsPointXY()
        self.font = QFont()
        self.font.setPointSize(9)
        self.font.setBold(True)
        self.setZValue(1000)

    def set(self, text: str, anchor: QgsPointXY) -> None:
        self.text, self.anchor = text, anchor
        self.prepareGeometryChange()
        self.setPos(self.toCanvasCoordinates(anchor))
        self.update()

    def updatePosition(self):  # noqa: N802 (QGIS API) - keeps the label on its map point
        self.setPos(self.toCanvasCoordinates(self.anchor))

    def boundingRect(self):  # noqa: N802 (Qt API)
        fm = QFontMetricsF(self.font)
        return QRectF(0, -fm.height() - 6, fm.horizontalAdvance(self.text) + 10, fm.height() + 6)

    def paint(self, painter, option=None, widget=None):
        if not self.text:
            return
        rect = self.boundingRect()
        painter.setFont(self.font)
        painter.setPen(QPen(RUBBER_COLOR, 1))
        painter.setBrush(QColor(255, 255, 255, 220))
        painter.drawRect(rect)
        painter.setPen(QColor(40, 40, 40))
        painter.drawText(
            rect.adjusted(5, 3, -5, -3), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.text
        )


class RectangleMapTool(QgsMapTool):
    """Draw a rectangle; emits rectangleChanged while dragging and rectangleDrawn on release."""

    rectangleChanged = pyqtSignal(QgsRectangle)  # noqa: N815 (Qt style)
    rectangleDrawn = pyqtSignal(QgsRectangle)  # noqa: N815

    def __init__(self, canvas, estimator: Optional[Callable] = None):
        super().__init__(canvas)
        self.canvas_ = canvas
        self.estimator = estimator or default_estimate
        self.start: Optional[QgsPointXY] = None
        self.rectangle: Optional[QgsRectangle] = None
        self.info = ""
        self.rubber_band = QgsRubberBand(canvas, QgsWkbTypes.GeometryType.PolygonGeometry)
        self.rubber_band.setColor(RUBBER_COLOR)
        self.rubber_band.setFillColor(QColor(255, 140, 0, 40))
        self.rubber_band.setWidth(2)
        self.label = _LabelItem(canvas)
        self.setCursor(Qt.CursorShape.CrossCursor)

    # ------------------------------------------------------------------ events
    def canvasPressEvent(self, event):  # noqa: N802 (QGIS API)
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.start = QgsPointXY(event.mapPoint())
        self._show(QgsRectangle(self.start, self.start))

    def canvasMoveEvent(self, event):  # noqa: N802
        if self.start is None:
            return
        rect = QgsRectangle(self.start, QgsPointXY(event.mapPoint()))
        self._show(rect)
        self.rectangleChanged.emit(rect)

    def canvasReleaseEvent(self, event):  # noqa: N802
        if self.start is None or event.button() != Qt.MouseButton.LeftButton:
            return
        rect = QgsRectangle(self.start, QgsPointXY(event.mapPoint()))
        self.start = None
        if rect.width() <= 0 or rect.height() <= 0:  # a click, not a drag
            self.clear()
            return
        self._show(rect)
        self.rectangle = rect
        self.rectangleDrawn.emit(rect)

    def keyPressEvent(self, event):  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.start = None
            self.clear()

    def deactivate(self):
        self.start = None
        super().deactivate()

    # ------------------------------------------------------------------ display
    def crs(self) -> QgsCoordinateReferenceSystem:
        return self.canvas_.mapSettings().destinationCrs()

    def show_rectangle(self, rect: Optional[QgsRectangle]) -> None:
        """Show `rect` (canvas CRS), e.g. the remembered one, without drawing."""
        if rect is None or rect.isEmpty():
            self.clear()
            return
        self.rectangle = QgsRectangle(rect)
        self._show(rect)

    def refresh_info(self) -> None:
        if self.rectangle is not None:
            self._show(self.rectangle)

    def _show(self, rect: QgsRectangle) -> None:
        if self.rubber_band is None:
            return
        self.rubber_band.reset(QgsWkbTypes.GeometryType.PolygonGeometry)
        corners = [
            QgsPointXY(rect.xMinimum(), rect.yMinimum()),
            QgsPointXY(rect.xMinimum(), rect.yMaximum()),
            QgsPointXY(rect.xMaximum(), rect.yMaximum()),
            QgsPointXY(rect.xMaximum(), rect.yMinimum()),
        ]
        for i, p in enumerate(corners):
            self.rubber_band.addPoint(p, i == len(corners) - 1)
        self.rubber_band.show()
        try:
            self.info = self.estimator(rect, self.crs()) if rect.width() > 0 and rect.height() > 0 else ""
        except Exception:
            self.info = ""
        self.label.set(self.info, QgsPointXY(rect.xMinimum(), rect.yMaximum()))
        self.label.show()

    def clear(self) -> None:
        self.rectangle = None
        self.info = ""
        if self.rubber_band is None:
            return
        self.rubber_band.reset(QgsWkbTypes.GeometryType.PolygonGeometry)
        self.label.set("", QgsPointXY())
        self.label.hide()

    def release(self) -> None:
        """Remove the canvas items (before the plugin unloads)."""
        if self.canvas_.mapTool() is self:
            self.canvas_.unsetMapTool(self)
        for item in (self.rubber_band, self.label):
            try:
                scene = item.scene()
                if scene is not None:
                    scene.removeItem(item)
            except RuntimeError:  # already deleted with the canvas
                pass
        self.rubber_band = None
        self.label = None
