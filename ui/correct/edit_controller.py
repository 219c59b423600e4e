"""The edit side of the Review & correct page (a mixin of :class:`~.page.CorrectPage`): map tools, keys,
one change at a time (at once, or in a BackgroundTask for a large window), undo/redo, the edit log view.

It reads and sets the page's ``session``, ``files``, ``layer``, ``task``, ``canvas`` and widgets; core.edits
does the work, qgis_bridge.corrections repaints.
"""

from __future__ import annotations

import traceback

from qgis.core import Qgis, QgsApplication, QgsCoordinateTransform, QgsCsException, QgsProject, QgsRectangle

from ...core.edits import Edit, EditError
from ...core.edits.model import brush_geometry, polygon_geometry
from ...core.edits.raster import build_corrected
from ...core.edits.session import CANCELLED
from ...qgis_bridge import corrections
from ...qgis_bridge.background import BackgroundTask
from ...toolbelt.log import log_error
from .map_tools import BrushTool, ClickTool, LassoTool, PolygonTool

BACKGROUND_CELLS = 4_000_000  # from this many cells the corrected raster is (re)written, or changed, in a task
LABELS = {
    "recode": "Recode whole layer",
    "revert": "Revert",
    "revert all": "Revert all",
    "undo": "Undo",
    "redo": "Redo",
}


def large(cells: int) -> bool:
    """A window of this many cells is written in a background task."""
    return cells >= BACKGROUND_CELLS


