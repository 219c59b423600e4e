"""The edit log as a table: click a row to zoom to the edit; revert one edit, all of them, or rebuild."""

from __future__ import annotations

from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

COLUMNS = ["#", "tool", "from → to", "cells", "state"]  # the time is in each row's tooltip
WHAT = COLUMNS.index("from → to")


class LogSection(QGroupBox):
    editClicked = pyqtSignal(int)  # noqa: N815
    revertClicked = pyqtSignal(int)  # noqa: N815
    revertAllClicked = pyqtSignal()  # noqa: N815
    rebuildClicked = pyqtSignal()  # noqa: N815

    def __init__(self, parent=None):
        super().__init__("Edit log", parent)
        self.setObjectName("correctLog")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.path_label = QLabel("", self)
        self.path_label.setWordWrap(True)
        lay.addWidget(self.path_label)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("editLogTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):  # every column but "from → to" as wide as its text; that one elides
            mode = QHeaderView.ResizeMode.Stretch if col == WHAT else QHeaderView.ResizeMode.ResizeToContents
            header.setSectionResizeMode(col, mode)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setMinimumHeight(150)  # about six rows
        self.table.setMaximumHeight(240)
        self.table.cellClicked.connect(lambda r, _c: self._emit(self.editClicked, r))
        lay.addWidget(self.table)
        row = QHBoxLayout()
        self.revert = QPushButton("Revert", self)
        self.revert.setToolTip("Revert the edit selected in the table")
        self.revert_all = QPushButton("Revert all", self)
        self.rebuild = QPushButton("Rebuild", self)
        self.rebuild.setToolTip("Write the corrected raster again from the model output + the log")
        for b in (self.revert, self.revert_all, self.rebuild):
            row.addWidget(b)
        lay.addLayout(row)
        self.revert.clicked.connect(lambda: self._emit(self.revertClicked, self.table.currentRow()))
        self.revert_all.clicked.connect(self.revertAllClicked.emit)
        self.rebuild.clicked.connect(self.rebuildClicked.emit)
        self.ids: list = []

    def _emit(self, signal, row: int) -> None:
        if 0 <= row < len(self.ids):
            signal.emit(self.ids[row])

    def show_edits(self, edits: list, class_name) -> None:
        """Newest first."""
        edits = sorted(edits, key=lambda e: -e.id)
        self.ids = [e.id for e in edits]
        self.table.setRowCount(len(edits))
        for r, e in enumerate(edits):
            if e.recode:
                what = ", ".join(f"{class_name(a)}→{class_name(b)}" for a, b in sorted(e.recode.items()))
            else:
                src = "+".join(class_name(c) for c in e.from_classes) if e.from_classes else "any"
                what = f"{src} → {class_name(e.to_class)}"
            when = e.time[11:19] if len(e.time) > 18 else e.time
            values = [str(e.id), e.tool, what, str(e.cells), e.state]
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if e.state != "active":
                    item.setForeground(Qt.GlobalColor.gray)
                item.setToolTip(f"{what} · {when}" + (f" · {e.note}" if e.note else ""))
                self.table.setItem(r, c, item)
