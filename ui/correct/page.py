"""The "Review & correct" page: correct a land-cover layer made by the plugin, non-destructively.

The page is glue: the map tools report points, :mod:`core.edits` turns them into edits, logs and
applies them, :mod:`qgis_bridge.corrections` shows and repaints the corrected layer. The model's
``<run>_classes.tif`` is never written; see docs/notes/correct.md for the files.
"""

from __future__ import annotations

import traceback

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsCsException,
    QgsGeometry,
    QgsMapLayerProxyModel,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsTask,
    QgsWkbTypes,
)
from qgis.gui import QgsMapLayerComboBox, QgsRubberBand, QgsVertexMarker
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QPushButton

from ...core.edits import Edit, EditError, EditSession
from ...core.edits import review as review_core
from ...core.edits.model import brush_geometry, polygon_geometry
from ...core.edits.raster import build_corrected
from ...core.edits.session import CANCELLED, run_palette
from ...qgis_bridge import corrections
from ...toolbelt.log import log_error
from ..page_base import WorkspacePage
from .improve_section import ImproveSection
from .log_view import LogSection
from .map_tools import BrushTool, ClickTool, LassoTool, PolygonTool
from .palette import PaletteSection
from .review_section import ReviewSection
from .settings import CorrectSettings
from .tools import ToolsSection

REVIEW_CONTEXT_CELLS = 21  # a review step shows this many cells across
BACKGROUND_CELLS = 4_000_000  # from this many cells the corrected raster is (re)written, or changed, in a QgsTask
LABELS = {
    "recode": "Recode whole layer",
    "revert": "Revert",
    "revert all": "Revert all",
    "undo": "Undo",
    "redo": "Redo",
}


