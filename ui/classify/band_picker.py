"""Bands and radiometry section: which source band feeds each model band, and how values are scaled.

Pre-filled by the engine's auto-detection (the reason is shown); a warning shows when the raster's
pixels are far from the model's ground sampling distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QToolButton

from ...core.request import RADIOMETRY_CHOICES
from ...qgis_bridge.request_builder import pixel_size_m, raster_source_path
from .common import muted, safe_slot, select_data

RADIOMETRY_LABELS = {
    "auto": "Automatic",
    "8bit": "8-bit (0–255 used as is)",
    "sentinel2_l1c": "Sentinel-2 L1C (DN ÷ divisor × 255)",
    "sentinel2_l2a": "Sentinel-2 L2A (offset only if the metadata or values show it, ÷ divisor)",
    "percentile": "2–98 % percentile stretch",
    "sentinel2_offset1000": "Sentinel-2 with the 1000 offset (baseline ≥ 04.00: DN − 1000, ÷ divisor)",
}
GSD_WARN_RATIO = 2.0
MODEL_BANDS_SHOWN = 3


@dataclass(frozen=True)
class BandChoice:
    """``bands``: 1-based source bands, or None when they equal the auto-detection (the engine detects
    again); ``radiometry``: one of core.request.RADIOMETRY_CHOICES."""

    bands: Optional[list]
    radiometry: str


def gsd_warning(pixel_m: float, model_gsd: float) -> str:
    """A warning when the raster's pixels are more than 2× coarser or finer than the model's, else ""."""
    ratio = pixel_m / model_gsd if model_gsd else 1.0
    if pixel_m > 0 and (ratio > GSD_WARN_RATIO or ratio < 1 / GSD_WARN_RATIO):
        return (
            f"⚠ The raster's pixels are ~{pixel_m:.3g} m; the model was trained on {model_gsd:g} m. The image "
            f"is resampled to {model_gsd:g} m and results may be poor."
        )
    return ""


class BandPicker(QGroupBox):
    """``value()`` is a :class:`BandChoice`; ``changed(choice)`` when the analyst changes it.

    ``set_source(layer, card)`` refills it for a new layer or model and runs the auto-detection.
    """

    changed = pyqtSignal(object)

    def __init__(self, parent=None):
        super().__init__("Bands and radiometry", parent)
        self.layer = None
        self.card = None
        self._detected: Optional[list] = None
        self._build()
        for combo in [*self.band_combos, self.radiometry_combo]:
            combo.currentIndexChanged.connect(self._emit)
        self.detect_button.clicked.connect(self.detect)

    def _build(self) -> None:
        grid = QGridLayout(self)
        self.band_labels: list = []
        self.band_combos: list = []
        for i in range(MODEL_BANDS_SHOWN):
            label, combo = QLabel(self), QComboBox(self)
            combo.setToolTip("Source band that feeds this model band")
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(3)  # "B04 …": three characters show which band
            grid.addWidget(label, i, 0)
            grid.addWidget(combo, i, 1, 1, 2)
            self.band_labels.append(label)
            self.band_combos.append(combo)
        grid.addWidget(QLabel("Radiometry", self), 3, 0)
        self.radiometry_combo = QComboBox(self)
        for key in RADIOMETRY_CHOICES:
            self.radiometry_combo.addItem(RADIOMETRY_LABELS.get(key, key), key)
        self.radiometry_combo.setToolTip(
            "How source values become the model's 0–255 input. Automatic: 8-bit as is, 16-bit Sentinel-2 "
            "digital numbers ÷ divisor, anything else a percentile stretch (never a blind ÷255)."
        )
        grid.addWidget(self.radiometry_combo, 3, 1, 1, 2)
        self.detect_button = QToolButton(self)
        self.detect_button.setText("Auto-detect")
        self.detect_button.setToolTip("Fill bands and radiometry from the raster's metadata again")
        grid.addWidget(self.detect_button, 6, 0)  # under the reason: the combos keep the width
        self.band_reason = muted(QLabel(self))
        grid.addWidget(self.band_reason, 4, 0, 1, 3)
        self.gsd_warning = QLabel(self)
        self.gsd_warning.setObjectName("gsdWarning")
        self.gsd_warning.setWordWrap(True)
        self.gsd_warning.setStyleSheet("color: #b35900;")
        self.gsd_warning.hide()
        grid.addWidget(self.gsd_warning, 5, 0, 1, 3)
        grid.setColumnStretch(1, 1)

    # ---------------------------------------------------------------- value
    def value(self) -> BandChoice:
        n = len(self.card.bands) if self.card is not None else MODEL_BANDS_SHOWN
        bands = [c.currentData() for c in self.band_combos[:n]]
        chosen = None if any(b is None for b in bands) or bands == self._detected else [int(b) for b in bands]
        return BandChoice(chosen, self.radiometry_combo.currentData() or "auto")

    def set_radiometry(self, radiometry: str) -> None:
        select_data(self.radiometry_combo, radiometry)

    # ---------------------------------------------------------------- source
    def set_source(self, layer, card) -> None:
        """A new layer and/or model: band names, model band labels, detection, the gsd warning."""
        self.layer, self.card = layer, card
        self.blockSignals(True)
        try:
            self._fill_band_combos()
            self._label_model_bands()
            self.detect()
        finally:
            self.blockSignals(False)
        self._check_gsd()

    def _fill_band_combos(self) -> None:
        count = self.layer.bandCount() if self.layer is not None else 0
        for combo in self.band_combos:
            combo.blockSignals(True)
            combo.clear()
            for b in range(1, count + 1):
                combo.addItem(self.layer.bandName(b), b)
            combo.blockSignals(False)
        if self.layer is None:
            self.band_reason.setText("")

    def _label_model_bands(self) -> None:
        card = self.card
        bands = card.bands if card is not None else []
        roles = (card.band_roles if card is not None else None) or [""] * len(bands)
        for i, (label, combo) in enumerate(zip(self.band_labels, self.band_combos)):
            if card is None:
                label.setText("")
                continue
            visible = i < len(bands)
            if visible:
                role = roles[i].capitalize() if i < len(roles) and roles[i] else "Band"
                label.setText(f"{role} ({bands[i]})")
            label.setVisible(visible)
            combo.setVisible(visible)

    @safe_slot
    def detect(self, *_args) -> None:
        """Fill bands and radiometry from the engine's auto-detection (the reason is shown)."""
        self._detected = None
        if self.layer is None or self.card is None:
            return
        try:
            from ...core.bands import detect_band_mapping

            mapping = detect_band_mapping(raster_source_path(self.layer), self.card)
        except Exception as exc:  # ClassificationError, RequestError, GDAL
            for i, combo in enumerate(self.band_combos):  # a guess to start from: bands 1, 2, 3
                combo.setCurrentIndex(min(i, combo.count() - 1))
            self.band_reason.setText(f"Check the bands: {exc}")
            return
        for combo, band in zip(self.band_combos, mapping.bands):
            select_data(combo, band)
        self._detected = list(mapping.bands)
        i = self.radiometry_combo.findData("auto")
        self.radiometry_combo.setItemText(i, f"Automatic (detected: {RADIOMETRY_LABELS.get(mapping.radiometry)})")
        self.band_reason.setText(f"Detected: {mapping.reason}. {mapping.radiometry_reason}.")

    def _check_gsd(self) -> None:
        text = ""
        if self.layer is not None and self.card is not None:
            text = gsd_warning(pixel_size_m(self.layer), self.card.gsd_m)
        self.gsd_warning.setText(text)
        self.gsd_warning.setVisible(bool(text))

    @safe_slot
    def _emit(self, *_args) -> None:
        self.changed.emit(self.value())
