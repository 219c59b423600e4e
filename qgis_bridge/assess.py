"""QGIS side of the accuracy assessment, without widgets: shared by the Assess page and Processing.

- :func:`layer_file` turns a layer into the file (and layer name) the core reads; a layer that is not a file
  (memory, database) is first written to a GeoPackage in a temporary folder;
- :func:`style_sample_layer` styles a sample point layer by labelling status.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateTransformContext,
    QgsMarkerSymbol,
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
