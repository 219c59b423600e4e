"""Options section: mode, stride, batch size, device, CPU path, output folder, probabilities, open results."""

from __future__ import annotations

from dataclasses import dataclass

from qgis.gui import QgsFileWidget, QgsSpinBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QGroupBox, QLabel

from ...core.request import BATCH_SIZE_MAX, DEFAULT_MODE
from ...toolbelt.log import log_warning
from ..settings import STRIDES
from .common import form_layout, muted, safe_slot, select_data


@dataclass(frozen=True)
class RunChoices:
    """What the Options section holds."""

    stride: int
    batch_size: int
    device: str
    output_dir: str
    write_probabilities: bool
    open_results: bool
    mode: str = DEFAULT_MODE
    fast_path: str = "auto"


FAST_PATH_LABELS = (
    ("auto", "Automatic"),
    ("on", "Fast (traced graph)"),
    ("off", "Plain PyTorch"),
    ("int8", "INT8 (experimental)"),
)
MODE_LABELS = (("windows", "Windows (cells of stride × 10 m)"), ("map", "Map (every 10 m pixel)"))


def stride_label(stride: int, patch: int, gsd: float) -> str:
    """ "32 px · 50 % overlap · 320 m cells"."""
    return f"{stride} px · {100 * (1 - stride / patch):.0f} % overlap · {stride * gsd:g} m cells"


def list_devices() -> list:
    """[(id, label)] from the engine, or Automatic and the CPU when it cannot tell."""
    from ...models.devices import available_devices

    try:
        return available_devices()
    except Exception as exc:
        log_warning(f"cannot list devices: {exc}")
        return [("auto", "Automatic (best available)"), ("cpu", "CPU")]


class OptionsSection(QGroupBox):
    """``value()`` is a :class:`RunChoices`; ``changed(choices)`` when one of them changes."""

    changed = pyqtSignal(object)

    def __init__(self, settings, parent=None):
        super().__init__("Options", parent)
        self._remembered_stride = settings.stride
        self._build()
        select_data(self.mode_combo, getattr(settings, "mode", DEFAULT_MODE))
        self._mode_changed()
        self._fill_devices(settings.device)
        select_data(self.fast_path_combo, getattr(settings, "fast_path", "auto"))
        self.set_model_geometry(64, 10.0, settings.stride)
        self.batch_spin.setValue(settings.batch_size)
        self.output_widget.setFilePath(settings.output_dir)
        self.probabilities_check.setChecked(settings.write_probabilities)
        self.open_check.setChecked(settings.open_results)
        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        for signal in (
            self.mode_combo.currentIndexChanged,
            self.stride_combo.currentIndexChanged,
            self.batch_spin.valueChanged,
            self.device_combo.currentIndexChanged,
            self.fast_path_combo.currentIndexChanged,
            self.output_widget.fileChanged,
            self.probabilities_check.toggled,
            self.open_check.toggled,
        ):
            signal.connect(self._emit)

    def _build(self) -> None:
        form = form_layout(self)
        self.mode_combo = QComboBox(self)
        for mode, label in MODE_LABELS:
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setToolTip(
            "Windows: one class per output cell of stride x 10 m, the windows around it averaged. "
            "Map: a class for every 10 m pixel, from the per-pixel map model (sharper edges)."
        )
        form.addRow("Mode", self.mode_combo)
        self.stride_combo = QComboBox(self)
        self.stride_combo.setToolTip(
            "Step between model windows. A smaller step gives finer output cells and more overlap "
            "(smoother maps) but more windows to compute."
        )
        self.stride_label = QLabel("Stride", self)
        form.addRow(self.stride_label, self.stride_combo)
        self.batch_spin = QgsSpinBox(self)
        self.batch_spin.setRange(1, BATCH_SIZE_MAX)
        self.batch_spin.setClearValue(64)
        self.batch_spin.setToolTip("Windows (map mode: tiles) per model call; lower it if the GPU runs out of memory")
        form.addRow("Batch size", self.batch_spin)
        self.device_combo = QComboBox(self)
        self.device_combo.setToolTip("Where the model runs; Automatic picks CUDA, then Apple MPS, then the CPU")
        form.addRow("Device", self.device_combo)
        self.device_info = muted(QLabel(self))
        form.addRow(self.device_info)
        self.fast_path_combo = QComboBox(self)
        for ident, label in FAST_PATH_LABELS:
            self.fast_path_combo.addItem(label, ident)
        self.fast_path_combo.setToolTip(
            "How the model runs on the CPU. Automatic: the traced graph for larger runs. INT8: 8-bit integer "
            "model, ~2.5 x faster on CPUs with VNNI, may differ from the standard model on mixed windows; "
            "the run says when it is not available and what ran instead."
        )
        form.addRow("CPU path", self.fast_path_combo)
        self.output_widget = QgsFileWidget(self)
        self.output_widget.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.output_widget.setDialogTitle("Output folder for the classification rasters")
        self.output_widget.setToolTip("Folder for the land-cover, confidence and probability GeoTIFFs")
        form.addRow("Output folder", self.output_widget)
        self.probabilities_check = QCheckBox("Write per-class probabilities", self)
        self.open_check = QCheckBox("Open results when done", self)
        self.open_check.setToolTip("Add the results to the map as a layer group")
        form.addRow(self.probabilities_check)
        form.addRow(self.open_check)

    def value(self) -> RunChoices:
        return RunChoices(
            stride=int(self.stride_combo.currentData() or 32),
            batch_size=int(self.batch_spin.value()),
            mode=self.mode_combo.currentData() or DEFAULT_MODE,
            device=self.device_combo.currentData() or "auto",
            fast_path=self.fast_path_combo.currentData() or "auto",
            output_dir=self.output_widget.filePath(),
            write_probabilities=self.probabilities_check.isChecked(),
            open_results=self.open_check.isChecked(),
        )

    def set_model_geometry(self, patch: int, gsd: float, stride=None) -> None:
        """The strides that divide the model's window, labelled with overlap and cell size."""
        current = stride or self.stride_combo.currentData() or self._remembered_stride
        self.stride_combo.blockSignals(True)
        self.stride_combo.clear()
        for s in STRIDES:
            if s <= patch and patch % s == 0:
                self.stride_combo.addItem(stride_label(s, patch, gsd), s)
        select_data(self.stride_combo, current)
        self.stride_combo.blockSignals(False)

    def _fill_devices(self, chosen: str) -> None:
        devices = list_devices()
        for ident, label in devices:
            self.device_combo.addItem(label, ident)
        select_data(self.device_combo, chosen)
        gpus = [label for ident, label in devices if ident not in ("auto", "cpu")]
        self.device_info.setText("Detected: " + (", ".join(gpus) if gpus else "no GPU (CUDA or MPS); the CPU is used"))

    def set_mode(self, mode: str) -> None:
        """Choose ``mode`` (``changed`` is emitted when it differs), e.g. to re-run a map-mode run."""
        select_data(self.mode_combo, mode)

    @safe_slot
    def _mode_changed(self, *_args) -> None:
        """The stride applies to windows mode only: in map mode its row is hidden (greyed out, it still showed
        "16 px · 75 % overlap · 160 m cells" beside a map of 10 m pixels)."""
        windows = self.mode_combo.currentData() != "map"
        self.stride_combo.setEnabled(windows)
        self.stride_combo.setHidden(not windows)
        self.stride_label.setHidden(not windows)

    @safe_slot
    def _emit(self, *_args) -> None:
        self.changed.emit(self.value())
