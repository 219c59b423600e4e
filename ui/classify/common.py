"""Small helpers shared by the Classify page's sections: safe slots, muted labels, combo lookups."""

from __future__ import annotations

import functools
import traceback

from qgis.core import Qgis
from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel

from ...toolbelt.log import log_error


def notify(widget, text: str, level=Qgis.MessageLevel.Warning) -> None:
    """Tell the analyst through the page holding `widget` (its ``push``), else the log only."""
    while widget is not None:
        push = getattr(widget, "push", None)
        if callable(push):
            push(text, level)
            return
        widget = widget.parentWidget()
    log_error(text)


def safe_slot(method):
    """Qt slots must not raise (QGIS would open a Python error dialog): log and tell the user instead."""

    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except Exception as exc:
            log_error(f"{method.__name__} failed:\n" + traceback.format_exc())
            try:
                notify(self, f"Something went wrong ({type(exc).__name__}: {exc}); details in the log panel.")
            except Exception:
                pass
            return None

    return wrapper


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
