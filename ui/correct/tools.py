"""The tool bar of the page: cell, brush (size in cells), polygon, lasso, flood, recode, undo/redo."""

from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

TOOLS = [
    ("cell", "Cell", "Set one cell to the class (click)"),
    ("brush", "Brush", "Paint along a stroke (press, drag, release); width in cells"),
    ("polygon", "Polygon", "Fill a polygon (click the vertices, right-click to close)"),
    ("lasso", "Lasso", "Fill a freehand outline (press, draw, release)"),
    ("flood", "Flood", "Recode the contiguous region of one class under the click (like Reclassify Object)"),
    ("recode", "Recode area", "Recode inside a polygon with the table below (click vertices, right-click to close)"),
]


class ToolsSection(QGroupBox):
    toolChosen = pyqtSignal(str)  # noqa: N815
    undoClicked = pyqtSignal()  # noqa: N815
    redoClicked = pyqtSignal()  # noqa: N815
    recodeAllClicked = pyqtSignal()  # noqa: N815

    def __init__(self, parent=None):
        super().__init__("Tools", parent)
        self.setObjectName("correctTools")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        grid = QGridLayout()
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons = {}
        for i, (kind, text, tip) in enumerate(TOOLS):
            b = QToolButton(self)
            b.setObjectName(f"tool_{kind}")
            b.setText(text)
            b.setToolTip(tip)
            b.setCheckable(True)
            self.group.addButton(b, i)
            grid.addWidget(b, i // 2, i % 2)  # two columns: the dock may be 300 px wide
            self.buttons[kind] = b
            b.clicked.connect(lambda _=False, k=kind: self.toolChosen.emit(k))
        outer.addLayout(grid)
        row = QHBoxLayout()
        row.addWidget(QLabel("Brush"))
        self.brush_size = QSpinBox(self)
        self.brush_size.setObjectName("brushSize")
        self.brush_size.setRange(1, 99)
        self.brush_size.setSuffix(" cells")
        self.brush_size.setToolTip("Brush width in cells")
        row.addWidget(self.brush_size, 1)
        outer.addLayout(row)
        row = QHBoxLayout()
        self.undo = QPushButton("Undo", self)
        self.undo.setToolTip("Undo the last change (Ctrl+Z on the map)")
        self.redo = QPushButton("Redo", self)
        self.redo.setToolTip("Redo (Ctrl+Shift+Z on the map)")
        self.undo.clicked.connect(self.undoClicked.emit)
        self.redo.clicked.connect(self.redoClicked.emit)
        row.addWidget(self.undo)
        row.addWidget(self.redo)
        outer.addLayout(row)
        from qgis.gui import QgsCollapsibleGroupBox

        self.recode_box = QgsCollapsibleGroupBox("Recode table (from → to)", self)
        self.recode_box.setObjectName("recodeBox")
        box = QVBoxLayout(self.recode_box)
        box.setContentsMargins(2, 2, 2, 2)
        self.recode = RecodeTable(self.recode_box)
        box.addWidget(self.recode)
        self.recode_box.setCollapsed(True)
        outer.addWidget(self.recode_box)
        self.recode.allClicked.connect(self.recodeAllClicked.emit)

    def check(self, kind: str) -> None:
        if kind in self.buttons:
            self.buttons[kind].setChecked(True)
        if kind == "recode":
            self.recode_box.setCollapsed(False)


class RecodeTable(QWidget):
    """A few from -> to rows; used by the recode tools (inside a polygon or the whole layer)."""

    allClicked = pyqtSignal()  # noqa: N815

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 2, self)
        self.table.setObjectName("recodeTable")
        self.table.setHorizontalHeaderLabels(["from", "to"])
        for col in (0, 1):  # two equal columns as wide as the dock allows: the class names show whole
            self.table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(90)
        lay.addWidget(self.table)
        row = QHBoxLayout()
        self.add = QPushButton("+ row", self)
        self.remove = QPushButton("− row", self)
        self.whole = QPushButton("Recode whole layer", self)
        self.whole.setObjectName("recodeWhole")
        self.whole.setToolTip("Apply the from → to table to every cell of the layer")
        for b in (self.add, self.remove, self.whole):
            row.addWidget(b)
        lay.addLayout(row)
        self.add.clicked.connect(lambda: self.add_row())
        self.remove.clicked.connect(lambda: self.table.removeRow(self.table.rowCount() - 1))
        self.whole.clicked.connect(self.allClicked.emit)
        self.classes: list = []

    def set_classes(self, classes: list) -> None:
        self.classes = list(classes)
        self.table.setRowCount(0)

    def add_row(self, src: int = 0, dst: int = 0) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        for col, value in ((0, src), (1, dst)):
            combo = QComboBox(self.table)
            for name, _color in self.classes:
                combo.addItem(name)
            combo.setCurrentIndex(value)
            combo.setToolTip(combo.currentText())  # the whole name, should the column be narrower
            combo.currentTextChanged.connect(combo.setToolTip)
            self.table.setCellWidget(r, col, combo)

    def mapping(self) -> dict:
        out = {}
        for r in range(self.table.rowCount()):
            a = self.table.cellWidget(r, 0).currentIndex()
            b = self.table.cellWidget(r, 1).currentIndex()
            if a != b:
                out[a] = b
        return out
