"""The guided review of the Review & correct page (a mixin of :class:`~.page.CorrectPage`): step through the
doubtful cells or the tiles of the map, accept or correct each, dots on the reviewed ones.

While a review is under way the plugin's result layers are hidden, so the canvas shows the imagery the
analyst judges (qgis_bridge.map_view); "Show the land cover" puts them back, and so does leaving the review
or the page.
"""

from __future__ import annotations

from qgis.core import Qgis, QgsGeometry, QgsPointXY, QgsRectangle, QgsWkbTypes
from qgis.gui import QgsRubberBand, QgsVertexMarker
from qgis.PyQt.QtGui import QColor

from ...core.edits import Edit, EditError
from ...core.edits import review as review_core

REVIEW_CONTEXT_CELLS = 21  # a review step shows this many cells across


class ReviewController:
    """The review's state (``review_items``, ``review_index``, ``review_kind``) and canvas items."""

    def start_review(self) -> None:
        if self.session is None:
            return
        self._remember()
        mode = self.review.mode_key
        files = self.files
        try:
            if mode == "tiles":
                g = self.session.grid
                self.review_items = review_core.tiles(g.width, g.height, self.review.count.value())
                self.review_kind = "tiles"
            else:
                source = files.confidence if mode == "confidence" else files.probabilities
                if not source.exists():
                    raise EditError(f"{source.name} is missing: the review order needs it (classify with it on)")
                self.review_items = review_core.doubtful_cells(source, mode, self.review.count.value())
                self.review_kind = "cells"
        except EditError as exc:
            self.push(str(exc), Qgis.MessageLevel.Warning)
            return
        if not self.review_items:
            self.push("there is nothing to review: the layer has no classified cell", Qgis.MessageLevel.Info)
            return
        self._ensure_review_items()
        self.set_tool("review")
        self._paint_reviewed()
        self.go_to(0)

    def show_imagery(self, on: bool) -> None:
        """Hide the plugin's result layers (``on``) so the canvas shows the imagery, or put them back as they were."""
        if on and not self.hidden.active:
            self.hidden.hide_results()
        elif not on and self.hidden.active:
            self.hidden.restore()

    def _show_map_toggled(self, checked: bool) -> None:
        if self.review_items:
            self.show_imagery(not checked)

    def _ensure_review_items(self):
        if self.marker is None:
            self.marker = QgsRubberBand(self.canvas, QgsWkbTypes.GeometryType.PolygonGeometry)
            self.marker.setColor(QColor(255, 255, 255, 230))
            self.marker.setFillColor(QColor(255, 255, 255, 0))
            self.marker.setWidth(3)

    def _clear_review(self):
        self.show_imagery(False)
        self.review_items, self.review_index, self.review_kind = [], -1, ""
        if self.marker is not None:
            self.marker.reset(QgsWkbTypes.GeometryType.PolygonGeometry)
        self._clear_marks()

    def _clear_marks(self):
        if self.canvas is not None:
            for m in self.reviewed_marks:
                self.canvas.scene().removeItem(m)
        self.reviewed_marks = []

    def _item_key(self, item):
        return (item.row, item.col) if self.review_kind == "cells" else (item.yoff, item.xoff)

    def _reviewed(self) -> set:
        return self.session.log.reviewed("cell" if self.review_kind == "cells" else "tile")

    def _paint_reviewed(self):
        """A white dot with a black ring on every reviewed cell (tile centre) of the current review."""
        self._clear_marks()
        done = self._reviewed()
        ct = self._to_canvas()
        g = self.session.grid
        for item in self.review_items:
            if self._item_key(item) not in done:
                continue
            if self.review_kind == "cells":
                x, y = g.cell_center(item.row, item.col)
            else:
                x, y = g.cell_center(item.yoff + item.height / 2 - 0.5, item.xoff + item.width / 2 - 0.5)
            mark = QgsVertexMarker(self.canvas)
            mark.setIconType(QgsVertexMarker.IconType.ICON_CIRCLE)
            mark.setColor(QColor(0, 0, 0))
            mark.setFillColor(QColor(255, 255, 255))
            mark.setIconSize(10)
            mark.setPenWidth(2)
            mark.setCenter(ct.transform(QgsPointXY(x, y)))
            self.reviewed_marks.append(mark)
        total = len(self.review_items)
        n = sum(1 for it in self.review_items if self._item_key(it) in done)
        self.review.show_progress(n, total, "doubtful cells" if self.review_kind == "cells" else "tiles")

    def go_to(self, index: int) -> None:
        if self.session is None or not self.review_items:
            return
        index = max(0, min(index, len(self.review_items) - 1))
        self.review_index = index
        item = self.review_items[index]
        g = self.session.grid
        gt = g.geotransform
        ct = self._to_canvas()
        if self.review_kind == "cells":
            cell_rect = QgsRectangle(
                gt[0] + item.col * gt[1],
                gt[3] + (item.row + 1) * gt[5],
                gt[0] + (item.col + 1) * gt[1],
                gt[3] + item.row * gt[5],
            )
            view = QgsRectangle(cell_rect)
            view.grow(g.cell_size * REVIEW_CONTEXT_CELLS / 2)
            names = self.palette.name
            top = []
            if self.files.probabilities.exists():
                top = review_core.top_classes(self.files.probabilities, item.row, item.col)
            current = self.session.read(review_core.Window(item.col, item.row, 1, 1))[0, 0]
            what = ", ".join(f"{names(c)} {p:.0%}" for c, p in top)
            label = "confidence" if self.review.mode_key == "confidence" else "margin"
            self.review.current.setText(
                f"Cell {index + 1} of {len(self.review_items)} (row {item.row}, col {item.col}), "
                f"{label} {item.score:.2f}. Now: {names(int(current))}. Model: {what}. "
                "Enter accepts, 1-9/0 sets the class."
            )
        else:
            cell_rect = QgsRectangle(
                gt[0] + item.xoff * gt[1],
                gt[3] + (item.yoff + item.height) * gt[5],
                gt[0] + (item.xoff + item.width) * gt[1],
                gt[3] + item.yoff * gt[5],
            )
            view = QgsRectangle(cell_rect)
            view.grow(g.cell_size * 2)
            self.review.current.setText(
                f"Tile {index + 1} of {len(self.review_items)} (rows {item.yoff}-{item.yoff + item.height - 1}, "
                f"cols {item.xoff}-{item.xoff + item.width - 1}). Correct it with the tools, Enter marks it reviewed."
            )
        self.show_imagery(not self.review.show_map.isChecked())
        self.marker.setToGeometry(QgsGeometry.fromRect(ct.transformBoundingBox(cell_rect)), None)
        self.canvas.setExtent(ct.transformBoundingBox(view))
        self.canvas.refresh()
        self._paint_reviewed()

    def accept_review(self) -> None:
        if self.session is None or not (0 <= self.review_index < len(self.review_items)):
            return
        item = self.review_items[self.review_index]
        try:
            if self.review_kind == "cells":
                self.session.mark_reviewed(item.row, item.col, "accepted")
            else:
                self.session.mark_tile(item)
        except EditError as exc:
            self.push(str(exc), Qgis.MessageLevel.Warning)
            return
        self._advance()

    def correct_review(self, index: int) -> None:
        item = self.review_items[self.review_index]
        x, y = self.session.grid.cell_center(item.row, item.col)
        current = int(self.session.read(review_core.Window(item.col, item.row, 1, 1))[0, 0])
        if current == index:
            self.accept_review()
            return
        edit = self._run(lambda: self.session.apply(Edit("review", f"POINT ({x} {y})", index, all_touched=True)), "")
        if edit is None:
            return
        self.session.mark_reviewed(item.row, item.col, "corrected", index, edit.id)
        self._advance()

    def _advance(self):
        done = self._reviewed()
        n = len(self.review_items)
        for step in range(1, n + 1):
            i = (self.review_index + step) % n
            if self._item_key(self.review_items[i]) not in done:
                self.go_to(i)
                return
        self._paint_reviewed()
        self.show_imagery(False)
        self.push(f"review done: all {n} {'doubtful cells' if self.review_kind == 'cells' else 'tiles'} reviewed")
