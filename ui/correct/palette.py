"""The class palette: one swatch per class of the model card, with its key (1-9, 0 for the tenth)."""

from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor, QIcon, QPixmap
from qgis.PyQt.QtWidgets import QButtonGroup, QGridLayout, QGroupBox, QLayout, QToolButton


def key_label(index: int) -> str:
    return str((index + 1) % 10) if index < 10 else ""


def swatch(color: str, size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    return QIcon(pix)


class PaletteSection(QGroupBox):
    """Checkable swatches; ``classChosen(index)`` when the user picks one (click or key)."""

    classChosen = pyqtSignal(int)  # noqa: N815

    def __init__(self, parent=None):
        super().__init__("Class to paint", parent)
        self.setObjectName("correctPalette")
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self.grid.setSpacing(2)
        self.grid.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)  # one column when narrow (resizeEvent)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.group.idClicked.connect(self.classChosen.emit)
        self.buttons: list = []
        self.classes: list = []
        self.columns = 2

    def set_classes(self, classes: list) -> None:
        """classes: [(name, "#rrggbb")] by class index."""
        for b in self.buttons:
            self.group.removeButton(b)
            b.deleteLater()
        self.buttons, self.classes = [], list(classes)
        for i, (name, color) in enumerate(classes):
            key = key_label(i)
            b = QToolButton(self)
            b.setObjectName(f"paletteClass{i}")
            b.setCheckable(True)
            b.setIcon(swatch(color))
            b.setText(f"{key}  {name}" if key else name)
            b.setToolTip(f"Paint {name}" + (f" (key {key})" if key else ""))
            b.setToolButtonStyle(2)  # Qt.ToolButtonTextBesideIcon
            b.setAutoRaise(True)
            self.group.addButton(b, i)
            self.buttons.append(b)
        self._place(self._columns_for(self.width()))
        if self.buttons:
            self.select(0)

    def _columns_for(self, width: int) -> int:
        """Two columns when the widest swatch fits twice (a wide dock), else one (a 300 px dock)."""
        widest = max((b.sizeHint().width() for b in self.buttons), default=0)
        return 2 if width >= 2 * widest + 16 else 1

    def _place(self, columns: int) -> None:
        self.columns = columns
        for b in self.buttons:
            self.grid.removeWidget(b)
        for i, b in enumerate(self.buttons):
            self.grid.addWidget(b, i // columns, i % columns)

    def resizeEvent(self, event):  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        columns = self._columns_for(event.size().width())
        if columns != self.columns:
            self._place(columns)

    def minimumSizeHint(self):  # noqa: N802 (Qt API): one column is the least it needs
        hint = super().minimumSizeHint()
        widest = max((b.sizeHint().width() for b in self.buttons), default=0)
        hint.setWidth(min(hint.width(), widest + 16))
        return hint

    def select(self, index: int) -> None:
        if 0 <= index < len(self.buttons):
            self.buttons[index].setChecked(True)

    @property
    def current(self) -> int:
        return self.group.checkedId()

    def name(self, index: int) -> str:
        return self.classes[index][0] if 0 <= index < len(self.classes) else str(index)
