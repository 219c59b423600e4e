"""Area section: the whole layer, the map extent, a rectangle drawn on the map, or selected features.

It owns the rectangle map tool (armed in "drawn" mode) and shows the area in km² with the estimated
number of windows (the estimate comes from the page, which knows the model and the stride).
"""

from __future__ import annotations

from typing import Callable, Optional

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QToolButton

from ...qgis_bridge.request_builder import RequestError
from ..settings import AREA_MODES
from .common import form_layout, muted, safe_slot, select_data

AREA_LABELS = {
    "layer": "Whole layer",
    "canvas": "Current map canvas extent",
    "drawn": "Rectangle drawn on the map",
    "selection": "Extent of selected features",
}


class AreaPicker(QGroupBox):
    """``value()`` is (QgsRectangle, its CRS), or (None, None) for the whole layer; it raises
    RequestError with a sentence for the analyst when the area is incomplete. ``changed()`` when the
    area may have changed (mode, rectangle, polygon layer, map extent or CRS)."""

    changed = pyqtSignal()

    def __init__(self, canvas, estimate: Callable, parent=None):
        super().__init__("Area", parent)
        self.canvas = canvas
        self.estimate = estimate  # (rect, crs) -> "3.69 km² · ~25 windows"
        self.layer = None  # the raster: the whole-layer area and the clip for the estimate
        self.snap: Optional[Callable] = None  # (rect, crs) -> the rect as the run covers it (layer CRS) or None
        self.map_tool = None
        self.drawn_rect: Optional[QgsRectangle] = None
        self.drawn_crs: Optional[QgsCoordinateReferenceSystem] = None
        self._previous_tool = None
        self._build()
        self.area_combo.currentIndexChanged.connect(self.apply_mode)
        self.draw_button.toggled.connect(self._on_draw_toggled)
        self.polygon_combo.layerChanged.connect(self.refresh)
        self.canvas.extentsChanged.connect(self._on_canvas_extent)
        self.canvas.destinationCrsChanged.connect(self._on_canvas_crs)

    def _build(self) -> None:
        form = form_layout(self)
        row = QHBoxLayout()
        self.area_combo = QComboBox(self)
        for mode in AREA_MODES:
            self.area_combo.addItem(AREA_LABELS[mode], mode)
        self.area_combo.setToolTip(
            "Classify the whole layer, what the map shows, a rectangle you draw, or the extent of the "
            "selected features of a polygon layer. Any project CRS works: the area is transformed."
        )
        self.draw_button = QToolButton(self)
        self.draw_button.setText("Draw")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Drag a rectangle on the map (Esc clears it)")
        row.addWidget(self.area_combo, 1)
        row.addWidget(self.draw_button)
        form.addRow("Classify", row)
        self.polygon_combo = QgsMapLayerComboBox(self)
        self.polygon_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.polygon_combo.setToolTip("Polygon layer whose selected features give the area")
        self.polygon_label = QLabel("Polygons", self)
        form.addRow(self.polygon_label, self.polygon_combo)
        self.area_info = muted(QLabel(self))
        self.area_info.setObjectName("areaInfo")
        form.addRow(self.area_info)

    # ---------------------------------------------------------------- value
    def mode(self) -> str:
        return self.area_combo.currentData() or "layer"

    def set_mode(self, mode: str) -> None:
        """Select `mode`; "drawn" arms the rectangle tool when no rectangle is drawn yet."""
        self.area_combo.blockSignals(True)
        select_data(self.area_combo, mode)
        self.area_combo.blockSignals(False)
        self.apply_mode()

    def restore_mode(self, mode: str) -> None:
        """Select the remembered mode without taking over the map tool (the dock is opening)."""
        self.draw_button.blockSignals(True)
        try:
            self.set_mode(mode)
        finally:
            self.draw_button.blockSignals(False)

    def value(self) -> tuple:
        mode = self.mode()
        if mode == "layer":
            return None, None
        if mode == "canvas":
            return QgsRectangle(self.canvas.extent()), self.canvas.mapSettings().destinationCrs()
        if mode == "drawn":
            if self.drawn_rect is None:
                raise RequestError("draw a rectangle on the map first (Area → Draw)")
            return QgsRectangle(self.drawn_rect), self.drawn_crs
        layer = self.polygon_combo.currentLayer()
        if layer is None:
            raise RequestError("choose a polygon layer whose selected features give the area")
        if layer.selectedFeatureCount() == 0:
            raise RequestError(f"select one or more features in '{layer.name()}' first")
        return layer.boundingBoxOfSelected(), layer.crs()

    @safe_slot
    def set_drawn_rectangle(self, rect: QgsRectangle, crs: Optional[QgsCoordinateReferenceSystem] = None) -> None:
        crs = QgsCoordinateReferenceSystem(crs) if crs else self.canvas.mapSettings().destinationCrs()
        snapped = self.snap(rect, crs) if self.snap is not None and self.layer is not None else None
        if snapped is not None:  # widened to the layer's cells: the rubber band shows what the run covers
            rect, crs = snapped, self.layer.crs()
        self.drawn_rect = QgsRectangle(rect)
        self.drawn_crs = crs
        if snapped is not None and self.map_tool is not None:
            self.map_tool.show_rectangle(self._drawn_in_canvas_crs())
        if self.mode() != "drawn":
            self.set_mode("drawn")
        self.refresh()

    def set_layer(self, layer) -> None:
        self.layer = layer
        self.refresh()

    # ---------------------------------------------------------------- the area shown
    @safe_slot
    def refresh(self, *_args) -> None:
        """Area and window estimate of the current choice (or what is missing), then ``changed``."""
        self.area_info.setText(self._info_text())
        if self.map_tool is not None and self.mode() == "drawn":
            self.map_tool.refresh_info()
        self.changed.emit()

    def _info_text(self) -> str:
        if self.layer is None:
            return ""
        try:
            rect, crs = self.value()
            if rect is None:
                rect, crs = self.layer.extent(), self.layer.crs()
            return self.estimate(rect, crs)
        except RequestError as exc:
            return str(exc).capitalize()
        except Exception as exc:
            return f"Cannot measure the area: {exc}"

    # ---------------------------------------------------------------- the map tool
    def _tool(self):
        if self.map_tool is None:
            from ..map_tool import RectangleMapTool

            self.map_tool = RectangleMapTool(self.canvas, self.estimate)
            self.map_tool.rectangleDrawn.connect(self.set_drawn_rectangle)
            self.map_tool.deactivated.connect(lambda: self.draw_button.setChecked(False))
        return self.map_tool

    @safe_slot
    def apply_mode(self, *_args) -> None:
        """Show the polygon picker or the Draw button for the mode; arm or disarm the map tool."""
        mode = self.mode()
        self.polygon_combo.setVisible(mode == "selection")
        self.polygon_label.setVisible(mode == "selection")
        self.draw_button.setEnabled(mode == "drawn")
        if mode == "drawn":
            if self.drawn_rect is not None:
                self._tool().show_rectangle(self._drawn_in_canvas_crs())
            elif not self.draw_button.isChecked():
                self.draw_button.setChecked(True)
        else:
            self.draw_button.setChecked(False)
            if self.map_tool is not None:
                self.map_tool.clear()
        self.refresh()

    @safe_slot
    def _on_draw_toggled(self, checked: bool) -> None:
        tool = self._tool()
        if checked:
            if self.canvas.mapTool() is not tool:
                self._previous_tool = self.canvas.mapTool()
                self.canvas.setMapTool(tool)
        elif self.canvas.mapTool() is tool:
            self.canvas.unsetMapTool(tool)
            if self._previous_tool is not None:
                try:
                    self.canvas.setMapTool(self._previous_tool)
                except RuntimeError:
                    pass
            self._previous_tool = None

    def _drawn_in_canvas_crs(self) -> Optional[QgsRectangle]:
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        if self.drawn_rect is None or self.drawn_crs is None or self.drawn_crs == canvas_crs:
            return self.drawn_rect
        ct = QgsCoordinateTransform(self.drawn_crs, canvas_crs, QgsProject.instance().transformContext())
        return ct.transformBoundingBox(self.drawn_rect)

    @safe_slot
    def _on_canvas_crs(self) -> None:
        """The drawn rectangle keeps its own CRS; its rubber band follows the canvas CRS."""
        if self.map_tool is not None and self.mode() == "drawn" and self.drawn_rect is not None:
            self.map_tool.show_rectangle(self._drawn_in_canvas_crs())
        self.refresh()

    @safe_slot
    def _on_canvas_extent(self) -> None:
        if self.mode() == "canvas":
            self.refresh()

    def hide_on_map(self) -> None:
        """The page was left: disarm the draw tool and take the rectangle off the canvas (it is kept)."""
        self.draw_button.setChecked(False)
        if self.map_tool is not None:
            self.map_tool.clear()

    def show_on_map(self) -> None:
        """Back on the page: the drawn rectangle again (the tool stays unarmed)."""
        if self.mode() == "drawn" and self.drawn_rect is not None:
            self._tool().show_rectangle(self._drawn_in_canvas_crs())

    # ---------------------------------------------------------------- life cycle
    def clear(self) -> None:
        """Forget the drawn rectangle (the project was closed)."""
        self.drawn_rect = None
        if self.map_tool is not None:
            self.map_tool.clear()

    def release(self) -> None:
        """Disconnect from the canvas and remove the map tool and its canvas items."""
        for signal, slot in (
            (self.canvas.extentsChanged, self._on_canvas_extent),
            (self.canvas.destinationCrsChanged, self._on_canvas_crs),
        ):
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
        if self.map_tool is not None:
            self.map_tool.release()
            self.map_tool = None
