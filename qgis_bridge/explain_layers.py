"""QGIS side of the Explain page, without widgets: which layer a click reads, the window's footprint
on the canvas, and the heat map as a temporary georeferenced layer.

- :func:`layer_path` / :func:`run_summary`: the file behind a raster layer, and the run summary
  beside a result layer (``<name>_classes.tif`` -> ``<name>_summary.json``), which makes a click on
  a result layer inspect the windows that made the cell.
- :class:`HeatMapLayers`: heat maps written as GeoTIFFs (core.inspect_files.write_heat_map_geotiff:
  temporary name, then rename) into one temporary folder of the plugin, added as styled layers to
  a group "Explain (temporary)"; :meth:`HeatMapLayers.clear` removes the layers, the group and the
  folder (the page calls it when the plugin unloads).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Optional

from qgis.core import (
    QgsColorRampShader,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRectangle,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

GROUP_NAME = "Explain (temporary)"
TEMP_PREFIX = "eurosat_landcover_explain_"


def layer_path(layer) -> Optional[str]:
    """The file (or GDAL source) behind a GDAL raster layer, None for other providers."""
    if layer is None or not isinstance(layer, QgsRasterLayer) or layer.providerType() != "gdal":
        return None
    return layer.source().split("|")[0]


def run_summary(layer) -> Optional[Path]:
    """The run summary beside a result layer of this plugin, or None for any other layer."""
    from ..core.inspect_files import summary_for_result

    path = layer_path(layer)
    return summary_for_result(path) if path else None


def footprint_geometry(bounds, crs_wkt: str, dest_crs: QgsCoordinateReferenceSystem) -> QgsGeometry:
    """A rectangle (xmin, ymin, xmax, ymax) in ``crs_wkt`` as a polygon in ``dest_crs`` (densified)."""
    geom = QgsGeometry.fromRect(QgsRectangle(*bounds))
    geom = geom.densifyByCount(8)
    src = QgsCoordinateReferenceSystem.fromWkt(crs_wkt)
    if src.isValid() and dest_crs.isValid() and src != dest_crs:
        geom.transform(QgsCoordinateTransform(src, dest_crs, QgsProject.instance()))
    return geom


def heat_renderer(layer: QgsRasterLayer, opacity: float = 0.6) -> QgsSingleBandPseudoColorRenderer:
    """The heat-map colours of the page and the CLI (models.gradcam.colormap_lut), 0..1; no evidence
    (0) is transparent and weak evidence (< 1/3) translucent, so the imagery shows through."""
    from ..models.gradcam import colormap_lut

    lut = colormap_lut()
    items = []
    for k in range(9):
        v = k / 8
        r, g, b = (int(c) for c in lut[round(v * 255)])
        color = QColor(r, g, b, min(255, round(255 * 3 * v)))  # fades out towards 0: the imagery shows through
        items.append(QgsColorRampShader.ColorRampItem(v, color, f"{v:.2g}"))
    ramp = QgsColorRampShader(0.0, 1.0)
    ramp.setColorRampType(QgsColorRampShader.Type.Interpolated)
    ramp.setColorRampItemList(items)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(1.0)
    renderer.setOpacity(max(0.0, min(1.0, float(opacity))))
    return renderer


class HeatMapLayers:
    """Temporary heat-map layers of one page: one folder, one group, removed by :meth:`clear`."""

    def __init__(self):
        self.folder: Optional[Path] = None
        self.layer_ids: list[str] = []
        self._count = 0

    def _folder(self) -> Path:
        if self.folder is None or not self.folder.is_dir():
            self.folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        return self.folder

    def add(self, heat, footprint, name: str, opacity: float = 0.6) -> QgsRasterLayer:
        """Write ``heat`` (p x p, 0..1) aligned with ``footprint`` and add it on top of the project."""
        from ..core.inspect_files import write_heat_map_geotiff

        self._count += 1
        path = write_heat_map_geotiff(self._folder() / f"heatmap_{self._count:03d}.tif", heat, footprint)
        layer = QgsRasterLayer(str(path), name, "gdal")
        if not layer.isValid():
            raise RuntimeError(f"QGIS cannot open the heat map {path}")
        layer.setRenderer(heat_renderer(layer, opacity))
        project = QgsProject.instance()
        root = project.layerTreeRoot()
        group = root.findGroup(GROUP_NAME)
        if group is None:
            group = root.insertGroup(0, GROUP_NAME)
        project.addMapLayer(layer, False)
        group.insertLayer(0, layer)
        self.layer_ids.append(layer.id())
        return layer

    def clear(self) -> None:
        """Remove the heat-map layers, their group and the temporary folder."""
        project = QgsProject.instance()
        ids = [i for i in self.layer_ids if project.mapLayer(i) is not None]
        if ids:
            project.removeMapLayers(ids)
        self.layer_ids = []
        group = project.layerTreeRoot().findGroup(GROUP_NAME)
        if group is not None and not group.children():
            group.parent().removeChildNode(group)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
