"""QGIS side of the accuracy assessment, without widgets: shared by the Assess page and Processing.

- :func:`layer_file` turns a layer into the file (and layer name) the core reads; a layer that is not a file
  (memory, database) is first written to a GeoPackage in a temporary folder;
- :func:`reference_records` reads a vector reference layer through QGIS (its filter, its CRS, any provider:
  a delimited-text CSV, memory, a database) into the plain records core/accuracy takes;
- :func:`style_sample_layer` styles a sample point layer by labelling status.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsFeatureRequest,
    QgsGeometry,
    QgsMarkerSymbol,
    QgsProject,
    QgsProviderRegistry,
    QgsRendererCategory,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from ..core.accuracy.errors import AssessmentError

STATUS_STYLES = (
    ("", "to label", "#ffffff", "#000000"),
    ("labelled", "labelled", "#2ca25f", "#000000"),
    ("unsure", "unsure", "#fd8d3c", "#000000"),
    ("skipped", "skipped", "#969696", "#555555"),
)


def layer_file(layer, tmp_dir: Optional[str] = None) -> tuple[str, Optional[str]]:
    """(path, layer name or None) of a layer's data; non-file vector layers are copied to a GeoPackage."""
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    path = parts.get("path") or ""
    if path and Path(path).exists():
        return path, parts.get("layerName") or None
    if not isinstance(layer, QgsVectorLayer):
        raise AssessmentError(f"layer {layer.name()!r} is not a file GDAL can read")
    folder = Path(tmp_dir or tempfile.mkdtemp(prefix="eurosat_assess_"))
    out = folder / "reference.gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "reference"
    err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(out), QgsCoordinateTransformContext(), options)
    if err[0] != QgsVectorFileWriter.WriterError.NoError:
        raise AssessmentError(f"cannot copy layer {layer.name()!r}: {err[1]}")
    return str(out), "reference"


def reference_records(layer: QgsVectorLayer, class_field: str, map_crs: QgsCoordinateReferenceSystem):
    """The features of a reference layer as QGIS gives them (the layer's filter applied, any provider), their
    geometries transformed from the layer's CRS (as set in QGIS) to ``map_crs``: a ``ReferenceRecords`` of
    (WKB, class value) for ``core.accuracy``. Raises AssessmentError (one line) when the field is missing."""
    from ..core.accuracy.reference import ReferenceRecords

    idx = layer.fields().indexOf(class_field)
    if idx < 0:
        names = ", ".join(layer.fields().names())
        raise AssessmentError(f"the reference layer {layer.name()!r} has no field {class_field!r} (fields: {names})")
    ct, notes = None, []
    if layer.crs().isValid() and map_crs is not None and map_crs.isValid() and layer.crs() != map_crs:
        ct = QgsCoordinateTransform(layer.crs(), map_crs, QgsProject.instance().transformContext())
        notes.append(f"reference transformed from {layer.crs().authid() or 'its CRS'} to the map's CRS")
    if layer.subsetString():
        notes.append(f"reference layer filter: {layer.subsetString()}")
    records = []
    for feature in layer.getFeatures(QgsFeatureRequest().setSubsetOfAttributes([idx])):
        geom = feature.geometry()
        value = feature.attribute(idx)
        if geom is None or geom.isNull() or geom.isEmpty() or value is None or _is_null(value):
            continue
        geom = QgsGeometry(geom)
        if ct is not None:
            geom.transform(ct)
        records.append((bytes(geom.asWkb()), value))
    return ReferenceRecords(records, f"layer {layer.name()!r}", notes)


def _is_null(value) -> bool:
    """A QVariant NULL (what QGIS gives for an empty attribute)."""
    return hasattr(value, "isNull") and value.isNull()


def style_sample_layer(layer) -> None:
    """Sample points by status: white to label, green labelled, orange unsure, grey skipped."""
    cats = []
    for value, label, fill, line in STATUS_STYLES:
        sym = QgsMarkerSymbol.createSimple(
            {"name": "circle", "color": fill, "outline_color": line, "size": "2.6", "outline_width": "0.4"}
        )
        cats.append(QgsRendererCategory(value, sym, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer("coalesce(\"status\", '')", cats))
    layer.triggerRepaint()
