"""The guided review stepper: doubtful cells (confidence or margin order) or a tile-by-tile walk."""

from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

MODES = [
    ("confidence", "Doubtful cells: lowest confidence"),
    ("margin", "Doubtful cells: smallest top-two margin"),
    ("tiles", "Whole map, tile by tile"),
]


class ReviewSection(QGroupBox):
    startClicked = pyqtSignal()  # noqa: N815
    acceptClicked = pyqtSignal()  # noqa: N815
    stepClicked = pyqtSignal(int)  # noqa: N815

    def __init__(self, parent=None):
        super().__init__("Guided review", parent)
        self.setObjectName("correctReview")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.mode = QComboBox(self)
        self.mode.setObjectName("reviewMode")
        for key, text in MODES:
            self.mode.addItem(text, key)
        lay.addWidget(self.mode)  # a row of its own: its texts are long
        self.count = QSpinBox(self)
        self.count.setObjectName("reviewCount")
        self.count.setRange(1, 100000)
        self.count.setToolTip("How many doubtful cells to review; in tile mode, the tile size in cells")
        row.addWidget(self.count)
        self.start = QPushButton("Start", self)
        self.start.setObjectName("reviewStart")
        row.addWidget(self.start)
        lay.addLayout(row)
        self.current = QLabel("Start a review to step through the places the model is least sure of.", self)
        self.current.setObjectName("reviewCurrent")
        self.current.setWordWrap(True)
        lay.addWidget(self.current)
        self.show_map = QCheckBox("Show the land cover", self)
        self.show_map.setObjectName("reviewShowMap")
        self.show_map.setToolTip(
            "While reviewing, the plugin's result layers are hidden so that you judge the imagery; "
            "tick to see them. They show again when the review ends or you leave the page."
        )
        lay.addWidget(self.show_map)
        row = QHBoxLayout()
        self.prev = QToolButton(self)
        self.prev.setText("◀")
        self.accept = QPushButton("Accept (Enter)", self)
        self.accept.setObjectName("reviewAccept")
        self.accept.setToolTip("The model is right here; or press 1-9, 0 on the map to set the right class")
        self.next = QToolButton(self)
        self.next.setText("▶")
        for b in (self.prev, self.accept, self.next):
            row.addWidget(b)
        lay.addLayout(row)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("reviewProgress")
        self.progress.setTextVisible(True)
        lay.addWidget(self.progress)
        self.start.clicked.connect(self.startClicked.emit)
        self.accept.clicked.connect(self.acceptClicked.emit)
        self.prev.clicked.connect(lambda: self.stepClicked.emit(-1))
        self.next.clicked.connect(lambda: self.stepClicked.emit(1))

    @property
    def mode_key(self) -> str:
        return self.mode.currentData()

    def show_progress(self, done: int, total: int, what: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"reviewed {done} of {total} {what}")
