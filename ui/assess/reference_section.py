"""Section 3 of the Assess page: where the reference comes from (the labelled sample or an existing layer).

An existing reference is a point or polygon layer with a class field, or a reference raster. When its class
names or codes differ from the map's, the mapping dialog pairs each reference value with a map class (pre-filled
by name, case-insensitive, or by code).
"""

from __future__ import annotations

from qgis.core import QgsMapLayerProxyModel, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsFieldComboBox, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

NO_CLASS = "(no class)"


def reference_values(layer, field: str = "") -> list:
    """The distinct class values of a reference layer (a field of a vector, the values of a raster)."""
    if isinstance(layer, QgsVectorLayer):
        idx = layer.fields().indexOf(field)
        if idx < 0:
            return []
        return sorted({str(v) for v in layer.uniqueValues(idx) if v is not None and str(v).strip() != ""})
    if isinstance(layer, QgsRasterLayer):
        import numpy as np
        from osgeo import gdal

        from ...qgis_bridge.assess import layer_file

        ds = gdal.Open(layer_file(layer)[0])
        band = ds.GetRasterBand(1)
        arr = band.ReadAsArray()
        nd = band.GetNoDataValue()
        vals = np.unique(arr if nd is None else arr[arr != nd])
        names = band.GetCategoryNames() or []
        return [names[int(v)] if 0 <= int(v) < len(names) and names[int(v)] else str(int(v)) for v in vals]
    return []


def guess(value: str, classes: list) -> str:
    """The map class a reference value most likely means: same name (any case), or same code."""
    for _code, name in classes:
        if name.casefold() == str(value).strip().casefold():
            return name
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        for code, name in classes:
            if code == int(text):
                return name
    return NO_CLASS


class MappingDialog(QDialog):
    """Reference value -> map class, one row per value."""

    def __init__(self, values: list, classes: list, mapping: dict, parent=None):
        super().__init__(parent)
        self.setObjectName("mappingDialog")
        self.setWindowTitle("Reference classes → map classes")
        self.table = QTableWidget(len(values), 2, self)
        self.table.setObjectName("mappingTable")
        self.table.setHorizontalHeaderLabels(["Reference value", "Map class"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.combos = []
        for r, v in enumerate(values):
            item = QTableWidgetItem(str(v))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.table.setItem(r, 0, item)
            combo = QComboBox(self.table)
            combo.addItems([NO_CLASS] + [n for _c, n in classes])
            combo.setCurrentText(mapping.get(str(v)) or guess(v, classes))
            self.table.setCellWidget(r, 1, combo)
            self.combos.append((str(v), combo))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel(
                "Pick the map class each reference value means. Values left at '(no class)' stop "
                "the analysis with a message naming them."
            )
        )
        lay.addWidget(self.table)
        lay.addWidget(buttons)
        self.resize(460, 380)

    def mapping(self) -> dict:
        return {v: c.currentText() for v, c in self.combos if c.currentText() != NO_CLASS}


class ReferenceSection(QGroupBox):
    def __init__(self, page, parent=None):
        super().__init__("3 · Reference", parent)
        self.setObjectName("referenceSection")
        self.page = page
        self.mapping: dict = {}
        self.use_sample = QRadioButton("The labelled sample (section 2)", self)
        self.use_sample.setObjectName("useSample")
        self.use_layer = QRadioButton("An existing reference layer", self)
        self.use_layer.setObjectName("useReferenceLayer")
        self.use_sample.setChecked(True)
        self.layer_combo = QgsMapLayerComboBox(self)
        self.layer_combo.setObjectName("referenceCombo")
        self.layer_combo.setFilters(
            QgsMapLayerProxyModel.Filter.PointLayer
            | QgsMapLayerProxyModel.Filter.PolygonLayer
            | QgsMapLayerProxyModel.Filter.RasterLayer
        )
        self.layer_combo.setAllowEmptyLayer(True)
        self.layer_combo.setCurrentIndex(0)
        self.field_combo = QgsFieldComboBox(self)
        self.field_combo.setObjectName("referenceField")
        self.map_button = QPushButton("Class mapping…", self)
        self.map_button.setObjectName("mappingButton")
        self.map_button.setToolTip("Pair reference names or codes with the map's classes")
        self.mapping_label = QLabel("names or codes matched as they are", self)
        self.mapping_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Layer", self.layer_combo)
        form.addRow("Class field", self.field_combo)
        form.addRow(self.map_button, self.mapping_label)
        lay = QVBoxLayout(self)
        lay.addWidget(self.use_sample)
        lay.addWidget(self.use_layer)
        lay.addLayout(form)
        self.layer_combo.layerChanged.connect(self._layer_changed)
        self.field_combo.fieldChanged.connect(lambda _f: self._reset_mapping())
        self.map_button.clicked.connect(self.edit_mapping)
        self.use_layer.toggled.connect(self._toggle)
        self._toggle(False)

    def _toggle(self, on: bool) -> None:
        for w in (self.layer_combo, self.field_combo, self.map_button, self.mapping_label):
            w.setEnabled(on)
        if on:
            self.field_combo.setEnabled(isinstance(self.layer_combo.currentLayer(), QgsVectorLayer))

    def _layer_changed(self, layer) -> None:
        if isinstance(layer, QgsVectorLayer):
            self.field_combo.setLayer(layer)
            self.field_combo.setEnabled(self.use_layer.isChecked())
        else:
            self.field_combo.setLayer(None)
            self.field_combo.setEnabled(False)
        self._reset_mapping()

    def _reset_mapping(self) -> None:
        self.mapping = {}
        self.mapping_label.setText("names or codes matched as they are")

    def classes(self) -> list:
        info = self.page.design.info
        if info is None:
            return []
        return [(c, info.name(c)) for c in sorted(set(info.names) | set(info.counts))]

    def edit_mapping(self, *_args, dialog_hook=None) -> bool:
        layer = self.layer_combo.currentLayer()
        if layer is None:
            self.page.push("Pick a reference layer first.")
            return False
        classes = self.classes()
        if not classes:
            self.page.push("Pick the map (section 1) first: the mapping pairs reference values with its classes.")
            return False
        values = reference_values(layer, self.field_combo.currentField())
        dlg = MappingDialog(values, classes, self.mapping, self)
        if dialog_hook is not None:  # tests fill the dialog and accept it
            dialog_hook(dlg)
            accepted = dlg.result() == QDialog.DialogCode.Accepted
        else:
            accepted = dlg.exec() == QDialog.DialogCode.Accepted
        if accepted:
            self.mapping = dlg.mapping()
            pairs = [f"{k} → {v}" for k, v in self.mapping.items() if k.casefold() != v.casefold()]
            self.mapping_label.setText(", ".join(pairs) if pairs else "names matched as they are")
        return accepted
