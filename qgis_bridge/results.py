"""A classification result in a QGIS project: its layers, styled once, in a named group.

Shared by the dock (and later exports): the land-cover, confidence and ``P(<class>)`` layers are
opened without their default style (the QML sidecars beside the rasters are for users who open the
files by hand) and given their renderer once, from the model card's names and colours.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

from qgis.core import QgsLayerTreeGroup, QgsProject, QgsRasterLayer

from .styling import card_classes, style_classes, style_confidence, style_probability

LAND_COVER = "Land cover"
CONFIDENCE = "Confidence"


def run_name(result) -> str:
    """The run's output prefix (``<run>_classes.tif`` -> ``<run>``): unique in its folder, the files' name."""
    from ..core.run_names import CLASSES_SUFFIX

    name = Path(result.classes_path).name
    return name[: -len(CLASSES_SUFFIX)] if name.endswith(CLASSES_SUFFIX) else Path(name).stem


def group_name(run: str, when: Optional[datetime] = None) -> str:
    """ "Land cover — <run> — 14:32:05": the run's output prefix (distinct per folder) and the time."""
    when = when or datetime.now()
    return f"{LAND_COVER} — {run} — {when:%H:%M:%S}"


def layer_label(kind: str, run: str) -> str:
    """ "Land cover · <run>", "Confidence · <run>", "P(Forest) · <run>": one name per run in every layer combo."""
    return f"{kind} · {run}"


def probability_layer_name(class_name: str) -> str:
    return f"P({class_name})"


def _distinct(name: str, taken: set) -> str:
    """`name`, or `name (2)`, `name (3)`... not among `taken` (e.g. a run of the same name run again)."""
    out, n = name, 1
    while out in taken:
        n += 1
        out = f"{name} ({n})"
    return out


def open_raster(path, name: str) -> QgsRasterLayer:
    """A GDAL raster layer without its default (sidecar) style: the caller styles it once."""
    options = QgsRasterLayer.LayerOptions()
    options.loadDefaultStyle = False
    return QgsRasterLayer(str(path), name, "gdal", options)


def result_classes(result, classes: Optional[list] = None) -> list:
    """[(name, colour)] of the run: from the model card the result carries, else `classes`."""
    card = getattr(result, "card", None)
    return card_classes(card) if card is not None else list(classes or [])


def result_layers(result, classes: Optional[list] = None, label: Optional[str] = None) -> dict:
    """Styled QgsRasterLayers for a ClassificationResult (not added to any project), named after ``label``
    (default: the run's name), e.g. "Land cover · scene_2".

    Returns {"classes": layer, "confidence": layer or None, "probabilities": [layer per class]}.
    """
    classes = result_classes(result, classes)
    label = label or run_name(result)
    land = open_raster(result.classes_path, layer_label(LAND_COVER, label))
    if not land.isValid():
        raise OSError(f"QGIS cannot open the land-cover raster {result.classes_path}")
    style_classes(land, classes)
    out = {"classes": land, "confidence": None, "probabilities": []}
    if result.confidence_path and Path(result.confidence_path).exists():
        confidence = open_raster(result.confidence_path, layer_label(CONFIDENCE, label))
        if confidence.isValid():
            style_confidence(confidence)
            out["confidence"] = confidence
    if result.probabilities_path and Path(result.probabilities_path).exists():
        for band, (name, color) in enumerate(classes, start=1):
            layer = open_raster(result.probabilities_path, layer_label(probability_layer_name(name), label))
            if layer.isValid() and layer.bandCount() >= band:
                style_probability(layer, band, color)
                out["probabilities"].append(layer)
    return out


def add_result_group(
    result,
    input_name: str,
    classes: Optional[list] = None,
    project: Optional[QgsProject] = None,
    when: Optional[datetime] = None,
    show_confidence: bool = False,
) -> QgsLayerTreeGroup:
    """Add the result's layers to `project` in a new group at the top of the layer tree.

    Order in the group: land cover, confidence (hidden unless asked), P(class)... (hidden). The group and the
    layers are named after the run (its output prefix, unique in its folder), never as an existing one.
    `input_name` (the input layer's name) is kept for callers; the run's name already says which input.
    """
    project = project or QgsProject.instance()
    run = run_name(result)
    taken = {lyr.name() for lyr in project.mapLayers().values()}
    label = run
    if layer_label(LAND_COVER, label) in taken:
        label = _distinct(run, {n.split(" · ", 1)[-1] for n in taken if " · " in n})
    layers = result_layers(result, classes, label)
    root = project.layerTreeRoot()
    groups = {g.name() for g in root.findGroups()}
    group = root.insertGroup(0, _distinct(group_name(label, when), groups))
    for layer in [layers["classes"], layers["confidence"], *layers["probabilities"]]:
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
