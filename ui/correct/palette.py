"""The class palette: one swatch per class of the model card, with its key (1-9, 0 for the tenth)."""

from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor, QIcon, QPixmap
from qgis.PyQt.QtWidgets import QButtonGroup, QGridLayout, QGroupBox, QToolButton


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
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.group.idClicked.connect(self.classChosen.emit)
        self.buttons: list = []
        self.classes: list = []

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
            self.grid.addWidget(b, i // 2, i % 2)
            self.buttons.append(b)
        if self.buttons:
            self.select(0)

    def select(self, index: int) -> None:
        if 0 <= index < len(self.buttons):
            self.buttons[index].setChecked(True)

    @property
    def current(self) -> int:
        return self.group.checkedId()

    def name(self, index: int) -> str:
        return self.classes[index][0] if 0 <= index < len(self.classes) else str(index)