class EditController:
    """Turns what the map tools and keys report into edits of the page's session."""

    def _rebuild_in_task(self, then) -> None:
        """Write the corrected raster in a BackgroundTask (progress, cancel); ``then()`` on the main thread after."""
        session, plan = self.session, self.session.rebuild_plan()
        session.needs_rebuild = True
        name = self.files.corrected.name
        self.status.setText(f"Writing {name} from the model output and the edit log…")
        self._update_enabled()

        def work(progress, is_cancelled):
            return build_corrected(**plan, progress=progress, is_cancelled=is_cancelled)

        def done(task):
            if self.task is task:
                self.task = None
            if self.session is not session:  # editing stopped meanwhile (layer removed, project closed)
                return
            if task.error is not None:
                self.stop_editing(quiet=True)
                if task.cancelled:
                    self.push("cancelled: the corrected raster was not written", Qgis.MessageLevel.Warning)
                elif task.traceback is None:  # an EditError: its line as it is
                    self.push(task.error, Qgis.MessageLevel.Warning)
                else:  # unexpected: the traceback is in the log already
                    self.push(f"cannot write {name}: {task.error}", Qgis.MessageLevel.Critical)
                return
            self.session.rebuilt()
            corrections.repaint(self.layer)
            self._update_enabled()
            then()

        task = BackgroundTask(f"EuroSAT corrections: writing {name}", work, done)
        self.task = task
        QgsApplication.taskManager().addTask(task)

    def set_tool(self, kind: str) -> None:
        self.tool_kind = kind
        self.tools.check(kind)
        if self.session is None or self.canvas is None:
            return
        tool = self.map_tools.get(kind)
        if tool is None:
            if kind == "brush":
                tool = BrushTool(self.canvas)
            elif kind == "lasso":
                tool = LassoTool(self.canvas)
            elif kind in ("polygon", "recode"):
                tool = PolygonTool(self.canvas, kind)
            else:
                tool = ClickTool(self.canvas, kind)
            tool.pointsDrawn.connect(self.on_drawn)
            tool.command.connect(self.on_command)
            self.map_tools[kind] = tool
        self.canvas.setMapTool(tool)
        self.canvas.setFocus()

    def _class_chosen(self, index: int) -> None:
        self.palette.select(index)

    @property
    def current_class(self) -> int:
        return self.palette.current

    def on_command(self, command: str) -> None:
        if command == "undo":
            self.undo()
        elif command == "redo":
            self.redo()
        elif command == "accept":
            self.accept_review()
        elif command.startswith("class:"):
            index = int(command.split(":")[1])
            if index >= len(self.palette.buttons):
                return
            if self.review_kind == "cells" and 0 <= self.review_index < len(self.review_items):
                self.correct_review(index)
            else:
                self.palette.select(index)

    def _to_raster(self):
        return QgsCoordinateTransform(
            self.canvas.mapSettings().destinationCrs(), self.layer.crs(), QgsProject.instance()
        )

    def _to_canvas(self):
        return QgsCoordinateTransform(
            self.layer.crs(), self.canvas.mapSettings().destinationCrs(), QgsProject.instance()
        )

    def on_drawn(self, kind: str, points: list) -> None:
        """A gesture ended on the map: make it an edit of the corrected raster."""
        if self.session is None or self.layer is None:
            self.push(
                "no land-cover layer is being edited: nothing was changed (press Edit first)", Qgis.MessageLevel.Warning
            )
            return
        if kind == "review":  # the review tool only takes keys (Enter, 1-9, 0)
            return
        to = self.current_class

        def make():
            try:
                ct = self._to_raster()
                xy = [(p.x(), p.y()) for p in (ct.transform(q) for q in points)]
            except QgsCsException as exc:
                raise EditError(f"the drawn points cannot be transformed to the layer's CRS: {exc}") from None
            grid = self.session.grid
            if kind == "cell":
                return self.session.apply(Edit("cell", f"POINT ({xy[0][0]} {xy[0][1]})", to, all_touched=True))
            if kind == "flood":
                return self.session.flood(xy[0][0], xy[0][1], to)
            if kind == "brush":
                geom = brush_geometry(grid, xy, self.tools.brush_size.value())
                return self.session.apply(Edit("brush", geom.ExportToWkt(), to, all_touched=True))
            if kind in ("polygon", "lasso"):
                return self.session.apply(Edit(kind, polygon_geometry(xy).ExportToWkt(), to))
            if kind == "recode":
                table = self.tools.recode.mapping()
                if not table:
                    raise EditError("the recode table is empty: add a row with two different classes")
                return self.session.apply(Edit("recode", polygon_geometry(xy).ExportToWkt(), recode=table))
            return None

        self._run(make, kind)

    def recode_whole_layer(self) -> None:
        table = self.tools.recode.mapping()
        if not table:
            self.push("the recode table is empty: add a row with two different classes", Qgis.MessageLevel.Warning)
            return
        self._run_change(lambda: self.session.plan_apply(Edit("recode", None, recode=table)), "recode")

    def undo(self) -> None:
        self._run_change(lambda: self.session.plan_undo(), "undo")

    def redo(self) -> None:
        self._run_change(lambda: self.session.plan_redo(), "redo")

    def rebuild(self) -> None:
        if self.session is None or self.task is not None:
            return
        g = self.session.grid
        if large(g.width * g.height):
            self._rebuild_in_task(self.refresh_log)
        else:
            self._run(lambda: self.session.rebuild(), "rebuild")

    def _run(self, fn, what: str):
        """Run one change; a refusal is one sentence in the message bar, never a traceback."""
        if self.session is None:
            self.push(
                "no land-cover layer is being edited: nothing was changed (press Edit first)", Qgis.MessageLevel.Warning
            )
            return None
        try:
            out = fn()
        except EditError as exc:
            self.push(str(exc), Qgis.MessageLevel.Warning)
            return None
        except Exception as exc:
            self._unexpected(exc)
            return None
        self._show_change()
        return out

    def _show_change(self) -> None:
        corrections.repaint(self.layer)
        self.refresh_log()
        if self.review_items:
            self._paint_reviewed()

    def _run_change(self, plan, what: str):
        """One change planned by ``plan()`` (a core Change: revert, whole-layer recode, undo, redo).

        One whose window has fewer than BACKGROUND_CELLS cells is made at once (:meth:`_run`); a bigger
        one is written in a BackgroundTask (:meth:`_change_in_task`).
        """
        if self.session is None:
            return self._run(plan, what)  # the one refusal sentence
        try:
            change = plan()  # refused while another change or a rebuild is under way
        except EditError as exc:
            self.push(str(exc), Qgis.MessageLevel.Warning)
            return None
        except Exception as exc:
            self._unexpected(exc)
            return None
        if not large(change.window_cells):
            return self._run(lambda: self.session.complete(change), what)
        self._change_in_task(change, what)
        return None

    def _change_in_task(self, change, what: str) -> None:
        """Stage a planned change in a BackgroundTask (progress, cancel), commit it on the main thread after.

        The page's tools are off meanwhile and the session refuses other changes (its ``pending``), so no
        second edit can start. A cancel or an error leaves the raster and the log as they were.
        """
        session, name = self.session, self.files.corrected.name
        label = LABELS.get(what, what)
        before = self.status.text()

        def work(progress, is_cancelled):
            change.stage(progress=progress, is_cancelled=is_cancelled)
            return change.action.cells

        def done(task):
            if self.task is task:
                self.task = None
            if self.session is not session:  # editing stopped meanwhile: the log never shows it, nor the raster
                try:
                    change.rollback()
                except Exception as exc:  # the raster stays marked as being written: rebuilt when opened again
                    self._unexpected(exc)
                return
            out, failure = None, None  # failure: an exception of the commit or discard (main thread)
            try:
                if task.error is None:
                    out = session.commit(change)
                else:
                    session.discard(change)
            except Exception as exc:
                failure = exc
            self.status.setText(before)
            self._show_change()
            self._update_enabled()
            if failure is not None:
                self._unexpected(failure)
            elif task.error is None:
                logged = f" (edit {out.id} in the log)" if change.kind == "add" else ""
                self.push(
                    f"{label} done: {change.action.cells:,} cells changed in {name}{logged}", Qgis.MessageLevel.Success
                )
            elif task.cancelled or task.error == CANCELLED:
                self.push(f"{label} {CANCELLED}", Qgis.MessageLevel.Info)
            elif task.traceback is None:  # an EditError: its line as it is
                self.push(task.error, Qgis.MessageLevel.Warning)
            else:  # unexpected: the traceback is in the log already
                self.push(f"unexpected error: {task.error}", Qgis.MessageLevel.Critical)

        task = BackgroundTask(f"EuroSAT corrections: {label.lower()} ({name})", work, done)
        self.task = task
        self.status.setText(f"{label}: writing {name}… (progress and cancel in QGIS's task manager)")
        self._update_enabled()
        QgsApplication.taskManager().addTask(task)

    def _unexpected(self, exc) -> None:
        log_error("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        self.push(f"unexpected error: {exc} (details in the log panel)", Qgis.MessageLevel.Critical)

    def refresh_log(self) -> None:
        if self.session is None:
            return
        self.log_view.show_edits(self.session.edits(), self.palette.name)
        self.tools.undo.setEnabled(bool(self.session.undo_stack))
        self.tools.redo.setEnabled(bool(self.session.redo_stack))

    def zoom_to_edit(self, edit_id: int) -> None:
        if self.session is None:
            return
        edit = next((e for e in self.session.edits() if e.id == edit_id), None)
        if edit is None:
            return
        geom = edit.geometry()
        if geom is None:
            rect = self.layer.extent()
        else:
            xmin, xmax, ymin, ymax = geom.GetEnvelope()
            rect = QgsRectangle(xmin, ymin, xmax, ymax)
        rect = self._to_canvas().transformBoundingBox(rect)
        cell = self.session.grid.cell_size
        rect.grow(max(rect.width(), rect.height(), cell * 5) * 0.3)
        self.canvas.setExtent(rect)
        self.canvas.refresh()
