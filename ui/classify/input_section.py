"""Input section: the raster layer to classify; follows the layer selected in the Layers panel."""

from __future__ import annotations

from typing import Optional

from qgis.core import QgsMapLayerProxyModel, QgsRasterLayer
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QGroupBox, QLabel

from ...qgis_bridge.request_builder import pixel_size_m
from .common import form_layout, muted, safe_slot

DATA_TYPES = {1: "8-bit", 2: "UInt16", 3: "Int16", 4: "UInt32", 5: "Int32", 6: "Float32", 7: "Float64"}


def describe_layer(layer: QgsRasterLayer) -> str:
    """ "192 × 192 px · 3 band(s) 8-bit · EPSG:32632 · ~10 m pixels"."""
    crs = layer.crs().authid() or layer.crs().description()
    try:
        dtype = DATA_TYPES.get(int(layer.dataProvider().dataType(1)), "")
    except Exception:
        dtype = ""
    px = pixel_size_m(layer)
    return f"{layer.width()} × {layer.height()} px · {layer.bandCount()} band(s) {dtype} · {crs} · ~{px:.3g} m pixels"


class InputSection(QGroupBox):
    """``value()`` is the chosen raster layer (or None); ``changed(layer)`` when it changes."""

    changed = pyqtSignal(object)

    def __init__(self, iface=None, parent=None):
        super().__init__("Input", parent)
        self.iface = iface
        form = form_layout(self)
        self.layer_combo = QgsMapLayerComboBox(self)
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.layer_combo.setAllowEmptyLayer(False)
        self.layer_combo.setToolTip("Raster layer to classify; follows the layer selected in the Layers panel")
        form.addRow("Raster", self.layer_combo)
        self.layer_info = muted(QLabel(self))
        form.addRow(self.layer_info)
        self.layer_combo.layerChanged.connect(self.refresh)
        try:
            iface.currentLayerChanged.connect(self._on_active_layer)
        except (AttributeError, TypeError):  # no interface, or a test double without the signal
            pass

    def value(self) -> Optional[QgsRasterLayer]:
        layer = self.layer_combo.currentLayer()
        return layer if isinstance(layer, QgsRasterLayer) else None

    def set_value(self, layer: QgsRasterLayer) -> None:
        self.layer_combo.setLayer(layer)

    @safe_slot
    def refresh(self, *_args) -> None:
        """Describe the chosen layer, then emit ``changed``."""
        layer = self.value()
        self.layer_info.setText(
            describe_layer(layer) if layer is not None else "Add a raster layer to the project to classify it."
        )
        self.changed.emit(layer)

    @safe_slot
    def _on_active_layer(self, *args) -> None:
        try:
            layer = self.iface.activeLayer()
        except Exception:
            layer = None
        if layer is None and args and isinstance(args[0], QgsRasterLayer):
            layer = args[0]
        if isinstance(layer, QgsRasterLayer) and layer is not self.value():
            self.set_value(layer)

    def release(self) -> None:
        try:
            self.iface.currentLayerChanged.disconnect(self._on_active_layer)
        except (AttributeError, TypeError, RuntimeError):
            pass
