"""The Export page's choices: what to export and the options of each export."""

from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.export import formats
from ...core.export.formats import kind

RASTER_FORMATS = [(f.id, f.label) for f in kind("raster").formats]
VECTOR_FORMATS = [(f.id, f.label) for f in kind("polygons").formats]
ORIENTATIONS = list(formats.ORIENTATIONS)
PAGE_SIZES = ["A4", "A3", "A2", "A1", "A0", "A5", "Letter", "Legal", "ANSI B", "ANSI C"]


def narrow(combo, chars: int = 8):
    """A combo box that may shrink with the dock instead of widening the page."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)
    return combo


def _combo(parent, items, current):
    c = QComboBox(parent)
    narrow(c)
    for key, label in items:
        c.addItem(label, key)
    i = c.findData(current)
    c.setCurrentIndex(max(0, i))
    return c


class OptionsSection(QWidget):
    changed = pyqtSignal()

    def __init__(self, settings, parent=None):
        super().__init__(parent)
        s = settings
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

        what = QGroupBox("Export", self)
        wl = QVBoxLayout(what)
        self.kinds = {}  # kind id -> its check box, in the registry's order
        for k in formats.KINDS:
            cb = QCheckBox(k.label, what)
            cb.setChecked(getattr(s, k.id))
            cb.setToolTip(k.tooltip)
            cb.toggled.connect(self._update)
            wl.addWidget(cb)
            self.kinds[k.id] = cb
        self.raster, self.polygons, self.report, self.map = (
            self.kinds[k] for k in ("raster", "polygons", "report", "map")
        )
        lay.addWidget(what)

        self.raster_box = QGroupBox("Raster", self)
        rf = QFormLayout(self.raster_box)
        rf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.raster_format = _combo(self.raster_box, RASTER_FORMATS, s.raster_format)
        self.probabilities = QCheckBox("Include the probability raster", self.raster_box)
        self.probabilities.setChecked(s.probabilities)
        rf.addRow("Format", self.raster_format)
        rf.addRow("", self.probabilities)
        lay.addWidget(self.raster_box)

        self.poly_box = QGroupBox("Polygons", self)
        pf = QFormLayout(self.poly_box)
        pf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.mmu = QDoubleSpinBox(self.poly_box)
        self.mmu.setRange(0.0, 100000.0)
        self.mmu.setDecimals(2)
        self.mmu.setSuffix(" ha")
        self.mmu.setSpecialValueText("none")
        self.mmu.setValue(s.mmu_ha)
        self.mmu.setToolTip("Patches smaller than this are merged into their largest neighbour (GDAL sieve)")
        self.dissolve = QCheckBox("Dissolve by class", self.poly_box)
        self.dissolve.setChecked(s.dissolve)
        self.dissolve.setToolTip("One multipolygon per class")
        self.vector_format = _combo(self.poly_box, VECTOR_FORMATS, s.vector_format)
        pf.addRow("Min. mapping unit", self.mmu)
        pf.addRow("", self.dissolve)
        pf.addRow("Format", self.vector_format)
        lay.addWidget(self.poly_box)

        self.map_box = QGroupBox("Map and report", self)
        mf = QFormLayout(self.map_box)
        mf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.title = QLineEdit(self.map_box)
        self.title.setPlaceholderText("Land cover — <run name>")
        self.page_size = narrow(QComboBox(self.map_box), 5)
        self.page_size.addItems(PAGE_SIZES)
        self.page_size.setCurrentText(s.page_size if s.page_size in PAGE_SIZES else "A4")
        self.orientation = _combo(self.map_box, ORIENTATIONS, s.orientation)
        self.dpi = QSpinBox(self.map_box)
        self.dpi.setRange(50, 1200)
        self.dpi.setSuffix(" dpi")
        self.dpi.setValue(s.dpi)
        mf.addRow("Title", self.title)
        mf.addRow("Page", self.page_size)
        mf.addRow("Orientation", self.orientation)
        mf.addRow("PNG resolution", self.dpi)
        lay.addWidget(self.map_box)
        self._update()

    def _update(self, *_):
        self.raster_box.setEnabled(self.raster.isChecked())
        self.poly_box.setEnabled(self.polygons.isChecked())
        self.map_box.setEnabled(self.map.isChecked() or self.report.isChecked())
        self.changed.emit()

    def what(self) -> tuple:
        return tuple(k for k, cb in self.kinds.items() if cb.isChecked())

    def store(self, s) -> None:
        for k, cb in self.kinds.items():
            setattr(s, k, cb.isChecked())
        s.raster_format = self.raster_format.currentData()
        s.probabilities = self.probabilities.isChecked()
        s.vector_format = self.vector_format.currentData()
        s.mmu_ha = float(self.mmu.value())
        s.dissolve = self.dissolve.isChecked()
        s.page_size = self.page_size.currentText()
        s.orientation = self.orientation.currentData()
        s.dpi = int(self.dpi.value())
