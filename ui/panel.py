"""The classification panel inside the dock: input, area, model, bands, options, run.

Imported only when the engine's dependencies are present (it lists torch devices).
"""

from __future__ import annotations

import functools
import html
import time
import traceback
from pathlib import Path
from typing import Optional

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsTask,
)
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox, QgsSpinBox
from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..__about__ import PLUGIN_NAME
from ..core.request import RADIOMETRY_CHOICES
from ..qgis_bridge import styling
from ..qgis_bridge.request_builder import (
    RequestError,
    RunOptions,
    area_km2,
    build_request,
    clip_to_layer,
    estimate_windows,
    pixel_size_m,
    raster_source_path,
    size_m,
)
from ..toolbelt.log import log, log_error, log_warning
from .compat import avoid_triton_llvm_clash
from .page_base import WorkspacePage
from .settings import AREA_MODES, STRIDES, DockSettings
from .task import ClassificationTask, format_seconds

AREA_LABELS = {
    "layer": "Whole layer",
    "canvas": "Current map canvas extent",
    "drawn": "Rectangle drawn on the map",
    "selection": "Extent of selected features",
}
RADIOMETRY_LABELS = {
    "auto": "Automatic",
    "8bit": "8-bit (0–255 used as is)",
    "sentinel2_l1c": "Sentinel-2 L1C (DN ÷ divisor × 255)",
    "sentinel2_l2a": "Sentinel-2 L2A (offset 1000, then ÷ divisor)",
    "percentile": "2–98 % percentile stretch",
}
GSD_WARN_RATIO = 2.0


def _safe_slot(method):
    """Qt slots must not raise (QGIS would open a Python error dialog): log and tell the user instead."""

    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except Exception as exc:
            log_error(f"{method.__name__} failed:\n" + traceback.format_exc())
            try:
                self.push(
                    f"Something went wrong ({type(exc).__name__}: {exc}); details in the log panel.", Qgis.Warning
                )
            except Exception:
                pass
            return None

    return wrapper


