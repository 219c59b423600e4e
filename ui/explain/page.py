"""The Explain page: why did the model call this place Industrial rather than Residential?

- **Inspect** arms a map tool: a click takes the model window centred there from the input layer,
  prepared exactly as a classification run prepares it (core/inspect.py), and shows the patch as the
  model sees it, the class probabilities (sorted bars in the class colours) and the Grad-CAM heat
  map of the top class or of a picked class, overlaid with an opacity slider. When the input layer
  is a result layer of this plugin, the click inspects the windows of that run that made the cell.
- **Show on map** adds the heat map as a temporary georeferenced layer aligned with the window.
- **Classify an image file…**: a JPEG/PNG/GeoTIFF patch (core/predict.py), top classes and heat map.

Model work (opening the raster, loading the model, the forward pass, Grad-CAM) runs in a QgsTask,
one at a time; a click made meanwhile is kept and run next (only the latest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsRasterLayer
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
)

from ...qgis_bridge.background import BackgroundTask
from ...qgis_bridge.explain_layers import HeatMapLayers, footprint_geometry, layer_path, run_summary
from ...toolbelt.log import log_error
from ..page_base import WorkspacePage
from .chart import ProbabilityChart
from .heatmap_view import HeatMapView
from .map_mode import value_at
from .map_tool import InspectMapTool
from .settings import ExplainSettings
from .status_text import window_text
from .task import engine_work
from .worker import ExplainWorker

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.tif *.tiff);;All files (*)"


class ExplainPage(WorkspacePage):
    title = "Explain"
    object_name = "explainPage"

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(iface, workspace, parent)
        self.settings = ExplainSettings.load()
        self.canvas = iface.mapCanvas() if iface is not None else None
        self.layers = HeatMapLayers()
        self._task: Optional[BackgroundTask] = None
        self._pending: Optional[dict] = None
        self.mode: Optional[str] = None  # "window" | "cell" | "file"
        self.windows: list = []  # the InspectedWindow(s) shown
        self.cell = None  # core.inspect.CellInspection in "cell" mode
        self.inspector = None
        self.prediction = None  # core.predict.Prediction in "file" mode
        self.heats: dict = {}  # (window index, class index) -> heat map
        self.current_index = 0
        self.last_error: Optional[str] = None
        self.window_status = ""  # what the status line says about the window shown
        self._gradcam_ok = self._gradcam_available()
        self.worker = ExplainWorker(self._gradcam_ok)
        self._build()
        self.map_tool = InspectMapTool(self.canvas) if self.canvas is not None else None
        if self.map_tool is not None:
            self.map_tool.clicked.connect(self.inspect_at)
            self.canvas.mapToolSet.connect(self._tool_changed)
        if iface is not None:
            iface.currentLayerChanged.connect(self._follow_active_layer)
            self._follow_active_layer(iface.activeLayer())

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        from ...models.devices import available_devices

        _body, outer = self.scrolling_body()
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.input_combo = QgsMapLayerComboBox(self)
        self.input_combo.setObjectName("explainInput")
        self.input_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.input_combo.setToolTip(
            "The layer a click reads. A land-cover result of this plugin inspects the windows that made the "
            "clicked cell (from the run's summary beside it)."
        )
        form.addRow("Input", self.input_combo)
        self.model_file = QgsFileWidget(self)
        self.model_file.setObjectName("explainModel")
        self.model_file.setFilter("Model card (*.json)")
        self.model_file.setFilePath(self.settings.model_card)
        self.model_file.lineEdit().setPlaceholderText("bundled model")
        self.model_file.setToolTip("A model card (.json beside its .safetensors); empty = the bundled model")
        self.model_file.fileChanged.connect(self._save_settings)
        form.addRow("Model", self.model_file)
        self.device_combo = QComboBox(self)
        self.device_combo.setObjectName("explainDevice")
        for dev_id, label in available_devices():
            self.device_combo.addItem(label, dev_id)
        i = self.device_combo.findData(self.settings.device)
        self.device_combo.setCurrentIndex(max(0, i))
        self.device_combo.currentIndexChanged.connect(self._save_settings)
        form.addRow("Device", self.device_combo)
        outer.addLayout(form)

        buttons = QHBoxLayout()
        self.inspect_button = QPushButton("Inspect", self)
        self.inspect_button.setObjectName("inspectButton")
        self.inspect_button.setCheckable(True)
        self.inspect_button.setToolTip("Click the map: the model window centred there is inspected")
        self.inspect_button.toggled.connect(self._arm_tool)
        self.file_button = QPushButton("Image file…", self)
        self.file_button.setObjectName("classifyFileButton")
        self.file_button.setToolTip("A JPEG, PNG or GeoTIFF patch of any size: top classes and heat map")
        self.file_button.clicked.connect(self._choose_file)
        buttons.addWidget(self.inspect_button)
        buttons.addWidget(self.file_button)
        outer.addLayout(buttons)

        self.status = QLabel("", self)
        self.status.setObjectName("explainStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.status)

        wrow = QHBoxLayout()
        self.windows_label = QLabel("Window", self)
        self.windows_combo = QComboBox(self)
        self.windows_combo.setObjectName("explainWindows")
        self.windows_combo.setToolTip("The windows of the run that covered the clicked cell")
        self.windows_combo.currentIndexChanged.connect(self._window_picked)
        wrow.addWidget(self.windows_label)
        wrow.addWidget(self.windows_combo, 1)
        outer.addLayout(wrow)
        self._set_windows_row_visible(False)

        self.view = HeatMapView(self)
        self.view.set_opacity(self.settings.opacity / 100)
        if not self._gradcam_ok:  # pip in QGIS's own Python is refused on Debian (PEP 668): the Setup page installs it
            self.view.set_message(
                "Grad-CAM heat maps need the optional Python package captum: install it on the Setup page."
            )
        outer.addWidget(self.view)

        hrow = QHBoxLayout()
        hrow.addWidget(QLabel("Heat map for", self))
        self.class_combo = QComboBox(self)
        self.class_combo.setObjectName("explainClass")
        self.class_combo.addItem("the top class", None)
        self.class_combo.setToolTip("The class whose evidence the heat map shows")
        self.class_combo.currentIndexChanged.connect(self._class_picked)
        hrow.addWidget(self.class_combo, 1)
        outer.addLayout(hrow)
        orow = QHBoxLayout()
        orow.addWidget(QLabel("Opacity", self))
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setObjectName("explainOpacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(self.settings.opacity)
        self.opacity.valueChanged.connect(self._opacity_changed)
        orow.addWidget(self.opacity, 1)
        self.show_button = QPushButton("Show on map", self)
        self.show_button.setObjectName("showOnMapButton")
        self.show_button.setToolTip("Add the heat map as a temporary layer aligned with the window")
        self.show_button.setEnabled(False)
        self.show_button.clicked.connect(self.show_on_map)
        orow.addWidget(self.show_button)
        outer.addLayout(orow)

        self.chart = ProbabilityChart(self)
        outer.addWidget(self.chart)
        outer.addStretch(1)

    def _set_windows_row_visible(self, visible: bool) -> None:
        self.windows_label.setVisible(visible)
        self.windows_combo.setVisible(visible)

    # ------------------------------------------------------------------ settings and small slots
    def _card(self) -> str:
        return self.model_file.filePath().strip()

    def _device(self) -> str:
        return self.device_combo.currentData() or "auto"

    def _save_settings(self, *args) -> None:
        self.settings.model_card = self._card()
        self.settings.device = self._device()
        self.settings.opacity = self.opacity.value() if hasattr(self, "opacity") else self.settings.opacity
        self.settings.save()

    def _opacity_changed(self, value: int) -> None:
        self.view.set_opacity(value / 100)
        self._save_settings()

    def _follow_active_layer(self, layer) -> None:
        if isinstance(layer, QgsRasterLayer):
            self.input_combo.setLayer(layer)

    def _arm_tool(self, on: bool) -> None:
        if self.map_tool is None:
            return
        if on:
            self.canvas.setMapTool(self.map_tool)
        elif self.canvas.mapTool() is self.map_tool:
            self.canvas.unsetMapTool(self.map_tool)

    def _tool_changed(self, new, old=None) -> None:
        if new is not self.map_tool and self.inspect_button.isChecked():
            self.inspect_button.blockSignals(True)
            self.inspect_button.setChecked(False)
            self.inspect_button.blockSignals(False)

    @staticmethod
    def _gradcam_available() -> bool:
        from ...models.gradcam import is_available

        return is_available()

    def target(self) -> Optional[int]:
        """The picked class index for the heat map, None for the top class."""
        return self.class_combo.currentData()

    # ------------------------------------------------------------------ requests
    def inspect_at(self, point) -> None:
        """Inspect the window centred at ``point`` (canvas CRS) of the input layer."""
        layer = self.input_combo.currentLayer()
        if layer is None:
            self.push("choose an input raster layer first (Explain page)", Qgis.MessageLevel.Warning)
            return
        path = layer_path(layer)
        if path is None:
            self.push(f"{layer.name()} is not a raster file the engine can read (GDAL)", Qgis.MessageLevel.Warning)
            return
        crs = self.canvas.mapSettings().destinationCrs()
        summary = run_summary(layer)
        self._pick_top_class()  # a class picked for the last place does not carry over to this one
        self._submit(
            {
                "kind": "point",
                "path": path,
                "summary": str(summary) if summary else None,
                "layer": layer.name(),
                "map_value": value_at(layer, point, crs) if summary else None,
                "x": point.x(),
                "y": point.y(),
                "crs": crs.authid() or crs.toWkt(),
                "canvas_crs": crs,
                "card": self._card(),
                "device": self._device(),
                "target": self.target(),
            }
        )

    def classify_file(self, path: str) -> None:
        """Classify one image file (the button's dialog calls this)."""
        self._submit(
            {"kind": "file", "path": str(path), "card": self._card(), "device": self._device(), "target": self.target()}
        )

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Classify an image file", "", IMAGE_FILTER)
        if path:
            self._pick_top_class()
            self.classify_file(path)

    def _pick_top_class(self) -> None:
        self.class_combo.blockSignals(True)
        self.class_combo.setCurrentIndex(0)
        self.class_combo.blockSignals(False)

    def _request_heat(self, index: int) -> None:
        if not self._gradcam_ok or self.mode not in ("window", "cell") or not self.windows:
            return
        target = self._target_for(index)
        if (index, target) in self.heats:
            return
        self._submit(
            {
                "kind": "heat",
                "inspector": self.inspector,
                "window": self.windows[index],
                "index": index,
                "target": target,
            }
        )

    def _target_for(self, index: int) -> int:
        t = self.target()
        return self.windows[index].top_index if t is None else int(t)

    def _submit(self, req: dict) -> None:
        if self._task is not None:
            self._pending = req  # only the latest request waits
            return
        from qgis.core import QgsApplication

        what = {"point": "inspecting a window", "file": "classifying an image file", "heat": "Grad-CAM"}[req["kind"]]
        self._task = BackgroundTask(f"EuroSAT Explain: {what}", engine_work(lambda: self.worker.run(req)), self._done)
        self._task.request = req
        self.status.setText(what[0].upper() + what[1:] + "…")
        QgsApplication.taskManager().addTask(self._task)

    # ------------------------------------------------------------------ main thread: results
    def _done(self, task: BackgroundTask) -> None:
        self._task = None
        req = getattr(task, "request", {})
        if task.error:
            self.last_error = task.error
            self.status.setText(task.error)
            self.push(task.error, Qgis.MessageLevel.Warning)
        elif task.result is not None:
            self.last_error = None
            try:
                self._show_result(req, task.result)
            except Exception as exc:  # never into a QGIS dialog
                import traceback

                log_error("Explain: " + traceback.format_exc())
                self.push(f"cannot show the result: {exc} (details in the log panel)", Qgis.MessageLevel.Critical)
        pending, self._pending = self._pending, None
        if pending is not None:
            self._submit(pending)

    def _fill_classes(self, names: list) -> None:
        current = [self.class_combo.itemText(i) for i in range(1, self.class_combo.count())]
        if current == list(names):
            return
        self.class_combo.blockSignals(True)
        picked = self.class_combo.currentText()
        while self.class_combo.count() > 1:
            self.class_combo.removeItem(1)
        for i, name in enumerate(names):
            self.class_combo.addItem(name, i)
        self.class_combo.setCurrentIndex(max(0, self.class_combo.findText(picked)))
        self.class_combo.blockSignals(False)

    def _show_result(self, req: dict, res: dict) -> None:
        kind = req["kind"]
        if kind == "heat":
            index = next((i for i, w in enumerate(self.windows) if w is req["window"]), None)
            self.status.setText(self.window_status)  # "Grad-CAM…" is over
            if self.mode in ("window", "cell") and index is not None:
                self.heats[(index, req["target"])] = res["heat"]
                if index == self.current_index and self._target_for(index) == req["target"]:
                    self.view.set_heat(res["heat"])
                    self.show_button.setEnabled(True)
            return
        if kind == "file":
            pred = res["prediction"]
            self.mode, self.prediction, self.windows, self.cell, self.heats = "file", pred, [], None, {}
            self._set_windows_row_visible(False)
            self._fill_classes(pred.class_names)
            top, p = pred.top(1)[0]
            self.status.setText(
                f"{Path(pred.image).name} ({pred.size_px[0]} x {pred.size_px[1]} px): {top} {100 * p:.1f} %. "
                f"Input: {pred.how_text}."
            )
            self.view.set_patch(pred.patch_rgb, pred.heat)
            self.chart.set_probabilities(
                pred.class_names,
                pred.class_colors,
                pred.probabilities,
                pred.class_names[pred.target if pred.target is not None else pred.top_index],
            )
            self.show_button.setEnabled(False)
            if self.map_tool is not None:
                self.map_tool.clear()
            return
        self.inspector, self.cell, self.windows, self.prediction = res["inspector"], res["cell"], res["windows"], None
        self.mode = "cell" if self.cell is not None else "window"
        self.heats = {}
        self._fill_classes(self.inspector.class_names)
        if self.windows and res["heat"] is not None:
            self.heats[(0, self._target_for(0))] = res["heat"]
        self.windows_combo.blockSignals(True)
        self.windows_combo.clear()
        for w, (i, j) in zip(self.windows, self.cell.grid_windows if self.cell else []):
            self.windows_combo.addItem(f"column {i}, row {j} of the run's grid: {w.ranked(1)[0][0]}")
        self.windows_combo.blockSignals(False)
        self._set_windows_row_visible(self.mode == "cell" and len(self.windows) > 0 and not self._map_mode())
        self._canvas_crs = req["canvas_crs"]
        self._layer_name = req["layer"]
        self._map_value = req.get("map_value")
        if not self.windows:  # a result cell no window covered (edge, nodata)
            self.view.set_patch(None)
            self.chart.clear()
            self.show_button.setEnabled(False)
            self.status.setText(f"{req['layer']}: " + "; ".join(self.cell.notes))
            if self.map_tool is not None:
                self.map_tool.show(None, self._geometry(self.cell.cell_bounds))
            return
        self._show_window(0)

    def _geometry(self, bounds):
        return footprint_geometry(bounds, self.inspector.wr.srs.ExportToWkt(), self._canvas_crs)

    def _map_mode(self) -> bool:  # a pixel of a map-mode run (made by the per-pixel model, not by windows)
        return self.mode == "cell" and self.inspector.run_grid is not None and self.inspector.run_grid.stride == 1

    def _show_window(self, index: int) -> None:
        self.current_index = index
        w = self.windows[index]
        heat = self.heats.get((index, self._target_for(index)))
        self.view.set_patch(w.patch_rgb, heat)
        self.show_button.setEnabled(heat is not None)
        target_name = w.class_names[self._target_for(index)]
        self.chart.set_probabilities(w.class_names, w.class_colors, w.probabilities, target_name)
        fp = w.footprint
        self.window_status = window_text(
            w,
            index,
            self.windows,
            self.cell if self.mode == "cell" else None,
            self.inspector,
            self._layer_name,
            self._map_value,
            self._map_mode(),
        )
        self.status.setText(self.window_status)
        if self.map_tool is not None:
            cell_geom = self._geometry(self.cell.cell_bounds) if self.mode == "cell" else None
            self.map_tool.show(self._geometry(fp.bounds), cell_geom)
        if heat is None:
            self._request_heat(index)

    def _window_picked(self, index: int) -> None:
        if self.mode == "cell" and 0 <= index < len(self.windows):
            self._show_window(index)

    def _class_picked(self, _index: int) -> None:
        if self.mode in ("window", "cell") and self.windows:
            self._show_window(self.current_index)
        elif self.mode == "file" and self.prediction is not None:
            self.classify_file(self.prediction.image)

    def show_on_map(self) -> Optional[QgsRasterLayer]:
        """The current heat map as a temporary layer aligned with its window."""
        if self.mode not in ("window", "cell") or not self.windows:
            return None
        index = self.current_index
        target = self._target_for(index)
        heat = self.heats.get((index, target))
        if heat is None:
            return None
        w = self.windows[index]
        cx, cy = w.footprint.centre
        try:
            layer = self.layers.add(
                heat, w.footprint, f"Grad-CAM {w.class_names[target]} at {cx:.0f}, {cy:.0f}", self.opacity.value() / 100
            )
        except Exception as exc:
            self.push(f"cannot add the heat map: {exc}", Qgis.MessageLevel.Warning)
            return None
        if self.canvas is not None:
            self.canvas.refresh()
        return layer

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        if self._task is not None:
            self._task.on_done = None
            self._task.cancel()
            self._task = None
        self._pending = None
        if self.iface is not None:
            try:
                self.iface.currentLayerChanged.disconnect(self._follow_active_layer)
            except (TypeError, RuntimeError):
                pass
        if self.map_tool is not None:
            try:
                self.canvas.mapToolSet.disconnect(self._tool_changed)
            except (TypeError, RuntimeError):
                pass
            if self.canvas.mapTool() is self.map_tool:
                self.canvas.unsetMapTool(self.map_tool)
            self.map_tool.release()
        self.layers.clear()
        self.worker.clear()
