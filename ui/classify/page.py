"""The Classify page: pick a raster, an area, a model, bands and options, then Run.

The page only wires its sections together (each in its own module, each with ``value()`` and a
``changed`` signal), turns them into one engine request (qgis_bridge.request_builder), queues a
ClassificationTask in its RunQueue, and reports the outcome (qgis_bridge.results adds the layers).
Imported only when the engine's dependencies are present (the options list torch devices).
"""

from __future__ import annotations

import traceback
from typing import Optional

from qgis.core import Qgis, QgsCoordinateReferenceSystem, QgsProject, QgsRectangle
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QComboBox, QMessageBox

from ...__about__ import PLUGIN_NAME
from ...core.request import cell_px
from ...models import model_cache
from ...qgis_bridge.compat import avoid_triton_llvm_clash
from ...qgis_bridge.request_builder import (
    RequestError,
    RunOptions,
    area_km2,
    build_request,
    clip_to_layer,
    estimate_tiles,
    estimate_windows,
    size_m,
    snap_to_cells,
)
from ...qgis_bridge.results import add_result_group, area_summary
from ...qgis_bridge.task import ClassificationTask, Status, format_seconds
from ...toolbelt.log import log, log_error
from ..page_base import WorkspacePage
from ..settings import DockSettings
from .area_picker import AreaPicker
from .band_picker import BandPicker
from .common import safe_slot
from .input_section import InputSection
from .model_picker import ModelPicker, default_card_path
from .options_section import OptionsSection
from .run_queue import RunQueue
from .run_report import RunReport, result_log_lines

MEMORY_CHECK_MS = 30_000  # while no run is active: give the kept model back when memory is short