def _muted(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(mid);")
    return label


def card_accuracy(card) -> Optional[str]:
    """ "97.2 % overall accuracy (test split)" from the card's metrics, when present."""
    metrics = getattr(card, "metrics", None) or {}

    def find(d, depth=0):
        if not isinstance(d, dict) or depth > 3:
            return None
        for key in ("overall_accuracy", "accuracy", "test_accuracy", "top1"):
            v = d.get(key)
            if isinstance(v, (int, float)):
                return float(v), d
        for key in ("test", "val", "validation"):
            if key in d:
                hit = find(d[key], depth + 1)
                if hit:
                    return hit[0], {**hit[1], "_split": key}
        for v in d.values():
            hit = find(v, depth + 1)
            if hit:
                return hit
        return None

    hit = find(metrics)
    if not hit:
        return None
    value, where = hit
    pct = value * 100 if value <= 1.0 else value
    split = where.get("split") or where.get("_split") or metrics.get("split")
    return f"{pct:.1f} % accuracy" + (f" ({split} split)" if split else "")


class ClassifyPanel(WorkspacePage):
    """The Classify page: everything needed to classify a raster layer, in a compact form."""

    title = "Classify"
    object_name = "classifyPage"

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(iface, workspace, parent)
        avoid_triton_llvm_clash()  # before anything imports timm/torchvision in this process
        self.canvas = iface.mapCanvas()
        self.settings = DockSettings.load()
        self.running: Optional[ClassificationTask] = None  # at most one run at a time from the dock
        self.pending: list = []  # queued runs, started in order
        self.last_task: Optional[ClassificationTask] = None
        self.map_tool = None
        self.drawn_rect: Optional[QgsRectangle] = None
        self.drawn_crs: Optional[QgsCoordinateReferenceSystem] = None
        self._previous_tool = None
        self._card_cache: dict = {}
        self._detected_bands: Optional[list] = None
        self._closed = False
        self._build()
        self._restore()
        self._connect()
        self.refresh_model()
        self.refresh_layer()

    # ================================================================== layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        body = QWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(6)
        scroll.setWidget(body)
        outer.addWidget(scroll)

        # ---- input
        box = QGroupBox("Input", body)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.layer_combo = QgsMapLayerComboBox(box)
        self.layer_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.layer_combo.setAllowEmptyLayer(False)
        self.layer_combo.setToolTip("Raster layer to classify; follows the layer selected in the Layers panel")
        form.addRow("Raster", self.layer_combo)
        self.layer_info = _muted(QLabel(box))
        form.addRow(self.layer_info)
        layout.addWidget(box)

        # ---- area
        box = QGroupBox("Area", body)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        row = QHBoxLayout()
        self.area_combo = QComboBox(box)
        for mode in AREA_MODES:
            self.area_combo.addItem(AREA_LABELS[mode], mode)
        self.area_combo.setToolTip(
            "Classify the whole layer, what the map shows, a rectangle you draw, or the extent of the "
            "selected features of a polygon layer. Any project CRS works: the area is transformed."
        )
        self.draw_button = QToolButton(box)
        self.draw_button.setText("Draw")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Drag a rectangle on the map (Esc clears it)")
        row.addWidget(self.area_combo, 1)
        row.addWidget(self.draw_button)
        form.addRow("Classify", row)
        self.polygon_combo = QgsMapLayerComboBox(box)
        self.polygon_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.polygon_combo.setToolTip("Polygon layer whose selected features give the area")
        self.polygon_label = QLabel("Polygons", box)
        form.addRow(self.polygon_label, self.polygon_combo)
        self.area_info = _muted(QLabel(box))
        self.area_info.setObjectName("areaInfo")
        form.addRow(self.area_info)
        layout.addWidget(box)

        # ---- model
        box = QGroupBox("Model", body)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        row = QHBoxLayout()
        self.model_combo = QComboBox(box)
        self.model_combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.model_combo.setToolTip("The bundled EuroSAT model, or a model card (JSON) you added")
        self.add_model_button = QToolButton(box)
        self.add_model_button.setText("+")
        self.add_model_button.setToolTip("Add a model from its card (the JSON file beside the weights)")
        self.remove_model_button = QToolButton(box)
        self.remove_model_button.setText("−")
        self.remove_model_button.setToolTip("Remove the selected model from this list (files are kept)")
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.add_model_button)
        row.addWidget(self.remove_model_button)
        form.addRow("Model", row)
        self.model_info = _muted(QLabel(box))
        form.addRow(self.model_info)
        self.classes_label = QLabel(box)
        self.classes_label.setObjectName("modelClasses")
        self.classes_label.setTextFormat(Qt.RichText)
        self.classes_label.setToolTip("The model's classes and their map colours")
        form.addRow(self.classes_label)
        layout.addWidget(box)

        # ---- bands and radiometry
        box = QGroupBox("Bands and radiometry", body)
        grid = QGridLayout(box)
        self.band_labels: list = []
        self.band_combos: list = []
        for i in range(3):
            label = QLabel(box)
            combo = QComboBox(box)
            combo.setToolTip("Source band that feeds this model band")
            grid.addWidget(label, i, 0)
            grid.addWidget(combo, i, 1, 1, 2)
            self.band_labels.append(label)
            self.band_combos.append(combo)
        grid.addWidget(QLabel("Radiometry", box), 3, 0)
        self.radiometry_combo = QComboBox(box)
        for key in RADIOMETRY_CHOICES:
            self.radiometry_combo.addItem(RADIOMETRY_LABELS.get(key, key), key)
        self.radiometry_combo.setToolTip(
            "How source values become the model's 0–255 input. Automatic: 8-bit as is, 16-bit Sentinel-2 "
            "digital numbers ÷ divisor, anything else a percentile stretch (never a blind ÷255)."
        )
        grid.addWidget(self.radiometry_combo, 3, 1)
        self.detect_button = QToolButton(box)
        self.detect_button.setText("Auto-detect")
        self.detect_button.setToolTip("Fill bands and radiometry from the raster's metadata again")
        grid.addWidget(self.detect_button, 3, 2)
        self.band_reason = _muted(QLabel(box))
        grid.addWidget(self.band_reason, 4, 0, 1, 3)
        self.gsd_warning = QLabel(box)
        self.gsd_warning.setObjectName("gsdWarning")
        self.gsd_warning.setWordWrap(True)
        self.gsd_warning.setStyleSheet("color: #b35900;")
        self.gsd_warning.hide()
        grid.addWidget(self.gsd_warning, 5, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        layout.addWidget(box)

        # ---- options
        box = QGroupBox("Options", body)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.stride_combo = QComboBox(box)
        self.stride_combo.setToolTip(
            "Step between model windows. A smaller step gives finer output cells and more overlap "
            "(smoother maps) but more windows to compute."
        )
        form.addRow("Stride", self.stride_combo)
        self.batch_spin = QgsSpinBox(box)
        self.batch_spin.setRange(1, 4096)
        self.batch_spin.setClearValue(64)
        self.batch_spin.setToolTip("Windows per model call; lower it if the GPU runs out of memory")
        form.addRow("Batch size", self.batch_spin)
        self.device_combo = QComboBox(box)
        self.device_combo.setToolTip("Where the model runs; Automatic picks CUDA, then Apple MPS, then the CPU")
        form.addRow("Device", self.device_combo)
        self.device_info = _muted(QLabel(box))
        form.addRow(self.device_info)
        self.output_widget = QgsFileWidget(box)
        self.output_widget.setStorageMode(QgsFileWidget.GetDirectory)
        self.output_widget.setDialogTitle("Output folder for the classification rasters")
        self.output_widget.setToolTip("Folder for the land-cover, confidence and probability GeoTIFFs")
        form.addRow("Output folder", self.output_widget)
        self.probabilities_check = QCheckBox("Write per-class probabilities", box)
        self.open_check = QCheckBox("Open results when done", box)
        self.open_check.setToolTip("Add the results to the map as a layer group")
        form.addRow(self.probabilities_check)
        form.addRow(self.open_check)
        layout.addWidget(box)

        # ---- run
        row = QHBoxLayout()
        self.run_button = QPushButton("Run", body)
        self.run_button.setObjectName("runButton")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Classify in the background; you can keep working (several runs may queue)")
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running classifications; partial files are removed")
        row.addWidget(self.run_button, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.progress_bar = QProgressBar(body)
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        layout.addWidget(self.progress_bar)
        self.status_label = _muted(QLabel(body))
        self.status_label.setObjectName("statusLabel")
        layout.addWidget(self.status_label)
        self.summary_label = QLabel(body)
        self.summary_label.setObjectName("summaryLabel")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.summary_label)
        layout.addStretch(1)
        for combo in body.findChildren(QComboBox):  # long items must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        self.setMinimumWidth(280)

    def _restore(self) -> None:
        s = self.settings
        self._set_combo_data(self.area_combo, s.area_mode)
        self.batch_spin.setValue(s.batch_size)
        self._set_combo_data(self.radiometry_combo, s.radiometry)
        self.output_widget.setFilePath(s.output_dir)
        self.open_check.setChecked(s.open_results)
        self.probabilities_check.setChecked(s.write_probabilities)
        self._fill_models()
        self._fill_devices()
        self._on_area_mode()

    def _connect(self) -> None:
        self.layer_combo.layerChanged.connect(self.refresh_layer)
        self.area_combo.currentIndexChanged.connect(self._on_area_mode)
        self.draw_button.toggled.connect(self._on_draw_toggled)
        self.polygon_combo.layerChanged.connect(self.refresh_area_info)
        self.model_combo.currentIndexChanged.connect(self.refresh_model)
        self.add_model_button.clicked.connect(self._ask_model)
        self.remove_model_button.clicked.connect(self.remove_current_model)
        self.detect_button.clicked.connect(self.detect_bands)
        self.stride_combo.currentIndexChanged.connect(self.refresh_area_info)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel_all)
        self.canvas.extentsChanged.connect(self._on_canvas_extent)
        self.canvas.destinationCrsChanged.connect(self._on_canvas_crs)
        try:
            self.iface.currentLayerChanged.connect(self._on_current_layer)
        except (AttributeError, TypeError):  # a test double without the signal
            pass
        project = QgsProject.instance()
        project.layersWillBeRemoved.connect(self._on_layers_removed)
        project.removeAll.connect(self._on_project_closing)
        project.cleared.connect(self._on_project_closing)

    def _disconnect(self) -> None:
        project = QgsProject.instance()
        pairs = [
            (project.layersWillBeRemoved, self._on_layers_removed),
            (project.removeAll, self._on_project_closing),
            (project.cleared, self._on_project_closing),
            (self.canvas.extentsChanged, self._on_canvas_extent),
            (self.canvas.destinationCrsChanged, self._on_canvas_crs),
        ]
        try:
            pairs.append((self.iface.currentLayerChanged, self._on_current_layer))
        except AttributeError:
            pass
        for signal, slot in pairs:
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass

    # ================================================================== helpers
    @staticmethod
    def _set_combo_data(combo: QComboBox, data) -> None:
        i = combo.findData(data)
        if i >= 0:
            combo.setCurrentIndex(i)

    def layer(self) -> Optional[QgsRasterLayer]:
        layer = self.layer_combo.currentLayer()
        return layer if isinstance(layer, QgsRasterLayer) else None

    def area_mode(self) -> str:
        return self.area_combo.currentData() or "layer"

    def set_area_mode(self, mode: str) -> None:
        self._set_combo_data(self.area_combo, mode)

    def push(self, text: str, level=Qgis.Info, duration: int = 8) -> None:
        try:
            self.iface.messageBar().pushMessage(PLUGIN_NAME, text, level, duration)
        except Exception:
            log(text, level)

    # ================================================================== input
    @_safe_slot
    def _on_current_layer(self, *args) -> None:
        layer = None
        try:
            layer = self.iface.activeLayer()
        except Exception:
            pass
        if layer is None and args and isinstance(args[0], QgsRasterLayer):
            layer = args[0]
        if isinstance(layer, QgsRasterLayer) and layer is not self.layer():
            self.layer_combo.setLayer(layer)

    @_safe_slot
    def refresh_layer(self, *_args) -> None:
        layer = self.layer()
        if layer is None:
            self.layer_info.setText("Add a raster layer to the project to classify it.")
            self._fill_band_combos(0)
            self.band_reason.setText("")
            self.gsd_warning.hide()
            self.refresh_area_info()
            return
        crs = layer.crs().authid() or layer.crs().description()
        dtype = ""
        try:
            dtype = {1: "8-bit", 2: "UInt16", 3: "Int16", 4: "UInt32", 5: "Int32", 6: "Float32", 7: "Float64"}.get(
                int(layer.dataProvider().dataType(1)), ""
            )
        except Exception:
            pass
        px = pixel_size_m(layer)
        self.layer_info.setText(
            f"{layer.width()} × {layer.height()} px · {layer.bandCount()} band(s) {dtype} · {crs} · ~{px:.3g} m pixels"
        )
        self._fill_band_combos(layer.bandCount(), layer)
        self.detect_bands()
        self._check_gsd()
        self.refresh_area_info()

    def _fill_band_combos(self, count: int, layer: Optional[QgsRasterLayer] = None) -> None:
        for combo in self.band_combos:
            combo.blockSignals(True)
            combo.clear()
            for b in range(1, count + 1):
                name = layer.bandName(b) if layer is not None else f"Band {b}"
                combo.addItem(name, b)
            combo.blockSignals(False)

    # ================================================================== model
    def default_card_path(self) -> Path:
        from ..models.checkpoint import default_card_path

        return default_card_path()

    def _fill_models(self) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        default = self.default_card_path()
        label = "EuroSAT RGB (bundled default)"
        if not default.is_file():
            label += " — not installed"
        self.model_combo.addItem(label, "")
        for path in self.settings.extra_models:
            self.model_combo.addItem(self._model_label(path), path)
            self.model_combo.setItemData(self.model_combo.count() - 1, path, Qt.ToolTipRole)
        self._set_combo_data(self.model_combo, self.settings.model_card)
        self.model_combo.blockSignals(False)

    def _model_label(self, path: str) -> str:
        card = self._card(path)
        title = getattr(card, "title", None) or Path(path).stem
        return f"{title} ({Path(path).name})"

    def _card(self, path: str):
        """The ModelCard for `path` ("" = default), or None when it cannot be read."""
        from ..models.card import ModelCard, ModelCardError

        real = str(path) if path else str(self.default_card_path())
        if real in self._card_cache:
            return self._card_cache[real]
        try:
            card = ModelCard.load(real)
        except (ModelCardError, OSError) as exc:
            log_warning(f"cannot read the model card {real}: {exc}")
            card = None
        self._card_cache[real] = card
        return card

    def model_path(self) -> str:
        return self.model_combo.currentData() or ""

    def current_card(self):
        return self._card(self.model_path())

    def add_model(self, path: str) -> bool:
        """Add a model card to the remembered list and select it; False (and a message) if invalid."""
        from ..models.card import ModelCard, ModelCardError

        path = str(Path(path).expanduser().resolve())
        try:
            card = ModelCard.load(path)
        except (ModelCardError, OSError) as exc:
            self.push(f"Not a usable model card: {exc}", Qgis.Warning)
            return False
        self._card_cache[path] = card
        if path not in self.settings.extra_models:
            self.settings.extra_models.append(path)
        self.settings.model_card = path
        self.settings.save()
        self._fill_models()
        self.refresh_model()
        return True

    @_safe_slot
    def _ask_model(self, *_args) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a model card", str(Path.home()), "Model card (*.json);;All files (*)"
        )
        if path:
            self.add_model(path)

    @_safe_slot
    def remove_current_model(self, *_args) -> None:
        path = self.model_path()
        if not path:
            return
        self.settings.extra_models = [p for p in self.settings.extra_models if p != path]
        self.settings.model_card = ""
        self.settings.save()
        self._fill_models()
        self.refresh_model()

    @_safe_slot
    def refresh_model(self, *_args) -> None:
        card = self.current_card()
        self.remove_model_button.setEnabled(bool(self.model_path()))
        if card is None:
            path = self.model_path() or str(self.default_card_path())
            self.model_info.setText(f"Model card not available: {path}")
            self.classes_label.setText("")
            for label in self.band_labels:
                label.setText("")
            self._fill_strides(64, 10.0)
            return
        parts = [f"Bands {' '.join(card.bands)}", f"{card.gsd_m:g} m", f"{card.patch_size} px windows"]
        acc = card_accuracy(card)
        if acc:
            parts.append(acc)
        self.model_info.setText(f"{card.title or card.name} · " + " · ".join(parts))
        self.model_info.setToolTip(card.description or str(card.path or ""))
        cells = []
        for name, color in styling.card_classes(card):
            cells.append(
                f'<td><span style="background-color:{color}; color:{color};">&nbsp;&nbsp;&nbsp;&nbsp;</span>'
                f"&nbsp;{html.escape(name)}</td>"
            )
        rows = ["<tr>" + "".join(cells[i : i + 2]) + "</tr>" for i in range(0, len(cells), 2)]
        self.classes_label.setText('<table cellspacing="2">' + "".join(rows) + "</table>")
        roles = card.band_roles or [""] * len(card.bands)
        for i, label in enumerate(self.band_labels):
            if i < len(card.bands):
                role = roles[i].capitalize() if i < len(roles) and roles[i] else "Band"
                label.setText(f"{role} ({card.bands[i]})")
                label.show()
                self.band_combos[i].show()
            else:
                label.hide()
                self.band_combos[i].hide()
        self._fill_strides(card.patch_size, card.gsd_m)
        if self.layer() is not None:
            self.detect_bands()
            self._check_gsd()
        self.refresh_area_info()

    def _fill_strides(self, patch: int, gsd: float) -> None:
        current = self.stride_combo.currentData() or self.settings.stride
        self.stride_combo.blockSignals(True)
        self.stride_combo.clear()
        for s in STRIDES:
            if s > patch or patch % s:
                continue
            overlap = 100 * (1 - s / patch)
            self.stride_combo.addItem(f"{s} px · {overlap:.0f} % overlap · {s * gsd:g} m cells", s)
        self._set_combo_data(self.stride_combo, current)
        self.stride_combo.blockSignals(False)

    # ================================================================== bands
    def detect_bands(self, *_args) -> None:
        layer, card = self.layer(), self.current_card()
        self._detected_bands = None
        if layer is None or card is None:
            return
        try:
            from ..core.bands import detect_band_mapping

            mapping = detect_band_mapping(raster_source_path(layer), card)
        except Exception as exc:  # ClassificationError, RequestError, GDAL
            for i, combo in enumerate(self.band_combos):  # a guess to start from: bands 1, 2, 3
                combo.setCurrentIndex(min(i, combo.count() - 1))
            self.band_reason.setText(f"Check the bands: {exc}")
            return
        for combo, band in zip(self.band_combos, mapping.bands):
            self._set_combo_data(combo, band)
        self._detected_bands = list(mapping.bands)
        i = self.radiometry_combo.findData("auto")
        self.radiometry_combo.setItemText(i, f"Automatic (detected: {RADIOMETRY_LABELS.get(mapping.radiometry)})")
        self.band_reason.setText(f"Detected: {mapping.reason}. {mapping.radiometry_reason}.")

    def chosen_bands(self) -> Optional[list]:
        """The band combos' choice, or None when it equals the auto-detection."""
        card = self.current_card()
        n = len(card.bands) if card is not None else 3
        bands = [c.currentData() for c in self.band_combos[:n]]
        if any(b is None for b in bands) or bands == self._detected_bands:
            return None
        return [int(b) for b in bands]

    def _check_gsd(self) -> None:
        layer, card = self.layer(), self.current_card()
        if layer is None or card is None:
            self.gsd_warning.hide()
            return
        px = pixel_size_m(layer)
        ratio = px / card.gsd_m if card.gsd_m else 1.0
        if px > 0 and (ratio > GSD_WARN_RATIO or ratio < 1 / GSD_WARN_RATIO):
            self.gsd_warning.setText(
                f"⚠ The raster's pixels are ~{px:.3g} m; the model was trained on {card.gsd_m:g} m. The image "
                f"is resampled to {card.gsd_m:g} m and results may be poor."
            )
            self.gsd_warning.show()
        else:
            self.gsd_warning.hide()

    # ================================================================== devices
    def _fill_devices(self) -> None:
        from ..core.devices import available_devices

        try:
            devices = available_devices()
        except Exception as exc:
            log_warning(f"cannot list devices: {exc}")
            devices = [("auto", "Automatic (best available)"), ("cpu", "CPU")]
        self.device_combo.clear()
        for ident, label in devices:
            self.device_combo.addItem(label, ident)
        self._set_combo_data(self.device_combo, self.settings.device)
        gpus = [label for ident, label in devices if ident not in ("auto", "cpu")]
        self.device_info.setText("Detected: " + (", ".join(gpus) if gpus else "no GPU (CUDA or MPS); the CPU is used"))

    # ================================================================== area
    @_safe_slot
    def _on_area_mode(self, *_args) -> None:
        mode = self.area_mode()
        selection = mode == "selection"
        self.polygon_combo.setVisible(selection)
        self.polygon_label.setVisible(selection)
        self.draw_button.setEnabled(mode == "drawn")
        if mode == "drawn":
            tool = self._tool()
            if self.drawn_rect is not None:
                tool.show_rectangle(self._drawn_in_canvas_crs())
            elif not self.draw_button.isChecked():
                self.draw_button.setChecked(True)
        else:
            if self.draw_button.isChecked():
                self.draw_button.setChecked(False)
            if self.map_tool is not None:
                self.map_tool.clear()
        self.refresh_area_info()

    @_safe_slot
    def _on_canvas_crs(self) -> None:
        """The drawn rectangle keeps its own CRS; its rubber band follows the canvas CRS."""
        if self.map_tool is not None and self.area_mode() == "drawn" and self.drawn_rect is not None:
            self.map_tool.show_rectangle(self._drawn_in_canvas_crs())
        self.refresh_area_info()

    @_safe_slot
    def _on_canvas_extent(self) -> None:
        if self.area_mode() == "canvas":
            self.refresh_area_info()

    def _tool(self):
        if self.map_tool is None:
            from .map_tool import RectangleMapTool

            self.map_tool = RectangleMapTool(self.canvas, self._estimate_text)
            self.map_tool.rectangleDrawn.connect(self.set_drawn_rectangle)
            self.map_tool.deactivated.connect(lambda: self.draw_button.setChecked(False))
        return self.map_tool

    @_safe_slot
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

    @_safe_slot
    def set_drawn_rectangle(self, rect: QgsRectangle, crs: Optional[QgsCoordinateReferenceSystem] = None) -> None:
        self.drawn_rect = QgsRectangle(rect)
        self.drawn_crs = QgsCoordinateReferenceSystem(crs) if crs else self.canvas.mapSettings().destinationCrs()
        if self.area_mode() != "drawn":
            self.set_area_mode("drawn")
        self.refresh_area_info()

    def _drawn_in_canvas_crs(self) -> Optional[QgsRectangle]:
        if self.drawn_rect is None:
            return None
        canvas_crs = self.canvas.mapSettings().destinationCrs()
        if self.drawn_crs is None or self.drawn_crs == canvas_crs:
            return self.drawn_rect
        from qgis.core import QgsCoordinateTransform

        ct = QgsCoordinateTransform(self.drawn_crs, canvas_crs, QgsProject.instance().transformContext())
        return ct.transformBoundingBox(self.drawn_rect)

    def current_area(self):
        """(QgsRectangle or None for the whole layer, its CRS). Raises RequestError."""
        mode = self.area_mode()
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

    def _estimate_text(self, rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> str:
        card = self.current_card()
        gsd, patch = (card.gsd_m, card.patch_size) if card is not None else (10.0, 64)
        stride = self.stride_combo.currentData() or 32
        layer = self.layer()
        if layer is not None:
            try:
                rect = clip_to_layer(rect, crs, layer)
                crs = layer.crs()
            except RequestError:
                return f"{area_km2(rect, crs):.3g} km² · outside the raster"
        w, h = size_m(rect, crs)
        n = estimate_windows(w, h, gsd, patch, stride)
        return f"{area_km2(rect, crs):.3g} km² · ~{n} windows"

    def refresh_area_info(self, *_args) -> None:
        layer = self.layer()
        if layer is None:
            self.area_info.setText("")
            return
        try:
            rect, crs = self.current_area()
            if rect is None:
                rect, crs = layer.extent(), layer.crs()
            self.area_info.setText(self._estimate_text(rect, crs))
        except RequestError as exc:
            self.area_info.setText(str(exc).capitalize())
        except Exception as exc:
            self.area_info.setText(f"Cannot measure the area: {exc}")
        if self.map_tool is not None and self.area_mode() == "drawn":
            self.map_tool.refresh_info()

    # ================================================================== run
    def options(self) -> RunOptions:
        return RunOptions(
            model_card=self.model_path() or None,
            bands=self.chosen_bands(),
            radiometry=self.radiometry_combo.currentData() or "auto",
            stride=int(self.stride_combo.currentData() or 32),
            batch_size=int(self.batch_spin.value()),
            device=self.device_combo.currentData() or "auto",
            write_probabilities=self.probabilities_check.isChecked(),
        )

    def save_settings(self) -> None:
        s = self.settings
        s.model_card = self.model_path()
        s.area_mode = self.area_mode()
        s.stride = int(self.stride_combo.currentData() or s.stride)
        s.batch_size = int(self.batch_spin.value())
        s.device = self.device_combo.currentData() or "auto"
        s.radiometry = self.radiometry_combo.currentData() or "auto"
        s.output_dir = self.output_widget.filePath()
        s.open_results = self.open_check.isChecked()
        s.write_probabilities = self.probabilities_check.isChecked()
        s.save()

    def build_request(self):
        layer = self.layer()
        if layer is None:
            raise RequestError("choose a raster layer to classify")
        if self.model_path() == "" and not self.default_card_path().is_file():
            raise RequestError(
                f"the bundled model is not installed ({self.default_card_path().name}); add a model card with +"
            )
        rect, crs = self.current_area()
        reserved = {t.request.name for t in self.tasks}
        return build_request(layer, self.output_widget.filePath(), self.options(), rect, crs, reserved)

    def run(self, *_args) -> Optional[ClassificationTask]:
        """Start a classification in the background; returns the task (None when the form is incomplete)."""
        try:
            request = self.build_request()
        except RequestError as exc:
            self.push(str(exc)[0].upper() + str(exc)[1:], Qgis.Warning)
            return None
        except Exception as exc:
            log_error("cannot prepare the classification:\n" + traceback.format_exc())
            self.push(f"Cannot prepare the classification: {exc}", Qgis.Critical)
            return None
        self.save_settings()
        layer = self.layer()
        card = self.current_card()
        context = {
            "layer_id": layer.id(),
            "layer_name": layer.name(),
            "classes": styling.card_classes(card) if card is not None else [],
            "open_results": self.open_check.isChecked(),
        }
        task = ClassificationTask(request, f"{PLUGIN_NAME}: {layer.name()}", self._task_done, context)
        task.progressChanged.connect(lambda _v, t=task: self._show_progress(t))
        self.pending.append(task)
        self.last_task = task
        log(f"classification queued: {request.to_dict()}")
        if self.running is not None:
            self.status_label.setText(f"{len(self.pending)} run(s) queued · " + self.running.status_text())
        self._start_next()
        self._update_buttons()
        return task

    @property
    def tasks(self) -> list:
        """The dock's runs not finished yet: the running one first, then the queued ones."""
        return ([self.running] if self.running is not None else []) + list(self.pending)

    def _start_next(self) -> None:
        """Runs go one after the other: they would compete for the same CPU/GPU anyway."""
        if self._closed or self.running is not None or not self.pending:
            return
        task = self.pending.pop(0)
        self.running = task
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting…")
        log(f"classification started: {task.request.to_dict()}")
        QgsApplication.taskManager().addTask(task)

    def _drop_pending(self, tasks) -> None:
        for task in tasks:
            if task in self.pending:
                self.pending.remove(task)
                task.cancelled = True
                log(f"queued classification of {task.context.get('layer_name')} dropped")

    def _show_progress(self, task) -> None:
        if self._closed or task not in self.tasks:
            return
        self.progress_bar.setValue(int(task.progress()))
        text = task.status_text()
        if self.pending:
            text = f"{len(self.pending)} queued · " + text
        self.status_label.setText(text)

    def _update_buttons(self) -> None:
        self.cancel_button.setEnabled(bool(self.tasks))

    @_safe_slot
    def cancel_all(self, *_args) -> None:
        self._drop_pending(list(self.pending))
        if self.running is not None:
            self.running.cancel()
            self.status_label.setText("Cancelling…")
        self._update_buttons()

    def cancel_for_layers(self, layer_ids) -> None:
        ids = set(layer_ids)
        for task in self.tasks:
            if task.context.get("layer_id") in ids:
                task.context["input_removed"] = True
        self._drop_pending([t for t in self.pending if t.context.get("layer_id") in ids])
        if self.running is not None and self.running.context.get("input_removed"):
            self.running.cancel()
        self._update_buttons()

    @_safe_slot
    def _on_layers_removed(self, layer_ids) -> None:
        self.cancel_for_layers(layer_ids)

    @_safe_slot
    def _on_project_closing(self) -> None:
        for task in self.tasks:
            task.context["input_removed"] = True
        self.cancel_all()
        self.drawn_rect = None
        if self.map_tool is not None:
            self.map_tool.clear()

    def wait_for_tasks(self, timeout: float = 30.0) -> bool:
        """Process events until this panel's tasks are finished; True when none is left."""
        deadline = time.monotonic() + timeout
        while self.tasks and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)
        return not self.tasks

    def _task_done(self, task: ClassificationTask) -> None:
        if task is self.running:
            self.running = None
        if self._closed:
            return
        try:
            self._report(task)
        finally:
            self._start_next()
            self._update_buttons()

    def _report(self, task: ClassificationTask) -> None:
        name = task.context.get("layer_name", "raster")
        if task.cancelled or (task.error is None and task.result is None):
            why = " (the input layer was removed)" if task.context.get("input_removed") else ""
            log(f"classification of {name} cancelled{why}")
            self.status_label.setText(f"Cancelled{why}.")
            self.progress_bar.setValue(0)
            self.push(f"Classification of {name} cancelled{why}; no files were kept.", Qgis.Info, 5)
            return
        if task.error is not None:
            detail = task.traceback or task.error
            log_error(f"classification of {name} failed: {detail}")
            self.status_label.setText("Failed: see the message bar and the log.")
            self.progress_bar.setValue(0)
            text = f"Classification of {name} failed: {task.error}"
            if task.traceback:
                text += " (details in the log panel)"
            self.push(text, Qgis.Critical, 0)
            return
        self.report_result(task)

    def report_result(self, task: ClassificationTask) -> None:
        result = task.result
        name = task.context.get("layer_name", "raster")
        classes = task.context.get("classes") or []
        if task.context.get("open_results", True) and not task.context.get("input_removed"):
            try:
                group = styling.add_result_group(result, classes, name)
                task.context["group"] = group.name()
            except Exception as exc:
                log_error("cannot add the result layers:\n" + traceback.format_exc())
                self.push(f"The classification finished but its layers cannot be added: {exc}", Qgis.Warning, 0)
        seconds = result.seconds or task.seconds
        areas = styling.area_summary(result.area_km2, top=4)
        total = sum(result.area_km2.values())
        summary = f"{name}: {total:.3g} km² in {format_seconds(seconds)} — {areas}"
        self.progress_bar.setValue(100)
        self.status_label.setText(
            f"Done: {result.windows} windows · {result.windows_per_second:.0f} windows/s · {result.device}"
        )
        self.summary_label.setText(
            "<b>Last run</b><br>"
            + html.escape(f"{name}: {total:.3g} km² in {format_seconds(seconds)} on {result.device}")
            + "<br>"
            + "<br>".join(
                html.escape(f"{k}: {v:.3g} km²")
                for k, v in sorted(result.area_km2.items(), key=lambda kv: -kv[1])
                if v > 0
            )
        )
        self.push(f"Land cover of {summary}", Qgis.Success, 10)
        for warning in result.warnings or []:
            self.push(warning, Qgis.Warning, 10)
        lines = [
            f"classification of {name} done in {seconds:.1f} s on {result.device}",
            f"  windows: {result.windows} ({result.skipped_windows} skipped as nodata), "
            f"{result.windows_per_second:.1f} windows/s",
            f"  classes: {result.classes_path}",
            f"  probabilities: {result.probabilities_path}",
            f"  confidence: {result.confidence_path}",
            f"  summary: {result.summary_path}",
            "  area per class (km²): " + ", ".join(f"{k} {v:.4g}" for k, v in result.area_km2.items()),
        ]
        if result.warnings:
            lines.append("  warnings: " + "; ".join(result.warnings))
        log("\n".join(lines))

    # ================================================================== shutdown
    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel running tasks (waiting for them, so no partial file remains) and free map items."""
        if self._closed:
            return
        try:
            self.save_settings()
        except Exception:
            pass
        self._disconnect()
        self._drop_pending(list(self.pending))
        running = self.tasks
        for task in running:
            task.context["input_removed"] = True
            task.cancel()
        self.wait_for_tasks(timeout)
        for task in running:
            if task.status() not in (QgsTask.Complete, QgsTask.Terminated):
                log_warning(f"task {task.description()} did not stop within {timeout:.0f} s")
        self._closed = True
        if self.map_tool is not None:
            self.map_tool.release()
            self.map_tool = None
