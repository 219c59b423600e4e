"""The "Review & correct" page: correct a land-cover layer made by the plugin, non-destructively.

The page is glue: the map tools report points, :mod:`core.edits` turns them into edits, logs and
applies them, :mod:`qgis_bridge.corrections` shows and repaints the corrected layer. Three modules: this
one (widgets, start/stop, keys typed in the dock), ``edit_controller`` (the changes) and
``review_controller`` (the guided review). The model's
``<run>_classes.tif`` is never written; see docs/notes/correct.md for the files.
"""

from __future__ import annotations

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtCore import QEvent, Qt
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QPushButton

from ...core.edits import EditError, EditSession
from ...core.edits.session import run_palette
from ...qgis_bridge import corrections
from ...qgis_bridge.map_view import HiddenLayers
from ..page_base import WorkspacePage
from . import edit_controller
from .edit_controller import EditController
from .improve_section import ImproveSection
from .log_view import LogSection
from .map_tools import key_command
from .palette import PaletteSection
from .review_controller import ReviewController
from .review_section import ReviewSection
from .settings import CorrectSettings
from .tools import ToolsSection


class CorrectPage(EditController, ReviewController, WorkspacePage):
    """The page: its widgets, opening and closing a layer's corrections, the keys typed in the dock.

    The edits are :class:`~.edit_controller.EditController`'s, the guided review
    :class:`~.review_controller.ReviewController`'s (mixins: they share the page's state).
    Keys typed while the page has the focus (and no field takes them) act as on the map: Ctrl+Z,
    Ctrl+Shift+Z / Ctrl+Y, 1-9 and 0, Enter (:func:`~.map_tools.key_command`).
    """

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
        self.hidden = HiddenLayers()  # the result layers hidden while a review shows the imagery
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # a click in the page gives it the keys
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

    # ------------------------------------------------------------------ keys typed in the dock
    def _command_for(self, event):
        return key_command(event.key(), event.modifiers()) if self.session is not None else None

    def event(self, event):
        """Claim our keys before a window-wide shortcut (QGIS's Edit > Undo is Ctrl+Z) takes them."""
        if event.type() == QEvent.Type.ShortcutOverride and self._command_for(event) is not None:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event):  # noqa: N802 (Qt API)
        command = self._command_for(event)
        if command is None:
            super().keyPressEvent(event)
            return
        event.accept()
        self.on_command(command)

    def left(self) -> None:
        """The analyst went to another page: the result layers show again (the review stays where it is)."""
        self.show_imagery(False)

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
        self.review.show_map.toggled.connect(self._show_map_toggled)
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
            if edit_controller.large(g.width * g.height):
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
