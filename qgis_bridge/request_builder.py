"""Turn QGIS objects (a raster layer, an extent in some CRS, options) into a ClassificationRequest.

The one place where the dock and the Processing algorithm translate QGIS into the engine's plain
request. Only qgis.core is used (it runs inside qgis_process too); no torch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDistanceArea,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsRectangle,
    QgsUnitTypes,
)

from ..core.request import DEFAULT_MODE, DEFAULT_STRIDE, ClassificationRequest
from ..core.windows import Grid
from ..errors import ReadableError


class RequestError(ReadableError, ValueError):  # ValueError: callers of the earlier releases
    """The inputs cannot make a request; the message is for the analyst."""


@dataclass
class RunOptions:
    """Engine options chosen in the dock or the algorithm."""

    model_card: Optional[str] = None  # None = bundled default
    bands: Optional[list] = None  # 1-based source bands, one per model band; None = auto
    radiometry: str = "auto"
    stride: int = DEFAULT_STRIDE
    mode: str = DEFAULT_MODE  # "map": a class per 10 m pixel, or "windows" (core/request.py MODES)
    batch_size: int = 64
    device: str = "auto"
    fast_path: str = "auto"  # the CPU model path (core/request.py FAST_PATH_MODES)
    write_probabilities: bool = True
    name: Optional[str] = None  # output file prefix; None = the input's file name (+ _2, _3...)


def raster_source_path(layer: Union[QgsRasterLayer, str]) -> str:
    """The file (or GDAL connection string) behind a raster layer."""
    if isinstance(layer, (str, Path)):
        return str(layer)
    if layer is None or not layer.isValid():
        raise RequestError("the input raster layer is not valid (missing file?)")
    if layer.providerType() != "gdal":
        raise RequestError(
            f"layer '{layer.name()}' comes from the '{layer.providerType()}' provider; only rasters that "
            "GDAL reads from files can be classified (save it as a GeoTIFF first)"
        )
    source = layer.source()
    parts = QgsProviderRegistry.instance().decodeUri("gdal", source)
    path = parts.get("path") or source
    if parts.get("layerName") or parts.get("vsiPrefix") or not Path(path).exists():
        return source.split("|")[0]
    return path


def safe_name(text: str) -> str:
    """A file-name-safe prefix from a layer name."""
    name = re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("._")
    return name[:60] or "raster"


def default_run_name(input_name: str) -> str:
    """The output prefix of a run without ``--name``/``name``: the input's file name, as the CLI names it
    (``unique_run_name`` then adds ``_2``, ``_3``... so the dock and Processing never replace a run)."""
    return safe_name(Path(str(input_name)).stem if Path(str(input_name)).suffix else str(input_name))


def unique_run_name(output_dir: Path, base: str, reserved=()) -> str:
    """`base`, or `base_2`, `base_3`... when a file of a run of that name exists or a queued run uses it."""
    from ..core.run_guards import run_output_paths

    name, n = base, 1
    while name in reserved or any(f.exists() for f in run_output_paths(output_dir, name)):
        n += 1
        name = f"{base}_{n}"
    return name


def clip_to_layer(
    extent: QgsRectangle, extent_crs: QgsCoordinateReferenceSystem, layer: QgsRasterLayer
) -> QgsRectangle:
    """`extent` (in `extent_crs`) transformed to the layer's CRS and cut to the layer's extent.

    Raises RequestError when they do not overlap or the extent cannot be transformed.
    """
    rect = QgsRectangle(extent)
    if extent_crs is not None and extent_crs.isValid() and layer.crs().isValid() and extent_crs != layer.crs():
        ct = QgsCoordinateTransform(extent_crs, layer.crs(), QgsProject.instance().transformContext())
        try:
            rect = ct.transformBoundingBox(rect)
        except Exception as exc:  # QgsCsException
            raise RequestError(f"the area cannot be transformed to the raster's CRS: {exc}") from None
    clipped = rect.intersect(layer.extent())
    if clipped.isEmpty() or clipped.width() <= 0 or clipped.height() <= 0:
        raise RequestError(f"the chosen area does not overlap the raster '{layer.name()}'")
    return clipped


def snap_to_cells(
    extent: QgsRectangle, extent_crs: QgsCoordinateReferenceSystem, layer: QgsRasterLayer, stride: int, gsd: float
) -> Optional[QgsRectangle]:
    """`extent` as the run will cover it: in the layer's CRS, cut to the layer and widened to whole cells
    (`stride` px) of the whole layer's grid, as the engine snaps it (``core.georef.prepare``). None where the
    engine resamples the layer (not metric, Mercator, rotated, pixels off `gsd`: it snaps on its own grid then)
    or the extent misses the layer."""
    try:
        rect = clip_to_layer(extent, extent_crs, layer)
    except RequestError:
        return None
    crs = layer.crs()
    px, py = layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()
    native = (
        crs.isValid()
        and not crs.isGeographic()
        and crs.mapUnits() == QgsUnitTypes.DistanceUnit.DistanceMeters
        and "+proj=merc" not in crs.toProj()
        and abs(px - gsd) <= 0.01 * gsd
        and abs(py - gsd) <= 0.01 * gsd
    )
    if not native:
        return None
    ext = layer.extent()
    x0, y1 = ext.xMinimum(), ext.yMaximum()
    cx, cy = px * int(stride), py * int(stride)
    c0 = math.floor((rect.xMinimum() - x0) / cx + 1e-3)
    c1 = math.ceil((rect.xMaximum() - x0) / cx - 1e-3)
    r0 = math.floor((y1 - rect.yMaximum()) / cy + 1e-3)
    r1 = math.ceil((y1 - rect.yMinimum()) / cy - 1e-3)
    return QgsRectangle(
        max(ext.xMinimum(), x0 + c0 * cx),
        max(ext.yMinimum(), y1 - r1 * cy),
        min(ext.xMaximum(), x0 + c1 * cx),
        min(y1, y1 - r0 * cy),
    )


def build_request(
    layer: Union[QgsRasterLayer, str],
    output_dir: Union[str, Path],
    options: Optional[RunOptions] = None,
    extent: Optional[QgsRectangle] = None,
    extent_crs: Optional[QgsCoordinateReferenceSystem] = None,
    reserved_names=(),
) -> ClassificationRequest:
    """The engine request for `layer` (a QgsRasterLayer, or a raster path) over `extent`.

    `extent` may be in any CRS (`extent_crs`, default: the layer's). With a layer it is transformed
    to the layer's CRS with QgsCoordinateTransform and cut to the layer; the request then carries
    those bounds and the layer CRS as WKT. With a plain path the extent is passed through as it is,
    with `extent_crs` as WKT, and the engine transforms it. Without `options.name` the outputs are
    named after the layer and the time, made unique against existing files and `reserved_names`
    (the names of runs still queued): the same name the CLI gives, never replacing a run.
    """
    options = options or RunOptions()
    if not output_dir or not str(output_dir).strip():
        raise RequestError("choose an output folder")
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise RequestError(f"the output folder {out} is a file")
    path = raster_source_path(layer)
    is_layer = isinstance(layer, QgsRasterLayer)
    bounds = bounds_crs = None
    if extent is not None and not extent.isNull() and not extent.isEmpty():
        if is_layer:
            rect = clip_to_layer(extent, extent_crs, layer)
            crs = layer.crs()
        else:
            rect = QgsRectangle(extent)
            crs = extent_crs
        bounds = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        if crs is not None and crs.isValid():
            bounds_crs = crs.toWkt(QgsCoordinateReferenceSystem.WktVariant.WKT_PREFERRED)
    stride = int(options.stride)
    if stride <= 0:
        raise RequestError("the stride must be a positive number of pixels")
    batch = int(options.batch_size)
    if batch <= 0:
        raise RequestError("the batch size must be at least 1")
    name = options.name or unique_run_name(out, default_run_name(path), reserved_names)
    return ClassificationRequest(
        input_path=path,
        output_dir=str(out),
        model_card=options.model_card or None,
        bands=[int(b) for b in options.bands] if options.bands else None,
        radiometry=options.radiometry or "auto",
        bounds=bounds,
        bounds_crs=bounds_crs,
        stride=stride,
        mode=options.mode or DEFAULT_MODE,
        batch_size=batch,
        device=options.device or "auto",
        fast_path=options.fast_path or "auto",
        write_probabilities=bool(options.write_probabilities),
        name=name,
    )


# ------------------------------------------------------------------ area and window estimates
def distance_area(crs: QgsCoordinateReferenceSystem) -> QgsDistanceArea:
    da = QgsDistanceArea()
    da.setSourceCrs(crs, QgsProject.instance().transformContext())
    ellipsoid = QgsProject.instance().ellipsoid()
    if not ellipsoid or ellipsoid.upper() == "NONE":
        ellipsoid = "EPSG:7030"  # WGS 84
    da.setEllipsoid(ellipsoid)
    return da


def area_km2(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> float:
    """Ellipsoidal area of `rect` (in `crs`) in km²."""
    if rect is None or rect.isEmpty():
        return 0.0
    da = distance_area(crs)
    m2 = da.measureArea(QgsGeometry.fromRect(rect))
    return da.convertAreaMeasurement(m2, QgsUnitTypes.AreaUnit.AreaSquareKilometers)


def size_m(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> tuple:
    """(width, height) of `rect` in metres, measured across its middle on the ellipsoid."""
    da = distance_area(crs)
    cx, cy = rect.center().x(), rect.center().y()
    w = da.measureLine(QgsPointXY(rect.xMinimum(), cy), QgsPointXY(rect.xMaximum(), cy))
    h = da.measureLine(QgsPointXY(cx, rect.yMinimum()), QgsPointXY(cx, rect.yMaximum()))
    w = da.convertLengthMeasurement(w, QgsUnitTypes.DistanceUnit.DistanceMeters)
    h = da.convertLengthMeasurement(h, QgsUnitTypes.DistanceUnit.DistanceMeters)
    return w, h


def estimate_tiles(width_m: float, height_m: float, gsd: float = 10.0, patch: int = 64) -> int:
    """Number of map-mode tiles over the area: the engine's own tile grid (core/tiles.py) for that many pixels."""
    from ..core.tiles import TileGrid

    width_px, height_px = int(width_m / gsd), int(height_m / gsd)
    if width_px < patch or height_px < patch:
        return 0
    return TileGrid(width_px, height_px).count


def estimate_windows(width_m: float, height_m: float, gsd: float = 10.0, patch: int = 64, stride: int = 32) -> int:
    """Number of model windows (patch x patch px at `gsd`, every `stride` px) over the area: the
    engine's own window grid for that many pixels."""
    width_px, height_px = int(width_m / gsd), int(height_m / gsd)
    if width_px < patch or height_px < patch:
        return 0
    return Grid(width_px, height_px, patch, stride).windows


def pixel_size_m(layer: QgsRasterLayer) -> float:
    """The layer's pixel size in metres (measured on the ellipsoid for geographic CRSs)."""
    ext = layer.extent()
    if layer.width() <= 0 or ext.isEmpty():
        return 0.0
    w, h = size_m(ext, layer.crs())
    return (w / layer.width() + h / layer.height()) / 2
