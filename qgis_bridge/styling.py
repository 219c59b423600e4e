"""Styles and layers for classification results, shared by the dock, Processing and exports.

- land-cover layer: QgsPalettedRasterRenderer with the model card's class names and colours, so
  the legend reads as land cover;
- confidence layer: single-band pseudocolour 0-1 (viridis);
- one probability layer per class, "P(<class>)": single-band pseudocolour 0-1 from white to the
  class colour, hidden by default.

The engine may store probabilities as uint8 with a GDAL scale of 1/254 (QGIS then reads 0..1) or
as float32 0..1; a uint8 band without scale is stretched over 0..255 and labelled 0..1.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

from qgis.core import (
    Qgis,
    QgsColorRampShader,
    QgsLayerTreeGroup,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]
NODATA_CLASS = 255


def group_name(input_name: str, when: Optional[datetime] = None) -> str:
    """ "Land cover — <layer> — 14:32"."""
    when = when or datetime.now()
    return f"Land cover — {input_name} — {when:%H:%M}"


def probability_layer_name(class_name: str) -> str:
    return f"P({class_name})"


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
    ramp.setColorRampType(QgsColorRampShader.Interpolated)
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


# ------------------------------------------------------------------ layers
def result_layers(result, classes: list) -> dict:
    """Styled QgsRasterLayers for a ClassificationResult (not added to any project).

    Returns {"classes": layer, "confidence": layer, "probabilities": [layer per class]}.
    """
    out = {"classes": None, "confidence": None, "probabilities": []}
    cls_layer = QgsRasterLayer(str(result.classes_path), "Land cover", "gdal")
    if not cls_layer.isValid():
        raise OSError(f"QGIS cannot open the land-cover raster {result.classes_path}")
    style_classes(cls_layer, classes)
    out["classes"] = cls_layer
    if result.confidence_path and Path(result.confidence_path).exists():
        conf = QgsRasterLayer(str(result.confidence_path), "Confidence", "gdal")
        if conf.isValid():
            style_confidence(conf)
            out["confidence"] = conf
    if result.probabilities_path and Path(result.probabilities_path).exists():
        for i, (name, color) in enumerate(classes, start=1):
            layer = QgsRasterLayer(str(result.probabilities_path), probability_layer_name(name), "gdal")
            if not layer.isValid() or layer.bandCount() < i:
                continue
            style_probability(layer, i, color)
            out["probabilities"].append(layer)
    return out


def add_result_group(
    result,
    classes: list,
    input_name: str,
    project: Optional[QgsProject] = None,
    when: Optional[datetime] = None,
    show_confidence: bool = False,
) -> QgsLayerTreeGroup:
    """Add the result's layers to `project` in a new group at the top of the layer tree.

    Order in the group: land cover, confidence (hidden unless asked), P(class)... (hidden).
    """
    project = project or QgsProject.instance()
    layers = result_layers(result, classes)
    root = project.layerTreeRoot()
    group = root.insertGroup(0, group_name(input_name, when))
    ordered = [layers["classes"], layers["confidence"], *layers["probabilities"]]
    for layer in ordered:
        if layer is None:
            continue
        project.addMapLayer(layer, False)
        node = group.addLayer(layer)
        if layer is not layers["classes"]:
            node.setItemVisibilityChecked(layer is layers["confidence"] and show_confidence)
            node.setExpanded(False)
    group.setExpanded(False)  # toggled: a view that collapsed the new group follows the model again
    group.setExpanded(True)
    return group


def area_summary(area_km2: dict, top: int = 0) -> str:
    """ "Forest 3.2 km² (41 %), Pasture ..." sorted by area."""
    total = sum(area_km2.values()) or 1.0
    parts = sorted(area_km2.items(), key=lambda kv: -kv[1])
    if top:
        parts = parts[:top]
    return ", ".join(f"{k} {v:.3g} km² ({100 * v / total:.0f} %)" for k, v in parts if v > 0)