class ClassifyPage(WorkspacePage):
    """Sections: ``input``, ``area``, ``model``, ``bands``, ``options``; ``report`` (Run, Cancel,
    progress, last run) and ``queue`` (the runs, one after the other). The engine keeps the model
    loaded between runs (models/model_cache.py); a timer gives it back when memory is short."""

    title = "Classify"
    object_name = "classifyPage"

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(iface, workspace, parent)
        avoid_triton_llvm_clash()  # before anything imports timm/torchvision in this process
        self.canvas = iface.mapCanvas()
        self.settings = DockSettings.load()
        self.queue = RunQueue(parent=self)
        self._closed = False
        self._build()
        self._connect()
        self.area.restore_mode(self.settings.area_mode)
        self._on_model(self.model.card())
        self.input.refresh()
        self.memory_timer = QTimer(self)
        self.memory_timer.setInterval(MEMORY_CHECK_MS)
        self.memory_timer.timeout.connect(self.check_memory)
        self.memory_timer.start()

    def _build(self) -> None:
        body, layout = self.scrolling_body()
        self.input = InputSection(self.iface, body)
        self.area = AreaPicker(self.canvas, self.estimate, body)
        self.area.snap = self.snap_drawn  # a drawn extent snaps to the layer's cells (issue 25 item 5)
        self.model = ModelPicker(self.settings, body)
        self.bands = BandPicker(body)
        self.bands.set_radiometry(self.settings.radiometry)
        self.options = OptionsSection(self.settings, body)
        self.report = RunReport(self)  # Run, Cancel and the progress stay in sight, below the scrolling sections
        for section in (self.input, self.area, self.model, self.bands, self.options):
            layout.addWidget(section)
        layout.addStretch(1)
        self.layout().addWidget(self.report)
        for combo in body.findChildren(QComboBox):  # long items must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(min(10, combo.minimumContentsLength() or 10))
        self.setMinimumWidth(280)

    def _connect(self) -> None:
        self.input.changed.connect(self._on_layer)
        self.model.changed.connect(self._on_model)
        self.model.mode_needed.connect(self.options.set_mode)  # a card added for the other mode: switch to it
        self.options.changed.connect(self.area.refresh)
        self.options.changed.connect(self._on_options)
        self.report.run_button.clicked.connect(self.run)
        self.report.cancel_button.clicked.connect(self.cancel_all)
        self.queue.started.connect(self._on_started)
        self.queue.finished.connect(self._on_finished)
        self.queue.dropped.connect(lambda task: task.drop())
        self.queue.changed.connect(self._on_queue_changed)
        project = QgsProject.instance()
        project.layersWillBeRemoved.connect(self._on_layers_removed)
        project.removeAll.connect(self._on_project_closing)
        project.cleared.connect(self._on_project_closing)

    def _disconnect(self) -> None:
        project = QgsProject.instance()
        for signal, slot in (
            (project.layersWillBeRemoved, self._on_layers_removed),
            (project.removeAll, self._on_project_closing),
            (project.cleared, self._on_project_closing),
        ):
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass

    # ================================================================== sections talk
    @safe_slot
    def _on_layer(self, layer) -> None:
        self.bands.set_source(layer, self.model.card())
        self.area.set_layer(layer)

    @safe_slot
    def _on_options(self, choices) -> None:
        self.model.set_mode(choices.mode)  # the bundled model of the mode; cards of the other mode greyed out

    @safe_slot
    def _on_model(self, card) -> None:
        patch, gsd = (card.patch_size, card.gsd_m) if card is not None else (64, 10.0)
        self.options.set_model_geometry(patch, gsd)
        self.bands.set_source(self.input.value(), card)
        self.area.refresh()

    def estimate(self, rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> str:
        """ "3.69 km² · ~25 windows" (windows mode, at the model's gsd and stride) or "3.69 km² · ~1 tiles" (map
        mode) for the part of `rect` over the raster."""
        card = self.model.card()
        gsd, patch = (card.gsd_m, card.patch_size) if card is not None else (10.0, 64)
        layer = self.input.value()
        if layer is not None:
            try:
                rect, crs = clip_to_layer(rect, crs, layer), layer.crs()
            except RequestError:
                return f"{area_km2(rect, crs):.3g} km² · outside the raster"
        w, h = size_m(rect, crs)
        choices = self.options.value()
        if choices.mode == "map":
            return f"{area_km2(rect, crs):.3g} km² · ~{estimate_tiles(w, h, gsd, patch)} tiles"
        n = estimate_windows(w, h, gsd, patch, choices.stride)
        return f"{area_km2(rect, crs):.3g} km² · ~{n} windows"

    def snap_drawn(self, rect: QgsRectangle, crs: QgsCoordinateReferenceSystem):
        """A drawn rectangle widened to whole cells of the input layer's grid (layer CRS), or None."""
        card, layer = self.model.card(), self.input.value()
        gsd = card.gsd_m if card is not None else 10.0
        choices = self.options.value()
        cell = cell_px(choices.mode, choices.stride)
        return snap_to_cells(rect, crs, layer, cell, gsd) if layer is not None else None

    # ================================================================== the request
    def run_options(self) -> RunOptions:
        bands, choices = self.bands.value(), self.options.value()
        return RunOptions(
            model_card=self.model.value() or None,
            bands=bands.bands,
            radiometry=bands.radiometry,
            stride=choices.stride,
            mode=choices.mode,
            batch_size=choices.batch_size,
            device=choices.device,
            fast_path=choices.fast_path,
            write_probabilities=choices.write_probabilities,
        )

    def build_request(self):
        layer = self.input.value()
        if layer is None:
            raise RequestError("choose a raster layer to classify")
        if self.options.value().mode == "map":
            from ...models.checkpoint import default_map_card_path as default_of_mode
        else:
            default_of_mode = default_card_path
        bundled = default_of_mode()
        if self.model.value() == "" and not bundled.is_file():
            raise RequestError(f"the bundled model is not installed ({bundled.name}); add a model card with +")
        rect, crs = self.area.value()
        reserved = {t.request.name for t in self.queue.tasks}
        return build_request(layer, self.options.value().output_dir, self.run_options(), rect, crs, reserved)

    def save_settings(self) -> None:
        s, choices = self.settings, self.options.value()
        s.model_card = self.model.value()
        s.area_mode = self.area.mode()
        s.radiometry = self.bands.value().radiometry
        s.stride, s.batch_size, s.device = choices.stride, choices.batch_size, choices.device
        s.mode, s.fast_path = choices.mode, choices.fast_path
        s.output_dir, s.open_results = choices.output_dir, choices.open_results
        s.write_probabilities = choices.write_probabilities
        s.save()

    # ================================================================== runs
    def run(self, *_args) -> Optional[ClassificationTask]:
        """Queue a classification in the background; the task, or None when the form is incomplete."""
        try:
            request = self.build_request()
        except RequestError as exc:
            self.push(str(exc)[0].upper() + str(exc)[1:], Qgis.MessageLevel.Warning)
            return None
        except Exception as exc:
            log_error("cannot prepare the classification:\n" + traceback.format_exc())
            self.push(f"Cannot prepare the classification: {exc}", Qgis.MessageLevel.Critical)
            return None
        if not self.may_write(request):
            return None
        self.save_settings()
        layer = self.input.value()
        context = {"layer_name": layer.name(), "open_results": self.options.value().open_results}
        task = ClassificationTask(request, f"{PLUGIN_NAME}: {layer.name()}", context)
        task.progressChanged.connect(lambda _v, t=task: self._show_progress(t))
        log(f"classification queued: {request.to_dict()}")
        if self.queue.running is not None:
            queued = len(self.queue.pending) + 1
            self.report.status(f"{queued} run(s) queued · " + self.queue.running.status_text())
        return self.queue.add(task, layer.id())

    def may_write(self, request) -> bool:
        """False when the run would replace its input (never allowed), or would replace existing files
        of its name and the analyst says no; yes sets ``request.overwrite`` (the engine re-checks)."""
        from ...core.errors import ClassificationError
        from ...core.run_guards import check_outputs

        try:
            existing = check_outputs(request.output_dir, request.name, [str(request.input_path)], overwrite=True)
        except ClassificationError as exc:
            self.push(str(exc)[0].upper() + str(exc)[1:], Qgis.MessageLevel.Warning)
            return False
        if not existing:
            return True
        names = "\n".join(f"  {f.name}" for f in existing[:8]) + ("\n  …" if len(existing) > 8 else "")
        answer = QMessageBox.question(
            self,
            "Replace existing files?",
            f"The output folder {request.output_dir} already holds files of the run name '{request.name}':\n"
            f"{names}\n\nReplace them with this run's outputs?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.push("Not run: the existing files were kept", Qgis.MessageLevel.Info)
            return False
        request.overwrite = True
        return True

    @safe_slot
    def cancel_all(self, *_args) -> None:
        self.queue.cancel_all()
        if self.queue.running is not None:
            self.report.status("Cancelling…")

    def _on_started(self, task) -> None:
        self.report.status("Starting…", 0)
        log(f"classification started: {task.request.to_dict()}")

    @safe_slot
    def _on_queue_changed(self) -> None:
        self.report.set_busy(bool(self.queue.tasks))

    @safe_slot
    def _show_progress(self, task) -> None:
        if self._closed or task is not self.queue.running:
            return
        text = task.status_text()
        if self.queue.pending:
            text = f"{len(self.queue.pending)} queued · " + text
        self.report.status(text, task.progress())

    @safe_slot
    def _on_layers_removed(self, layer_ids) -> None:
        self.queue.cancel_for_layers(layer_ids)

    @safe_slot
    def _on_project_closing(self) -> None:
        self.queue.cancel_all(why_removed=True)
        if self.queue.running is not None:
            self.report.status("Cancelling…")
        self.area.clear()

    # ================================================================== outcomes
    @safe_slot
    def _on_finished(self, task) -> None:
        if self._closed:
            return
        name = task.context.get("layer_name", "raster")
        outcome = task.outcome
        if outcome.status is Status.SUCCEEDED:
            self._succeeded(task, name, outcome.result)
        elif outcome.status is Status.FAILED:
            log_error(f"classification of {name} failed: {outcome.traceback or outcome.message}")
            self.report.status("Failed: see the message bar and the log.", 0)
            hint = " (details in the log panel)" if outcome.traceback else ""
            self.push(f"Classification of {name} failed: {outcome.message}{hint}", Qgis.MessageLevel.Critical, 0)
        else:
            why = " (the input layer was removed)" if self.queue.input_removed(task) else ""
            self.report.status(f"Cancelled{why}.", 0)
            self.push(f"Classification of {name} cancelled{why}; no files were kept.", Qgis.MessageLevel.Info, 5)

    def _succeeded(self, task, name: str, result) -> None:
        if task.context.get("open_results", True) and not self.queue.input_removed(task):
            try:
                group = add_result_group(result, name)  # styled from the card the result carries
                task.context["group"] = group.name()
            except Exception as exc:
                log_error("cannot add the result layers:\n" + traceback.format_exc())
                self.push(
                    f"The classification finished but its layers cannot be added: {exc}", Qgis.MessageLevel.Warning, 0
                )
        seconds = result.seconds or task.seconds
        self.report.succeeded(name, result, seconds)
        total = sum(result.area_km2.values())
        areas = area_summary(result.area_km2, top=4)
        self.push(
            f"Land cover of {name}: {total:.3g} km² in {format_seconds(seconds)} — {areas}",
            Qgis.MessageLevel.Success,
            10,
        )
        for warning in result.warnings or []:
            self.push(warning, Qgis.MessageLevel.Warning, 10)
        log("\n".join(result_log_lines(name, result, seconds)))

    @safe_slot
    def check_memory(self, available_mb=None) -> None:
        """While no run is active, release the kept model when memory is short and say so."""
        if self._closed or self.queue.tasks:
            return
        note = model_cache.release_if_memory_short(available_mb=available_mb)
        if note:
            self.report.status(note)
            self.push(note, Qgis.MessageLevel.Info, 10)

    # ================================================================== leaving, shutdown
    def left(self) -> None:
        self.area.hide_on_map()

    def showEvent(self, event):  # noqa: N802 (Qt API)
        super().showEvent(event)
        if not self._closed:
            self.area.show_on_map()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel running tasks (waiting for them, so no partial file remains) and free map items."""
        if self._closed:
            return
        try:
            self.save_settings()
        except Exception:
            pass
        self.memory_timer.stop()
        self._disconnect()
        self.input.release()
        self.queue.close(timeout)
        self._closed = True
        self.area.release()
