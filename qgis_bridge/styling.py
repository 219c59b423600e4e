"""Renderers for classification results, shared by the dock, Processing and exports.

- land-cover layer: QgsPalettedRasterRenderer with the model card's class names and colours, so
  the legend reads as land cover;
- confidence layer: single-band pseudocolour 0-1 (viridis);
- one probability layer per class, "P(<class>)": single-band pseudocolour 0-1 from white to the
  class colour, hidden by default.

The engine may store probabilities as uint8 with a GDAL scale of 1/254 (QGIS then reads 0..1) or
as float32 0..1; a uint8 band without scale is stretched over 0..255 and labelled 0..1.
"""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsColorRampShader,
    QgsPalettedRasterRenderer,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

from ..core.qml import VIRIDIS  # the one confidence palette, also in the engine's QML styles


def card_classes(card) -> list:
    """[(name, "#rrggbb")] from a ModelCard (or anything with .classes of name/color)."""
    return [(c.name, c.color) for c in card.classes]


# ------------------------------------------------------------------ renderers
def classes_renderer(layer: QgsRasterLayer, classes: list, band: int = 1) -> QgsPalettedRasterRenderer:
    """Paletted renderer: value i -> classes[i] = (name, colour)."""
    items = [QgsPalettedRasterRenderer.Class(i, QColor(color), name) for i, (name, color) in enumerate(classes)]
    return QgsPalettedRasterRenderer(layer.dataProvider(), band, items)


def _value_max(layer: QgsRasterLayer, band: int) -> float:
    provider = layer.dataProvider()
    scale = provider.bandScale(band) if hasattr(provider, "bandScale") else 1.0
    if provider.dataType(band) == Qgis.Byte and abs(scale - 1.0) < 1e-12:
        return 255.0
    return 1.0


def ramp_renderer(layer: QgsRasterLayer, band: int, colors: list) -> QgsSingleBandPseudoColorRenderer:
    """Pseudocolour over the 0-1 probability range (stored 0..1, or 0..255 in plain bytes), legend 0-1."""
    vmax = _value_max(layer, band)
    n = len(colors)
    items = []
    for i, color in enumerate(colors):
        frac = i / (n - 1)
        items.append(QgsColorRampShader.ColorRampItem(frac * vmax, QColor(color), f"{frac:.2g}"))
    ramp = QgsColorRampShader(0.0, vmax)
    ramp.setColorRampType(QgsColorRampShader.Type.Interpolated)
    ramp.setColorRampItemList(items)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(vmax)
    return renderer


def style_classes(layer: QgsRasterLayer, classes: list) -> None:
    layer.setRenderer(classes_renderer(layer, classes))
    layer.triggerRepaint()


def style_confidence(layer: QgsRasterLayer, band: int = 1) -> None:
    layer.setRenderer(ramp_renderer(layer, band, VIRIDIS))
    layer.triggerRepaint()


def style_probability(layer: QgsRasterLayer, band: int, color: str) -> None:
    layer.setRenderer(ramp_renderer(layer, band, ["#ffffff", color]))
    layer.triggerRepaint()
