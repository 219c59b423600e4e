"""The "Export" page: hand a land-cover result on, styled, in one action.

Pick a result (a land-cover layer made by the plugin, or a run's ``*_summary.json``), tick what to
export (styled raster, polygons, area report, print-ready map), set the options and the output
folder, press Export. The GDAL work runs in a BackgroundTask (progress, Cancel); the map is laid out on the
main thread once it is done (QGIS renders layouts there). Existing files are replaced only after a
question. Land-cover layers also get an "Export land cover…" entry in the layer tree's context menu.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsMapLayer, QgsMapLayerProxyModel, QgsProject
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, QUrl
from qgis.PyQt.QtGui import QDesktopServices
from qgis.PyQt.QtWidgets import (
    QAction,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
)

from ...core.export.accuracy_note import accuracy_line
from ...core.run_names import MAP_SUFFIXES, summary_name
from ...toolbelt.log import log, log_error
from ..page_base import WorkspacePage
from .options_section import OptionsSection
from .settings import ExportSettings

ACTION_TEXT = "Export land cover…"


def landcover_source(layer) -> Optional[Path]:
    """The file of a land-cover raster made by the plugin (``*_classes.tif`` / ``*_corrected.tif`` with
    its ``*_summary.json`` beside it), else None."""
    if layer is None or layer.type() != QgsMapLayer.RasterLayer or layer.providerType() != "gdal":
        return None
    path = Path(layer.source().split("|")[0])
    for suffix in (Path(s).stem for s in MAP_SUFFIXES):  # "_classes", "_corrected"
        if path.stem.endswith(suffix) and (path.parent / summary_name(path.stem[: -len(suffix)])).is_file():
            return path
    return None


class ExportPage(WorkspacePage):
    title = "Export"
    object_name = "ExportPage"

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(iface, workspace, parent)
        self.settings = ExportSettings.load()
        self.run_info = None
        self.task = None
        self.last_files: list[Path] = []
        self._pending_map = None
        self._build()
        self.action = QAction(ACTION_TEXT, self)
        self.action.setObjectName("eurosat_landcover_export_action")
        self.action.triggered.connect(self._export_active_layer)
        self._install_layer_action()
        project = QgsProject.instance()
        project.layersAdded.connect(self._layers_added)
        if iface is not None and hasattr(iface, "currentLayerChanged"):
            try:
                iface.currentLayerChanged.connect(self._current_layer_changed)
            except (AttributeError, TypeError):
                pass
        self._refresh()

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        body, lay = self.scrolling_body()

        box = QGroupBox("Result", body)
        form = QFormLayout(box)
        self.layer_combo = QgsMapLayerComboBox(box)
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.layer_combo.setAllowEmptyLayer(True)
        self.layer_combo.setSizeAdjustPolicy(QgsMapLayerComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(8)
        self.layer_combo.setToolTip("A land-cover layer made by the plugin (its run summary is found beside it)")
        self.layer_combo.setLayer(self._first_landcover_layer())
        self.summary_widget = QgsFileWidget(box)
        self.summary_widget.setFilter("Run summary (*_summary.json);;JSON (*.json)")
        self.summary_widget.setToolTip("Or a run's *_summary.json (takes precedence over the layer)")
        self.status = QLabel(box)
        self.status.setWordWrap(True)
        form.addRow("Layer", self.layer_combo)
        form.addRow("or run", self.summary_widget)
        form.addRow(self.status)
        lay.addWidget(box)

        self.options = OptionsSection(self.settings, body)
        lay.addWidget(self.options)

        out = QGroupBox("Output", body)
        of = QFormLayout(out)
        self.output_widget = QgsFileWidget(out)
        self.output_widget.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.output_widget.setFilePath(self.settings.output_dir)
        self.output_widget.setToolTip("Empty: an 'export' folder beside the run")
        of.addRow("Folder", self.output_widget)
        lay.addWidget(out)

        row = QHBoxLayout()
        self.export_button = QPushButton("Export", body)
        self.export_button.setObjectName("exportButton")
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.setEnabled(False)
        row.addWidget(self.export_button)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self.progress = QProgressBar(body)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.result_label = QLabel(body)
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setOpenExternalLinks(False)
        self.result_label.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
        lay.addWidget(self.result_label)
        lay.addStretch(1)

        self.layer_combo.layerChanged.connect(lambda _l: self._refresh())
        self.summary_widget.fileChanged.connect(lambda _f: self._refresh())
        self.options.changed.connect(self._update_enabled)
        self.export_button.clicked.connect(self._safe(self.start))
        self.cancel_button.clicked.connect(self._safe(self.cancel))

    def _safe(self, fn):
        """A slot that reports an error as one line (log: traceback) instead of raising into Qt."""

        def slot(*_a):
            try:
                fn()
            except Exception as exc:
                log_error(traceback.format_exc())
                self.push(f"export: {type(exc).__name__}: {exc} (details in the log panel)", Qgis.MessageLevel.Critical)

        return slot

    # ------------------------------------------------------------------ layer tree action
    def _install_layer_action(self) -> None:
        if self.iface is None:
            return
        try:
            self.iface.addCustomActionForLayerType(self.action, "", QgsMapLayer.RasterLayer, False)
            for layer in QgsProject.instance().mapLayers().values():
                if landcover_source(layer) is not None:
                    self.iface.addCustomActionForLayer(self.action, layer)
        except (AttributeError, TypeError):
            pass

    def _layers_added(self, layers) -> None:
        self.refresh_state()  # e.g. the corrected map of the run shown was just made
        for layer in layers:
            if landcover_source(layer) is None:
                continue
            if self.iface is not None:
                try:
                    self.iface.addCustomActionForLayer(self.action, layer)
                except (AttributeError, TypeError):
                    pass
            if self.layer_combo.currentLayer() is None:
                self.layer_combo.setLayer(layer)

    def _current_layer_changed(self, layer) -> None:
        if landcover_source(layer) is not None and self.task is None:
            self.layer_combo.setLayer(layer)

    def _export_active_layer(self) -> None:
        layer = self.iface.activeLayer() if self.iface is not None else None
        self.select_layer(layer)

    def select_layer(self, layer) -> None:
        """Bring this page to the front with ``layer`` as the result to export."""
        if layer is not None:
            self.summary_widget.setFilePath("")
            self.layer_combo.setLayer(layer)
        if self.workspace is not None and hasattr(self.workspace, "show_page"):
            self.workspace.show_page(self.object_name)
            dock = self.window()
            if dock is not None and hasattr(dock, "raise_"):
                dock.show()
                dock.raise_()

    def _first_landcover_layer(self):
        for layer in QgsProject.instance().mapLayers().values():
            if landcover_source(layer) is not None:
                return layer
        return None

    # ------------------------------------------------------------------ state
    def source(self) -> Optional[Path]:
        f = self.summary_widget.filePath().strip()
        if f:
            return Path(f)
        layer = self.layer_combo.currentLayer()
        if layer is None:
            return None
        return Path(layer.source().split("|")[0])

    def refresh_state(self) -> None:
        """The run as it is now (a correction made since it was picked is exported), unless exporting."""
        if self.task is None:
            self._refresh()

    def _refresh(self) -> None:
        from ...core.export import ExportError, load_run

        self.run_info = None
        src = self.source()
        if src is None:
            self.status.setText("Pick a land-cover layer made by the plugin, or a run's *_summary.json.")
        else:
            try:
                self.run_info = load_run(src)
            except ExportError as exc:
                self.status.setText(f"<span style='color:#b00020'>{exc}</span>")
            else:
                r = self.run_info
                bits = [f"<b>{r.name}</b>: {len(r.classes)} classes"]
                bits.append("corrected map" if r.corrected else "model output")
                if r.assessment_path is not None:
                    bits.append(f"accuracy assessment {r.assessment_path.name}")
                bits.append(accuracy_line(r.summary, r.assessment, r.classes_path.name))
                self.status.setText(" · ".join(bits))
        self._update_enabled()

    def _update_enabled(self) -> None:
        busy = self.task is not None
        self.export_button.setEnabled(not busy and self.run_info is not None and bool(self.options.what()))
        self.cancel_button.setEnabled(busy)

    def output_dir(self) -> Optional[Path]:
        text = self.output_widget.filePath().strip()
        if text:
            return Path(text)
        if self.run_info is None:
            return None
        return self.run_info.classes_path.parent / "export"

    # ------------------------------------------------------------------ run
    def _ask_overwrite(self, names: list, folder: Path) -> bool:
        shown = "\n".join(names[:8]) + (f"\n… and {len(names) - 8} more" if len(names) > 8 else "")
        answer = QMessageBox.question(
            self,
            "Replace existing files?",
            f"These files already exist in {folder}:\n\n{shown}\n\nReplace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def start(self) -> None:
        from ...core.export import CORE_WHAT, ExportOptions, planned_files
        from ...qgis_bridge.print_layout import MapOptions, map_names, validate_options

        if self.task is not None:
            return
        self._refresh()  # the run's files as they are now: a correction made since is what gets exported
        if self.run_info is None:
            return
        what = self.options.what()
        if not what:
            self.push("export: tick at least one thing to export", Qgis.MessageLevel.Warning)
            return
        s = self.settings
        self.options.store(s)
        s.output_dir = self.output_widget.filePath().strip()
        s.save()
        outdir = self.output_dir()
        if outdir.exists() and not outdir.is_dir():
            self.push(f"export: {outdir} is a file: choose a folder", Qgis.MessageLevel.Critical)
            return
        parts = ("classes", "confidence", "probabilities") if s.probabilities else ("classes", "confidence")
        title = self.options.title.text().strip() or None
        options = ExportOptions(
            what=tuple(w for w in what if w in CORE_WHAT),
            raster_format=s.raster_format,
            raster_parts=parts,
            vector_format=s.vector_format,
            mmu_ha=s.mmu_ha,
            dissolve=s.dissolve,
            title=title,
        )
        map_options = None
        if "map" in what:
            map_options = MapOptions(title=title, page_size=s.page_size, orientation=s.orientation, dpi=s.dpi)
            from ...core.export import ExportError

            try:
                validate_options(map_options)
            except ExportError as exc:
                self.push(f"export: {exc}", Qgis.MessageLevel.Critical)
                return
        names = planned_files(self.run_info, options) + (list(map_names(self.run_info).values()) if map_options else [])
        taken = [n for n in names if (outdir / n).exists()]
        if taken:
            if not self._ask_overwrite(taken, outdir):
                self.result_label.setText("Nothing exported: the existing files were kept.")
                return
            options.overwrite = True
            if map_options is not None:
                map_options.overwrite = True
        self._pending_map = map_options
        self.last_files = []
        self.progress.setValue(0)
        self.result_label.setText("")
        if options.what:
            from ...qgis_bridge.background import BackgroundTask
            from .task import export_work

            self.task = BackgroundTask(
                f"Export {self.run_info.name}", export_work(self.run_info, outdir, options), self._task_done
            )
            self.task.progressChanged.connect(self._task_progress)
            self._update_enabled()
            QgsApplication.taskManager().addTask(self.task)
        else:
            self._finish_map(outdir)

    def _task_progress(self, value: float) -> None:
        self.progress.setValue(int(value * (0.8 if self._pending_map else 1.0)))
        if self.task is not None and self.task.message:
            self.progress.setFormat(f"%p %  {self.task.message}")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _task_done(self, task) -> None:
        self.task = None
        self._update_enabled()
        self.progress.setFormat("%p %")
        if task.cancelled:
            self._pending_map = None
            self.progress.setValue(0)
            self.result_label.setText("Export cancelled: nothing was written.")
            self.push("export cancelled: nothing was written", Qgis.MessageLevel.Info)
            return
        if task.error:
            self._pending_map = None
            self.result_label.setText(f"<span style='color:#b00020'>{task.error}</span>")
            self.push(f"export failed: {task.error}", Qgis.MessageLevel.Critical)
            return
        self.last_files = list(task.result.files)
        for note in task.result.notes:
            log(f"export: {note}")
        self._finish_map(task.result.outdir)

    def _finish_map(self, outdir: Path) -> None:
        from ...core.export import ExportError
        from ...qgis_bridge.print_layout import export_map

        if self._pending_map is not None:
            opts, self._pending_map = self._pending_map, None
            base = self.progress.value()

            def prog(report):  # core.progress.Progress
                self.progress.setValue(int(base + (100 - base) * report.fraction))
                self.progress.setFormat(f"%p %  {report.message}")
                QgsApplication.processEvents()

            try:
                self.last_files += export_map(self.run_info, outdir, opts, prog)
            except ExportError as exc:
                self.progress.setFormat("%p %")
                self.result_label.setText(f"<span style='color:#b00020'>map: {exc}</span>")
                self.push(f"export: the map failed: {exc}", Qgis.MessageLevel.Critical)
                return
        self.progress.setFormat("%p %")
        self.progress.setValue(100)
        url = QUrl.fromLocalFile(str(outdir)).toString()
        corrected = " (the corrected map)" if self.run_info is not None and self.run_info.corrected else ""
        self.result_label.setText(f"{len(self.last_files)} files written{corrected} to <a href='{url}'>{outdir}</a>")
        for f in self.last_files:
            log(f"export: wrote {f}")
        self.push(
            f"exported {self.run_info.name}{corrected}: {len(self.last_files)} files in {outdir}",
            Qgis.MessageLevel.Success,
        )

    # ------------------------------------------------------------------ lifecycle
    def shutdown(self) -> None:
        if self.task is not None:
            task = self.task
            task.cancel()
            task.waitForFinished(30000)
        if self.iface is not None:
            try:
                self.iface.removeCustomActionForLayerType(self.action)
            except (AttributeError, TypeError):
                pass
            try:
                self.iface.currentLayerChanged.disconnect(self._current_layer_changed)
            except (AttributeError, TypeError, RuntimeError):
                pass
        try:
            QgsProject.instance().layersAdded.disconnect(self._layers_added)
        except (TypeError, RuntimeError):
            pass
