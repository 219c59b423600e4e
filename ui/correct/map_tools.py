"""Map tools of the Review & correct page. They only draw and report what was drawn (points in the
canvas CRS); the page turns that into an edit (core.edits) and applies it.

Keys, whichever tool is active, on the map or in the dock's page (:func:`key_command`): 1-9 and 0 pick
the class (0 is the tenth), Ctrl+Z undoes, Ctrl+Shift+Z (or Ctrl+Y) redoes, Enter accepts the current
review step; on the map Esc drops a drawing in progress. The click that gives the map the focus (from the
dock) only focuses it: it draws nothing.
"""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsPointXY, QgsWkbTypes
from qgis.gui import QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import QEvent, Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor

DIGIT_KEYS = {getattr(Qt, f"Key_{d}"): (d - 1) % 10 for d in range(10)}  # 1..9 -> 0..8, 0 -> 9
DRAW_COLOR = QColor(255, 0, 200, 200)


def key_command(key, mods) -> Optional[str]:
    """The page's command for a key: "undo" | "redo" | "accept" | "class:<i>", or None."""
    ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
    if key == Qt.Key.Key_Z and ctrl:
        return "redo" if mods & Qt.KeyboardModifier.ShiftModifier else "undo"
    if key == Qt.Key.Key_Y and ctrl:
        return "redo"
    if key in DIGIT_KEYS and not mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
        return f"class:{DIGIT_KEYS[key]}"
    if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
        return "accept"
    return None


class CorrectionTool(QgsMapTool):
    """Shared key handling and a rubber band; subclasses say what a gesture emits."""

    kind = ""
    pointsDrawn = pyqtSignal(str, list)  # tool kind, [QgsPointXY] in the canvas CRS  # noqa: N815
    command = pyqtSignal(str)  # "undo" | "redo" | "accept" | "class:<i>"

    def __init__(self, canvas, geometry_type=QgsWkbTypes.GeometryType.LineGeometry):
        super().__init__(canvas)
        self.points: list = []
        self.focus_click = False  # set by a FocusIn from a mouse press (see eventFilter)
        self.swallowing = False  # the current press/release only focused the canvas
        self.band = QgsRubberBand(canvas, geometry_type)
        self.band.setColor(DRAW_COLOR)
        self.band.setWidth(2)
        self.setCursor(Qt.CursorShape.CrossCursor)

    # ---- keys
    def keyPressEvent(self, event):  # noqa: N802 (Qt API)
        command = key_command(event.key(), event.modifiers())
        if command is not None:
            self.command.emit(command)
        elif event.key() == Qt.Key.Key_Escape:
            self.reset()
        else:
            event.ignore()
            return
        event.accept()

    # ---- the click that focuses the map draws nothing
    def activate(self):
        super().activate()
        self.canvas().installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.FocusIn and event.reason() == Qt.FocusReason.MouseFocusReason:
            self.focus_click = True  # the press that follows only gave the canvas the focus
        return False

    def canvasPressEvent(self, event):  # noqa: N802 (QGIS API)
        self.swallowing = self.focus_click
        self.focus_click = False
        if not self.swallowing:
            self.press(event)

    def canvasMoveEvent(self, event):  # noqa: N802 (QGIS API)
        if not self.swallowing:
            self.move(event)

    def canvasReleaseEvent(self, event):  # noqa: N802 (QGIS API)
        swallowed, self.swallowing = self.swallowing, False
        if not swallowed:
            self.release_at(event)

    def canvasDoubleClickEvent(self, event):  # noqa: N802 (QGIS API)
        if not self.swallowing:
            self.double_click(event)

    def press(self, event): ...

    def move(self, event): ...

    def release_at(self, event): ...

    def double_click(self, event): ...

    # ---- drawing helpers
    def map_point(self, event) -> QgsPointXY:
        return QgsPointXY(self.toMapCoordinates(event.pos()))

    def reset(self):
        self.points = []
        if self.band is not None:
            self.band.reset(self._geometry_type())

    def _geometry_type(self):
        return QgsWkbTypes.GeometryType.LineGeometry

    def finish(self):
        pts, self.points = self.points, []
        if self.band is not None:
            self.band.reset(self._geometry_type())
        if pts:
            self.pointsDrawn.emit(self.kind, pts)

    def deactivate(self):
        self.canvas().removeEventFilter(self)
        self.reset()
        super().deactivate()

    def release(self):
        """Remove the canvas items (called by the page when it shuts down)."""
        scene = self.canvas().scene()
        if self.band is not None and self.band.scene() is scene:
            scene.removeItem(self.band)
        self.band = None


class ClickTool(CorrectionTool):
    """One click = one point: set one cell ("cell"), flood a region ("flood"), pick a review cell."""

    def __init__(self, canvas, kind: str):
        super().__init__(canvas)
        self.kind = kind

    def release_at(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self.points = [self.map_point(event)]
            self.finish()


class Freehand:
    """Press and drag draws: the points of a stroke (mixed into a CorrectionTool: brush, lasso)."""

    def press(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self.points = [self.map_point(event)]
            self.band.reset(self._geometry_type())
            self.band.addPoint(self.points[0])

    def move(self, event):
        if self.points and event.buttons() & Qt.MouseButton.LeftButton:
            p = self.map_point(event)
            self.points.append(p)
            self.band.addPoint(p)


class BrushTool(Freehand, CorrectionTool):
    """Press, drag, release: the stroke's points ("brush"); the page knows the size in cells."""

    kind = "brush"

    def release_at(self, event):
        if self.points and event.button() == Qt.MouseButton.LeftButton:
            p = self.map_point(event)
            if p != self.points[-1]:
                self.points.append(p)
            self.finish()


class PolygonTool(CorrectionTool):
    """Left clicks add vertices, a right click (or a double click) closes the polygon."""

    def __init__(self, canvas, kind: str = "polygon"):
        super().__init__(canvas, QgsWkbTypes.GeometryType.PolygonGeometry)
        self.kind = kind
        self.band.setFillColor(QColor(255, 0, 200, 50))

    def _geometry_type(self):
        return QgsWkbTypes.GeometryType.PolygonGeometry

    def release_at(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            p = self.map_point(event)
            self.points.append(p)
            self.band.addPoint(p)
        elif event.button() == Qt.MouseButton.RightButton:
            if len(self.points) >= 3:
                self.finish()
            else:
                self.reset()

    def double_click(self, event):
        if len(self.points) >= 3:
            self.finish()


class LassoTool(Freehand, PolygonTool):
    """Press, draw freehand, release: the closed outline ("lasso")."""

    def __init__(self, canvas):
        super().__init__(canvas, "lasso")

    def release_at(self, event):
        if event.button() == Qt.MouseButton.LeftButton and self.points:
            self.points.append(self.map_point(event))
            if len(self.points) >= 3:
                self.finish()
            else:
                self.reset()
