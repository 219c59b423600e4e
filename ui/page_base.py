"""The base of every workspace page: a title, the QGIS interface, one notify call, a shutdown hook."""

from __future__ import annotations

import functools
import traceback

from qgis.core import Qgis
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QAbstractSpinBox,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..__about__ import PLUGIN_NAME
from ..toolbelt.log import log, log_error


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


NARROW_TEXT = 190  # px: a check box or radio button wider than this gets a wrapping text (300 px docks)


class WorkspacePage(QWidget):
    """One page of the dock's workspace (Classify, Review & correct, Assess, Export, Explain).

    Subclasses set ``title`` (the tab text) and ``object_name`` (for tests and settings), build their
    widgets in ``__init__``, and release map tools, tasks and signal connections in ``shutdown``.
    ``workspace`` is the dock's :class:`~.workspace.Workspace`, through which a page can reach the
    others (e.g. the Classify page tells the workspace about a new result).
    """

    title = ""
    object_name = ""

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(parent)
        self.iface = iface
        self.workspace = workspace
        if self.object_name:
            self.setObjectName(self.object_name)

    def scrolling_body(self):
        """See below; ``self.scroll`` is the scroll area."""
        return self._scrolling_body()

    def _scrolling_body(self):
        """The page's content area, called once while building: a body that scrolls vertically (no
        frame, no horizontal scroll bar: long items must not widen the dock) filling the page;
        -> (body widget, its vertical layout)."""
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(6)
        scroll.setWidget(body)
        outer.addWidget(scroll)
        self.scroll = scroll
        return body, layout

    def showEvent(self, event):  # noqa: N802 (Qt API)
        """Each time the page comes to the front it re-reads the state of its layers (no stale run)."""
        super().showEvent(event)
        self.refresh_state()

    def refresh_state(self) -> None:
        """Re-read what the page shows from the layers' current state (files on disk); pages override it."""

    def fit_narrow(self) -> None:
        """Let the page lay out in a 300 px dock (called once built): combos shrink and show their whole
        text as a tooltip, form rows put long fields under their label, long labels wrap."""
        fit_narrow(self)

    def push(self, text: str, level=Qgis.MessageLevel.Info, duration: int = 8) -> None:
        """The one log-and-notify call: the log tab always, the message bar when there is one."""
        log(text, level)
        bar = self.iface.messageBar() if self.iface is not None else None
        if bar is not None:
            bar.pushMessage(PLUGIN_NAME, text, level, duration)

    def left(self) -> None:
        """The analyst went to another page: take the page's marks off the canvas (rubber bands, hidden layers)."""

    def shutdown(self) -> None:
        """Release map tools, cancel tasks, disconnect signals. Called once before the plugin unloads."""


class _ButtonText(QLabel):
    """The wrapping text of a check box or radio button; a click on it clicks the button."""

    def __init__(self, button):
        super().__init__(button.text(), button.parentWidget())
        self.button = button
        self.setWordWrap(True)
        self.setToolTip(button.toolTip())

    def mouseReleaseEvent(self, event):  # noqa: N802 (Qt API)
        if self.button.isEnabled():
            self.button.click()


def _wrap_button_text(button) -> None:
    """Replace a long check box or radio button text by a wrapping label beside it (Qt's buttons do not wrap)."""
    parent = button.parentWidget()
    layout = parent.layout() if parent is not None else None
    if layout is None:
        return
    box = QWidget(parent)
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    if layout.replaceWidget(button, box) is None:
        box.deleteLater()
        return
    text = _ButtonText(button)
    button.setAccessibleName(button.text())
    button.setText("")
    button.setParent(box)
    row.addWidget(button, 0)
    row.addWidget(text, 1)
    button.wrapped_text = text
    box.setVisible(True)


def _combo_tooltip(combo: QComboBox) -> None:
    try:
        combo.setToolTip(combo.currentText() if combo.currentText() else combo.toolTip())
    except RuntimeError:  # the combo is being deleted
        pass


def _keep_radios_exclusive(root: QWidget) -> None:
    """Radio buttons are exclusive among siblings only; those of one parent that are in no group get a
    QButtonGroup, so they stay exclusive once :func:`_wrap_button_text` gives each a parent of its own."""
    siblings: dict = {}
    for radio in root.findChildren(QRadioButton):
        if radio.group() is None and radio.autoExclusive() and radio.parentWidget() is not None:
            siblings.setdefault(id(radio.parentWidget()), []).append(radio)
    for radios in siblings.values():
        if len(radios) > 1:
            group = QButtonGroup(radios[0].parentWidget())
            for radio in radios:
                group.addButton(radio)


def fit_narrow(root: QWidget) -> None:
    """See :meth:`WorkspacePage.fit_narrow`; works on any widget tree (pages, sections)."""
    for combo in root.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(min(6, combo.minimumContentsLength() or 6))
        combo.setSizePolicy(QSizePolicy.Policy.Expanding, combo.sizePolicy().verticalPolicy())
        combo.setMinimumWidth(min(combo.minimumSizeHint().width(), 110))  # layouts take it over the hint
        if not combo.property("keepsTooltip"):
            combo.currentTextChanged.connect(lambda _t, c=combo: _combo_tooltip(c))
            _combo_tooltip(combo)
    _keep_radios_exclusive(root)  # before wrapping moves a radio button into a box of its own
    for button in root.findChildren((QCheckBox, QRadioButton)):
        if button.text() and button.sizeHint().width() > NARROW_TEXT:
            _wrap_button_text(button)
    for spin in root.findChildren(QAbstractSpinBox):
        spin.setSizePolicy(QSizePolicy.Policy.Preferred, spin.sizePolicy().verticalPolicy())
    for form in root.findChildren(QFormLayout):
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form_labels = set()
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and item.widget() is not None:
                form_labels.add(id(item.widget()))
    for label in root.findChildren(QLabel):
        if id(label) not in form_labels and not label.pixmap():
            label.setWordWrap(True)  # texts set later (a model card, a status) wrap too
