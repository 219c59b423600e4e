"""QGIS side of the corrections (no widgets): recognise a plugin-made land-cover layer, show the
corrected raster as a layer styled like the model output, repaint it after an edit.

Used by the Review & correct page (ui/correct/) and the "Apply corrections" algorithm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import QgsMapLayer, QgsProject, QgsRasterLayer

from ..core.edits.session import is_landcover_raster, run_palette
from ..core.run_names import RunFiles, run_files
from .styling import style_classes

CORRECTED_LAYER_NAME = "Land cover (corrected)"


def layer_path(layer) -> Optional[Path]:
    if layer is None or layer.type() != QgsMapLayer.RasterLayer or layer.providerType() != "gdal":
        return None
    return Path(layer.source().split("|")[0])


def landcover_run(layer) -> tuple[Optional[RunFiles], str]:
    """(the run's files, "") for a land-cover layer made by the plugin (its classes or corrected
    raster), else (None, a sentence saying why the layer cannot be corrected)."""
    if layer is None:
        return None, "no layer is selected: pick a land-cover layer made by the Classify page"
    path = layer_path(layer)
    if path is None:
        return None, f"'{layer.name()}' is not a raster file: pick a land-cover layer made by the Classify page"
    reason = is_landcover_raster(path)
    if reason:
        return None, f"'{layer.name()}' cannot be corrected: {reason}"
    return run_files(path), ""


def find_layer(path: Path, project: Optional[QgsProject] = None):
    project = project or QgsProject.instance()
    for layer in project.mapLayers().values():
        if layer_path(layer) == Path(path):
            return layer
    return None


def corrected_layer(files: RunFiles, project: Optional[QgsProject] = None, near=None) -> QgsRasterLayer:
    """The project's layer of ``<run>_corrected.tif``, added (styled like the model output, above
    ``near`` in its group) when there is none."""
    project = project or QgsProject.instance()
    layer = find_layer(files.corrected, project)
    if layer is not None:
        return layer
    layer = QgsRasterLayer(str(files.corrected), CORRECTED_LAYER_NAME, "gdal")
    if not layer.isValid():
        raise OSError(f"QGIS cannot open {files.corrected.name}")
    style_classes(layer, run_palette(files))
    root = project.layerTreeRoot()
    node = root.findLayer(near.id()) if near is not None else None
    project.addMapLayer(layer, False)
    if node is not None:
        parent = node.parent()
        parent.insertLayer(parent.children().index(node), layer)
    else:
        root.insertLayer(0, layer)
    return layer


def repaint(layer) -> None:
    """Re-read the raster from disk (GDAL handles cache blocks) and redraw it."""
    if layer is None:
        return
    provider = layer.dataProvider()
    if provider is not None:
        provider.reloadData()
    layer.triggerRepaint()