class CorrectPage(WorkspacePage):
    title = "Review && correct"
    object_name = "CorrectPage"

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(iface, workspace, parent)
        self.canvas = iface.mapCanvas() if iface is not None else None
        self.settings = CorrectSettings.load()
        self.session: EditSession | None = None
        self.files = None
        self.layer = None  # the corrected layer
        self.source_layer = None  # the layer the user picked (classes or corrected)
        self.tool_kind = "cell"
        self.map_tools: dict = {}
        self.review_items: list = []
        self.review_index = -1
        self.review_kind = ""
        self.task = None
        self.marker = None
        self.reviewed_marks: list = []  # QgsVertexMarker per reviewed cell or tile
        self._build()
        project = QgsProject.instance()
        project.layersWillBeRemoved.connect(self._layers_removed)
        project.removeAll.connect(self._project_cleared)  # before the layers go (project closed or cleared)
        project.cleared.connect(self._project_cleared)
        signal = getattr(iface, "currentLayerChanged", None)
        if signal is not None:
            signal.connect(self._follow_active_layer)
        self._update_enabled()

    def _follow_active_layer(self, layer=None) -> None:
        """Until editing starts, the layer box follows the active raster layer."""
        if self.session is None and isinstance(layer, QgsRasterLayer):
            self.layer_combo.setLayer(layer)

    # ------------------------------------------------------------------ widgets
    def _build(self):
        body, lay = self.scrolling_body()
        row = QHBoxLayout()
        self.layer_combo = QgsMapLayerComboBox(body)
        self.layer_combo.setObjectName("correctLayer")
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.layer_combo.setToolTip("A land-cover layer made by the Classify page (its *_classes.tif)")
        row.addWidget(self.layer_combo, 1)
        self.edit_button = QPushButton("Edit", body)
        self.edit_button.setObjectName("correctEdit")
        self.edit_button.setCheckable(True)
        self.edit_button.setToolTip("Start or stop correcting the chosen layer")
        self.edit_button.clicked.connect(self._edit_toggled)
        row.addWidget(self.edit_button)
        lay.addLayout(row)
        self.status = QLabel("Pick a land-cover layer made by the Classify page and press Edit.", body)
        self.status.setObjectName("correctStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.palette = PaletteSection(body)
        self.palette.classChosen.connect(self._class_chosen)
        lay.addWidget(self.palette)
        self.tools = ToolsSection(body)
        self.tools.brush_size.setValue(self.settings.brush_size)
        self.tools.brush_size.valueChanged.connect(self._remember)
        self.tools.toolChosen.connect(self.set_tool)
        self.tools.undoClicked.connect(self.undo)
        self.tools.redoClicked.connect(self.redo)
        self.tools.recodeAllClicked.connect(self.recode_whole_layer)
        lay.addWidget(self.tools)
        self.log_view = LogSection(body)
        self.log_view.editClicked.connect(self.zoom_to_edit)
        self.log_view.revertClicked.connect(lambda i: self._run_change(lambda: self.session.plan_revert(i), "revert"))
        self.log_view.revertAllClicked.connect(
            lambda: self._run_change(lambda: self.session.plan_revert_all(), "revert all")
        )
        self.log_view.rebuildClicked.connect(self.rebuild)
        lay.addWidget(self.log_view)
        self.review = ReviewSection(body)
        idx = self.review.mode.findData(self.settings.review_mode)
        self.review.mode.setCurrentIndex(max(0, idx))
        self.review.count.setValue(
            self.settings.tile_size if self.settings.review_mode == "tiles" else self.settings.review_count
        )
        self.review.startClicked.connect(self.start_review)
        self.review.acceptClicked.connect(self.accept_review)
        self.review.stepClicked.connect(lambda d: self.go_to(self.review_index + d))
        lay.addWidget(self.review)
        self.improve = ImproveSection(self, body)  # issue 24: fine-tune on these corrections
        lay.addWidget(self.improve)
        lay.addStretch(1)

    def _update_enabled(self):
        on = self.session is not None and not self.session.needs_rebuild and self.task is None
        for w in (self.palette, self.tools, self.log_view, self.review):
            w.setEnabled(on)
        self.improve.setEnabled(on or self.improve.task is not None)
        editing = self.session is not None
        self.layer_combo.setEnabled(not editing)
        self.edit_button.setChecked(editing)
        self.edit_button.setText("Stop" if editing else "Edit")

    def _remember(self):
        self.settings.brush_size = self.tools.brush_size.value()
        self.settings.review_mode = self.review.mode_key
        if self.review.mode_key == "tiles":
            self.settings.tile_size = self.review.count.value()
        else:
            self.settings.review_count = self.review.count.value()
        self.settings.save()

    # ------------------------------------------------------------------ start / stop
    def _edit_toggled(self, checked: bool):
        if checked:
            self.start_editing(self.layer_combo.currentLayer())
        else:
            self.stop_editing()

    def start_editing(self, layer) -> bool:
        """Open the corrections of a plugin-made land-cover layer; refuse any other with one sentence."""
        self.stop_editing(quiet=True)
        files, reason = corrections.landcover_run(layer)
        if files is None:
            self.push(reason, Qgis.MessageLevel.Warning)
            self._update_enabled()
            return False
        try:
            session = EditSession.open(files.classes, defer_rebuild=True)
        except EditError as exc:
            self.push(str(exc), Qgis.MessageLevel.Warning)
            self._update_enabled()
            return False
        except Exception as exc:  # never a traceback in a dialog
            self._unexpected(exc)
            self._update_enabled()
            return False
        self.session, self.files, self.source_layer = session, files, layer
        if session.needs_rebuild:
            g = session.grid
            if g.width * g.height >= BACKGROUND_CELLS:
                self._rebuild_in_task(self._ready)
                return True
            try:
                session.rebuild()
            except EditError as exc:
                self.stop_editing(quiet=True)
                self.push(str(exc), Qgis.MessageLevel.Warning)
                return False
        return self._ready()

    def _ready(self) -> bool:
        """The corrected raster shows the log: add its layer and open the tools."""
        files, session = self.files, self.session
        try:
            self.layer = corrections.corrected_layer(files, near=self.source_layer)
        except OSError as exc:
            self.stop_editing(quiet=True)
            self.push(str(exc), Qgis.MessageLevel.Critical)
            return False
        corrections.repaint(self.layer)
        palette = run_palette(files)
        self.palette.set_classes(palette)
        self.tools.recode.set_classes(palette)
        self.tools.recode.add_row(0, 1 if len(palette) > 1 else 0)
        self.log_view.path_label.setText(f"{files.corrected.name} · {files.log.name}")
        self.status.setText(
            f"Editing {files.prefix}: the model output {files.classes.name} stays as it is; "
            f"corrections go to {files.corrected.name}, the log to {files.log.name}."
        )
        self._update_enabled()
        self.set_tool(self.tool_kind)
        self.refresh_log()
        if session.rebuilt_on_open:
            self.push(
                f"{files.corrected.name} did not match its edit log and was rebuilt from it", Qgis.MessageLevel.Info
            )
        return True

    def _rebuild_in_task(self, then) -> None:
        """Write the corrected raster in a QgsTask (progress, cancel); ``then()`` on the main thread after."""
        session, plan = self.session, self.session.rebuild_plan()
        session.needs_rebuild = True
        name = self.files.corrected.name
        self.status.setText(f"Writing {name} from the model output and the edit log…")
        self._update_enabled()

        def work(task):
            return build_corrected(**plan, progress=lambda f: task.setProgress(100.0 * f), is_cancelled=task.isCanceled)

        def done(exception, result=None):
            if self.task is task:
                self.task = None
            if self.session is not session:  # editing stopped meanwhile (layer removed, project closed)
                return
            if exception is not None:
                self.stop_editing(quiet=True)
                if isinstance(exception, EditError):
                    self.push(str(exception), Qgis.MessageLevel.Warning)
                else:
                    self.push(f"cannot write {name}: {exception}", Qgis.MessageLevel.Critical)
                return
            self.session.rebuilt()
            corrections.repaint(self.layer)
            self._update_enabled()
            then()

        task = QgsTask.fromFunction(f"EuroSAT corrections: writing {name}", work, on_finished=done)
        self.task = task
        QgsApplication.taskManager().addTask(task)

    def stop_editing(self, reason: str = "", quiet: bool = False) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.canvas is not None:
            for tool in self.map_tools.values():
                if self.canvas.mapTool() is tool:
                    self.canvas.unsetMapTool(tool)
        self._clear_review()
        was = self.session
        if self.session is not None:
            self.session.close()
        self.session = None
        self.layer = None
        self.source_layer = None
        if was is not None and not quiet:
            files = self.files
            self.push(
                reason or f"Stopped editing {files.prefix}; the edits are saved in {files.log.name}",
                Qgis.MessageLevel.Info,
            )
        self.status.setText(reason or "Pick a land-cover layer made by the Classify page and press Edit.")
        self._update_enabled()

    def _layers_removed(self, ids):
        if self.session is None:
            return
        ids = set(ids)
        for lyr in (self.layer, self.source_layer):
            if lyr is not None and lyr.id() in ids:
                files = self.files
                self.stop_editing(
                    f"the layer '{lyr.name()}' was removed: editing stopped, nothing more was changed "
                    f"(the edits made so far are in {files.log.name})",
                )
                return

    def _project_cleared(self):
        if self.session is not None:
            self.stop_editing("the project was closed: editing stopped, the edits made so far are saved")

    def shutdown(self) -> None:
        try:
            project = QgsProject.instance()
            project.layersWillBeRemoved.disconnect(self._layers_removed)
            project.removeAll.disconnect(self._project_cleared)
            project.cleared.disconnect(self._project_cleared)
        except (TypeError, RuntimeError):
            pass
        try:
            self.iface.currentLayerChanged.disconnect(self._follow_active_layer)
        except (AttributeError, TypeError, RuntimeError):
            pass
        self.improve.shutdown()
        self.stop_editing(quiet=True)
        for tool in self.map_tools.values():
            tool.release()
        self.map_tools.clear()
        if self.marker is not None and self.canvas is not None:
            self.canvas.scene().removeItem(self.marker)
        self.marker = None
        self._clear_marks()

    # ------------------------------------------------------------------ tools
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
        if g.width * g.height >= BACKGROUND_CELLS:
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
        one is written in a QgsTask (:meth:`_change_in_task`).
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
        if change.window_cells < BACKGROUND_CELLS:
            return self._run(lambda: self.session.complete(change), what)
        self._change_in_task(change, what)
        return None

    def _change_in_task(self, change, what: str) -> None:
        """Stage a planned change in a QgsTask (progress, cancel), commit it on the main thread after.

        The page's tools are off meanwhile and the session refuses other changes (its ``pending``), so no
        second edit can start. A cancel or an error leaves the raster and the log as they were.
        """
        session, name = self.session, self.files.corrected.name
        label = LABELS.get(what, what)
        before = self.status.text()

        def work(task):
            change.stage(progress=lambda f: task.setProgress(100.0 * f), is_cancelled=task.isCanceled)
            return change.action.cells

        def done(exception, result=None):
            if self.task is task:
                self.task = None
            if self.session is not session:  # editing stopped meanwhile: the log never shows it, nor the raster
                try:
                    change.rollback()
                except Exception as exc:  # the raster stays marked as being written: rebuilt when opened again
                    self._unexpected(exc)
                return
            out = None
            if exception is None:
                try:
                    out = session.commit(change)
                except Exception as exc:
                    exception = exc
            else:
                try:
                    session.discard(change)
                except Exception as exc:
                    exception = exc
            self.status.setText(before)
            self._show_change()
            self._update_enabled()
            if exception is None:
                logged = f" (edit {out.id} in the log)" if change.kind == "add" else ""
                self.push(
                    f"{label} done: {change.action.cells:,} cells changed in {name}{logged}", Qgis.MessageLevel.Success
                )
            elif task.isCanceled() or str(exception) == CANCELLED:
                self.push(f"{label} {CANCELLED}", Qgis.MessageLevel.Info)
            elif isinstance(exception, EditError):
                self.push(str(exception), Qgis.MessageLevel.Warning)
            else:
                self._unexpected(exception)

        task = QgsTask.fromFunction(f"EuroSAT corrections: {label.lower()} ({name})", work, on_finished=done)
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

    # ------------------------------------------------------------------ guided review
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

    def _ensure_review_items(self):
        if self.marker is None:
            self.marker = QgsRubberBand(self.canvas, QgsWkbTypes.GeometryType.PolygonGeometry)
            self.marker.setColor(QColor(255, 255, 255, 230))
            self.marker.setFillColor(QColor(255, 255, 255, 0))
            self.marker.setWidth(3)

    def _clear_review(self):
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
        self.push(f"review done: all {n} {'doubtful cells' if self.review_kind == 'cells' else 'tiles'} reviewed")
