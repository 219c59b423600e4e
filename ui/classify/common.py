"""Small helpers shared by the Classify page's sections: safe slots, muted labels, combo lookups."""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel

from ..page_base import notify, safe_slot  # noqa: F401 (the sections import them from here)


def muted(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(mid);")
    return label


def select_data(combo: QComboBox, data) -> None:
    """Select the item whose data is `data` (nothing changes when there is none)."""
    i = combo.findData(data)
    if i >= 0:
        combo.setCurrentIndex(i)


def form_layout(box: QGroupBox) -> QFormLayout:
    """A form layout for a section whose fields grow with the dock."""
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form
