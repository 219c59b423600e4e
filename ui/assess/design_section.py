"""Section 1 of the Assess page: the sampling design (sample size, allocation, points) for a land-cover map."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import QgsMapLayerProxyModel
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ...core.accuracy.design import ALLOCATIONS, METHODS, DesignSpec, plan
from ...core.accuracy.errors import AssessmentError
from ...core.accuracy.maps import MapInfo, read_map
from ...errors import ReadableError
from .settings import AssessSettings

METHOD_LABELS = {
    "stratified": "Stratified random (strata = map classes)",
    "simple": "Simple random",
    "systematic": "Systematic (random offset)",
}
ALLOCATION_LABELS = {"proportional": "Proportional to area", "equal": "Equal", "manual": "By hand"}
SYNC_READ_PIXELS = 4_000_000  # larger maps are counted in a QgsTask


def map_path(layer) -> Optional[str]:
    if layer is None:
        return None
    from ...qgis_bridge.assess import layer_file

    try:
        return layer_file(layer)[0]
    except ReadableError:  # no file GDAL can read
        return None


class DesignSection(QGroupBox):
    """Map, design, sample size from a target SE and expected user's accuracies, allocation, output file."""

    create_requested = pyqtSignal()
    map_changed = pyqtSignal()

    def __init__(self, page, settings: AssessSettings, parent=None):
        super().__init__("1 · Sampling design", parent)
        self.setObjectName("designSection")
        self.page = page
        self.info: Optional[MapInfo] = None
        self.current_plan = None
        self._filling = False
        self.map_combo = QgsMapLayerComboBox(self)
        self.map_combo.setObjectName("mapCombo")
        self.map_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.map_combo.setAllowEmptyLayer(True)
        self.map_combo.setToolTip("The classified land-cover map (or the corrected one) to assess")
        self.method = QComboBox(self)
        self.method.setObjectName("methodCombo")
        for m in METHODS:
            self.method.addItem(METHOD_LABELS[m], m)
        self.target_se = QDoubleSpinBox(self)
        self.target_se.setObjectName("targetSe")
        self.target_se.setDecimals(3)
        self.target_se.setRange(0.001, 0.2)
        self.target_se.setSingleStep(0.005)
        self.target_se.setToolTip("Target standard error of overall accuracy (Olofsson et al. 2014: 0.01 is common)")
        self.default_ua = QDoubleSpinBox(self)
        self.default_ua.setDecimals(2)
        self.default_ua.setRange(0.05, 1.0)
        self.default_ua.setSingleStep(0.05)
        self.default_ua.setToolTip("Expected user's accuracy for every class; edit single classes in the table")
        self.allocation = QComboBox(self)
        self.allocation.setObjectName("allocationCombo")
        for a in ALLOCATIONS:
            self.allocation.addItem(ALLOCATION_LABELS[a], a)
        self.min_per_class = QSpinBox(self)
        self.min_per_class.setRange(2, 100_000)
        self.min_per_class.setToolTip("Every class gets at least this many points (or all its pixels)")
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 2_147_483_647)
        self.min_distance = QDoubleSpinBox(self)
        self.min_distance.setRange(0.0, 1e6)
        self.min_distance.setDecimals(0)
        self.min_distance.setSuffix(" m")
        self.min_distance.setSpecialValueText("off")
        self.table = QTableWidget(0, 4, self)
        self.table.setObjectName("allocationTable")
        self.table.setHorizontalHeaderLabels(["Class", "km²", "UA", "Points"])  # short: the dock may be 300 px
        for col, tip in enumerate(("Map class", "Mapped area (km²)", "Expected user's accuracy", "Sample points")):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        for col in (1, 2, 3):
            self.table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.size_label = QLabel(self)
        self.size_label.setObjectName("sizeLabel")
        self.size_label.setWordWrap(True)
        self.output = QgsFileWidget(self)
        self.output.setObjectName("sampleOutput")
        self.output.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.output.setFilter("GeoPackage (*.gpkg)")
        self.create_button = QPushButton("Create sample points", self)
        self.create_button.setObjectName("createSampleButton")
        self.create_button.clicked.connect(self.create_requested)

        form = QFormLayout()
        form.addRow("Map", self.map_combo)
        form.addRow("Design", self.method)
        form.addRow("Target SE (overall)", self.target_se)
        form.addRow("Expected UA", self.default_ua)
        form.addRow("Allocation", self.allocation)
        form.addRow("Min per class", self.min_per_class)
        form.addRow("Seed", self.seed)
        form.addRow("Min distance", self.min_distance)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.table)
        lay.addWidget(self.size_label)
        out = QFormLayout()
        out.addRow("Sample file", self.output)
        lay.addLayout(out)
        lay.addWidget(self.create_button)

        self.method.setCurrentIndex(max(0, self.method.findData(settings.method)))
        self.allocation.setCurrentIndex(max(0, self.allocation.findData(settings.allocation)))
        self.target_se.setValue(settings.target_se)
        self.default_ua.setValue(settings.expected_ua)
        self.min_per_class.setValue(settings.min_per_class)
        self.seed.setValue(settings.seed)
        self.min_distance.setValue(settings.min_distance_m)

        self.map_combo.layerChanged.connect(self._map_changed)
        for w in (self.method, self.allocation):
            w.currentIndexChanged.connect(self.update_plan)
        for w in (self.target_se, self.min_per_class, self.min_distance, self.seed):
            w.valueChanged.connect(self.update_plan)
        self.default_ua.valueChanged.connect(self._default_ua_changed)

    # ---------------------------------------------------------------- map
    def _map_changed(self, layer=None):
        self.info = None
        self.table.setRowCount(0)
        path = map_path(self.map_combo.currentLayer())
        if path is None:
            self.size_label.setText("Pick a classified map.")
            self.map_changed.emit()
            return
        p = Path(path)
        self.output.setFilePath(str(p.with_name(p.stem + "_sample.gpkg")))
        layer = self.map_combo.currentLayer()
        if layer.width() * layer.height() <= SYNC_READ_PIXELS:
            try:
                self.set_info(read_map(path))
            except AssessmentError as exc:
                self.size_label.setText(str(exc))
        else:
            self.size_label.setText("Counting pixels per class…")
            self.page.run_task("Reading class areas", lambda pr, c: read_map(path, pr, c), self._info_read)
        self.map_changed.emit()

    def _info_read(self, task):
        if task.error:
            self.size_label.setText(task.error)
        elif task.result is not None and map_path(self.map_combo.currentLayer()) == task.result.path:
            self.set_info(task.result)

    def set_info(self, info: MapInfo) -> None:
        self.info = info
        self._filling = True
        self.table.setRowCount(len(info.codes))
        km2 = info.pixel_area_m2 / 1e6
        for r, code in enumerate(info.codes):
            item = QTableWidgetItem(info.name(code))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            item.setData(Qt.ItemDataRole.UserRole, code)
            item.setData(Qt.ItemDataRole.DecorationRole, _swatch(info.color(code)))
            self.table.setItem(r, 0, item)
            area = QTableWidgetItem(f"{info.counts[code] * km2:.2f}")
            area.setFlags(Qt.ItemFlag.ItemIsEnabled)
            area.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(r, 1, area)
            ua = QDoubleSpinBox(self.table)
            ua.setDecimals(2)
            ua.setRange(0.05, 1.0)
            ua.setSingleStep(0.05)
            ua.setValue(self.default_ua.value())
            ua.valueChanged.connect(self.update_plan)
            self.table.setCellWidget(r, 2, ua)
            pts = QSpinBox(self.table)
            pts.setRange(0, int(info.counts[code]))
            pts.valueChanged.connect(self._points_edited)
            self.table.setCellWidget(r, 3, pts)
        self._filling = False
        rows = min(len(info.codes), 10)
        self.table.setMinimumHeight(self.table.horizontalHeader().height() + 4 + rows * self.table.rowHeight(0))
        self.update_plan()

    def _default_ua_changed(self, value):
        self._filling = True
        for r in range(self.table.rowCount()):
            self.table.cellWidget(r, 2).setValue(value)
        self._filling = False
        self.update_plan()

    def _points_edited(self, _value):
        if not self._filling and self.allocation.currentData() == "manual":
            self.update_plan()

    # ---------------------------------------------------------------- plan
    def spec(self) -> DesignSpec:
        codes = self.info.codes if self.info else []
        ua = {c: self.table.cellWidget(r, 2).value() for r, c in enumerate(codes)}
        manual = {c: self.table.cellWidget(r, 3).value() for r, c in enumerate(codes)}
        return DesignSpec(
            method=self.method.currentData(),
            target_se=self.target_se.value(),
            expected_ua=ua,
            allocation=self.allocation.currentData(),
            min_per_class=self.min_per_class.value(),
            manual=manual if self.allocation.currentData() == "manual" else {},
            seed=self.seed.value(),
            min_distance_m=self.min_distance.value(),
        )

    def update_plan(self, *_):
        if self._filling or self.info is None:
            return
        manual = self.allocation.currentData() == "manual" and self.method.currentData() == "stratified"
        self.allocation.setEnabled(self.method.currentData() == "stratified")
        for r in range(self.table.rowCount()):  # editable by hand even while the plan is refused
            w = self.table.cellWidget(r, 3)
            w.setReadOnly(not manual)
            w.setButtonSymbols(QSpinBox.ButtonSymbols.UpDownArrows if manual else QSpinBox.ButtonSymbols.NoButtons)
        try:
            p = plan(self.info, self.spec())
        except AssessmentError as exc:  # e.g. a class given fewer than 2 points by hand: said at once
            self.size_label.setText(f"<span style='color:#b00020'>{exc}</span>")
            self.current_plan = None
            return
        self.current_plan = p
        self._filling = True
        for r, _code in enumerate(p.codes):
            if not manual:
                self.table.cellWidget(r, 3).setValue(p.per_class[r])
        self._filling = False
        text = f"<b>{p.n_total} points</b>"
        if p.n_from_se:
            text += f" · the target SE asks for {p.n_from_se} (Olofsson et al. 2014, eq. 13)"
        if p.notes:
            text += "<br>" + "<br>".join(p.notes)
        self.size_label.setText(text)

    def settings_into(self, s: AssessSettings) -> None:
        s.method = self.method.currentData()
        s.allocation = self.allocation.currentData()
        s.target_se = self.target_se.value()
        s.expected_ua = self.default_ua.value()
        s.min_per_class = self.min_per_class.value()
        s.seed = self.seed.value()
        s.min_distance_m = self.min_distance.value()


def _swatch(color: str):
    from qgis.PyQt.QtGui import QColor, QIcon, QPixmap

    pm = QPixmap(14, 14)
    pm.fill(QColor(color))
    return QIcon(pm)
