"""Model section: the bundled model or an added model card, with its classes, bands and accuracy."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Optional

from qgis.core import Qgis
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QSizePolicy, QToolButton

from ...qgis_bridge.styling import card_classes
from ...toolbelt.log import log_warning
from .common import form_layout, muted, notify, safe_slot, select_data

BUNDLED_LABEL = "EuroSAT RGB (bundled default)"


def default_card_path() -> Path:
    from ...models.checkpoint import default_card_path as bundled

    return bundled()


def _find_accuracy(d, depth=0):
    """(value, the dict holding it) for the first accuracy-like key in nested metrics."""
    if not isinstance(d, dict) or depth > 3:
        return None
    for key in ("overall_accuracy", "accuracy", "test_accuracy", "top1"):
        if isinstance(d.get(key), (int, float)):
            return float(d[key]), d
    for key in ("test", "val", "validation"):
        if key in d:
            hit = _find_accuracy(d[key], depth + 1)
            if hit:
                return hit[0], {**hit[1], "_split": key}
    for v in d.values():
        hit = _find_accuracy(v, depth + 1)
        if hit:
            return hit
    return None


def card_accuracy(card) -> Optional[str]:
    """ "97.2 % on EuroSAT test patches (test split)" from the card's metrics, when present: the
    model's accuracy on patches like its training data, not a map's (core/export/accuracy_note.py)."""
    metrics = getattr(card, "metrics", None) or {}
    hit = _find_accuracy(metrics)
    if not hit:
        return None
    value, where = hit
    pct = value * 100 if value <= 1.0 else value
    split = where.get("split") or where.get("_split") or metrics.get("split")
    return f"{pct:.1f} % on EuroSAT test patches" + (f" ({split} split)" if split else "")


def classes_html(card) -> str:
    """The card's classes as colour swatches and names that wrap with the dock's width (no table)."""
    cells = [
        f'<span style="background-color:{color}; color:{color};">&nbsp;&nbsp;&nbsp;&nbsp;</span>'
        f"&nbsp;{html.escape(name)}"
        for name, color in card_classes(card)
    ]
    return " &nbsp; ".join(cells)


def fits_mode(card, mode: str) -> bool:
    """True when ``card`` can run in ``mode`` (map mode: a per-pixel map model; windows: a window classifier);
    an unreadable card (None) is not judged here (the run says what is wrong with it)."""
    from ...models.registry import is_per_pixel

    return card is None or is_per_pixel(card.architecture) == (mode == "map")


class ModelPicker(QGroupBox):
    """``value()`` is the chosen card's path ("" = the bundled model of the mode), ``card()`` its ModelCard (None
    when unreadable); ``changed(card)`` when the choice changes. Cards are read once and cached. ``set_mode``
    follows the Classify page's mode: cards that cannot run in it are listed greyed out, with the mode they need;
    ``mode_needed(mode)`` when the analyst adds a card of the other mode (the page switches to it)."""

    changed = pyqtSignal(object)
    mode_needed = pyqtSignal(str)

    def __init__(self, settings, parent=None):
        super().__init__("Model", parent)
        self.settings = settings  # DockSettings: the added models and the last choice are remembered
        self.mode = getattr(settings, "mode", "windows")  # as the Options section starts (the same setting)
        self._cards: dict = {}
        self._build()
        self.fill()
        self.model_combo.currentIndexChanged.connect(self._on_choice)
        self.add_model_button.clicked.connect(self._ask_model)
        self.remove_model_button.clicked.connect(self.remove_current)

    def _build(self) -> None:
        form = form_layout(self)
        row = QHBoxLayout()
        self.model_combo = QComboBox(self)
        self.model_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model_combo.setToolTip("The bundled EuroSAT model, or a model card (JSON) you added")
        self.add_model_button = QToolButton(self)
        self.add_model_button.setText("+")
        self.add_model_button.setToolTip("Add a model from its card (the JSON file beside the weights)")
        self.remove_model_button = QToolButton(self)
        self.remove_model_button.setText("−")
        self.remove_model_button.setToolTip("Remove the selected model from this list (files are kept)")
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.add_model_button)
        row.addWidget(self.remove_model_button)
        form.addRow("Model", row)
        self.model_info = muted(QLabel(self))
        form.addRow(self.model_info)
        self.classes_label = QLabel(self)
        self.classes_label.setObjectName("modelClasses")
        self.classes_label.setTextFormat(Qt.TextFormat.RichText)
        self.classes_label.setToolTip("The model's classes and their map colours")
        form.addRow(self.classes_label)

    # ---------------------------------------------------------------- value
    def value(self) -> str:
        return self.model_combo.currentData() or ""

    def card(self, path: Optional[str] = None):
        """The ModelCard for `path` (default: the chosen one; "" = bundled), None when unreadable."""
        from ...models.card import ModelCard, ModelCardError

        path = self.value() if path is None else path
        real = str(path) if path else str(self.bundled_path())
        if real not in self._cards:
            try:
                self._cards[real] = ModelCard.load(real)
            except (ModelCardError, OSError) as exc:
                log_warning(f"cannot read the model card {real}: {exc}")
                self._cards[real] = None
        return self._cards[real]

    def bundled_path(self) -> Path:
        """The bundled model of the mode: the window classifier, or in map mode the per-pixel map card."""
        if self.mode == "map":
            from ...models.checkpoint import default_map_card_path

            return default_map_card_path()
        return default_card_path()

    def set_mode(self, mode: str) -> None:
        """The Classify page's mode changed: the list again, for it (``changed`` when the model shown changes)."""
        if mode == self.mode:
            return
        before = self.card()
        self.mode = mode
        self.fill()
        if self.card() is not before:
            self.changed.emit(self.card())

    def fill(self) -> None:
        """The bundled model, then the added cards (those that cannot run in the mode greyed out, saying which
        mode they need); the remembered choice selected when it can run in the mode, else the bundled model."""
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        label = BUNDLED_LABEL if self.bundled_path().is_file() else BUNDLED_LABEL + " — not installed"
        self.model_combo.addItem(label, "")
        for path in self.settings.extra_models:
            card = self.card(path)
            title = getattr(card, "title", None) or Path(path).stem
            self.model_combo.addItem(f"{title} ({Path(path).name})", path)
            i = self.model_combo.count() - 1
            tip = path
            if not fits_mode(card, self.mode):
                need = "Windows" if self.mode == "map" else "Map"
                tip += f" — runs in Mode = {need} only"
                self.model_combo.model().item(i).setEnabled(False)
            self.model_combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        select_data(self.model_combo, self.settings.model_card)
        if not fits_mode(self.card(), self.mode):
            self.model_combo.setCurrentIndex(0)  # the choice stays remembered for the other mode
        self.model_combo.blockSignals(False)
        self._show(self.card())

    # ---------------------------------------------------------------- edits
    def add_model(self, path: str) -> bool:
        """Add a model card to the remembered list and select it; False (and a message) if invalid."""
        from ...models.card import ModelCard, ModelCardError

        path = str(Path(path).expanduser().resolve())
        try:
            self._cards[path] = ModelCard.load(path)
        except (ModelCardError, OSError) as exc:
            notify(self, f"Not a usable model card: {exc}", Qgis.MessageLevel.Warning)
            return False
        if path not in self.settings.extra_models:
            self.settings.extra_models.append(path)
        self._remember(path)
        if not fits_mode(self._cards[path], self.mode):  # added to be run: the page switches to its mode
            need = "windows" if self.mode == "map" else "map"
            notify(self, f"{Path(path).name} runs in Mode = {need.title()} only: Mode switched to {need.title()}",
                   Qgis.MessageLevel.Info)  # fmt: skip
            self.mode_needed.emit(need)
        return True

    @safe_slot
    def remove_current(self, *_args) -> None:
        path = self.value()
        if path:
            self.settings.extra_models = [p for p in self.settings.extra_models if p != path]
            self._remember("")

    def _remember(self, chosen: str) -> None:
        self.settings.model_card = chosen
        self.settings.save()
        self.fill()
        self.changed.emit(self.card())

    @safe_slot
    def _ask_model(self, *_args) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a model card", str(Path.home()), "Model card (*.json);;All files (*)"
        )
        if path:
            self.add_model(path)

    @safe_slot
    def _on_choice(self, *_args) -> None:
        card = self.card()
        self._show(card)
        self.changed.emit(card)

    def _show(self, card) -> None:
        self.remove_model_button.setEnabled(bool(self.value()))
        if card is None:
            self.model_info.setText(f"Model card not available: {self.value() or self.bundled_path()}")
            self.classes_label.setText("")
            return
        from ...models.registry import is_per_pixel

        runs = "a class for every pixel" if is_per_pixel(card.architecture) else f"{card.patch_size} px windows"
        parts = [f"Bands {' '.join(card.bands)}", f"{card.gsd_m:g} m", runs]
        accuracy = card_accuracy(card)
        if accuracy:
            parts.append(accuracy)
        self.model_info.setText(f"{card.title or card.name} · " + " · ".join(parts))
        self.model_info.setToolTip(card.description or str(card.path or ""))
        self.classes_label.setText(classes_html(card))
