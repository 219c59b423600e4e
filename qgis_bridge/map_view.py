"""What the canvas shows while the analyst judges a place: the imagery, not the model's map.

Labelling reference points (Assess) is blind and the guided review (Review & correct) looks at the imagery:
both hide the plugin's result layers (land cover, corrected, confidence, probabilities) with
:class:`HiddenLayers` and put back exactly the visibility each layer had when they are done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import QgsMapLayer, QgsProject

RUN_SUFFIXES = ("_classes.tif", "_corrected.tif", "_confidence.tif", "_probabilities.tif")


def _run_prefix(layer) -> Optional[Path]:
    """``<folder>/<run>`` when ``layer`` is a raster file written by a run of the plugin (or its corrections)."""
    if layer is None or layer.type() != QgsMapLayer.RasterLayer or layer.providerType() != "gdal":
        return None
    path = Path(layer.source().split("|")[0])
    for suffix in RUN_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            prefix = path.with_name(path.name[: -len(suffix)])
            if prefix.with_name(prefix.name + "_classes.tif").exists():
                return prefix
    return None


def run_layers(project: Optional[QgsProject] = None) -> list:
    """The project's layers that show a result of the plugin (what a blind look must not see)."""
    project = project or QgsProject.instance()
    return [layer for layer in project.mapLayers().values() if _run_prefix(layer) is not None]


class HiddenLayers:
    """Hide layers in the layer tree and put their visibility back later (only for layers still there)."""

    def __init__(self, project: Optional[QgsProject] = None):
        self.project = project or QgsProject.instance()
        self.saved: dict = {}  # layer id -> the visibility it had before

    @property
    def active(self) -> bool:
        return bool(self.saved)

    def hide(self, layers) -> int:
        """Hide ``layers`` (remembering how each was); returns how many were visible."""
        root = self.project.layerTreeRoot()
        shown = 0
        for layer in layers:
            node = root.findLayer(layer.id())
            if node is None:
                continue
            self.saved.setdefault(layer.id(), node.itemVisibilityChecked())
            shown += node.itemVisibilityChecked()
            node.setItemVisibilityChecked(False)
        return shown

    def hide_results(self) -> int:
        """Hide every result layer of the plugin in the project."""
        return self.hide(run_layers(self.project))

    def restore(self) -> None:
        """Each hidden layer as it was before (layers removed meanwhile are skipped)."""
        root = self.project.layerTreeRoot()
        for layer_id, visible in self.saved.items():
            node = root.findLayer(layer_id)
            if node is not None:
                node.setItemVisibilityChecked(visible)
        self.saved = {}
