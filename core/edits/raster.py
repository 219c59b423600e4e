"""Reading and writing the corrected raster: block windows, overviews, the full rebuild."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from osgeo import gdal, ogr, osr

from .. import writers
from ..progress import EDITS, Progress, ProgressFn
from .errors import EditError
from .model import NODATA, Edit, RasterGrid, Window, apply_edit

REVISION_KEY = "EDIT_LOG_REVISION"
LOG_KEY = "EDIT_LOG"
FROM_KEY = "CORRECTED_FROM"
ROWS_PER_BLOCK = 512
CREATE_OPTIONS = [
    "TILED=YES",
    "BLOCKXSIZE=256",
    "BLOCKYSIZE=256",
    "COMPRESS=DEFLATE",
    "PREDICTOR=2",
    "BIGTIFF=IF_SAFER",
]


def open_raster(path: Path, update: bool = False):
    gdal.ErrorReset()
    try:
        ds = gdal.Open(str(path), gdal.GA_Update if update else gdal.GA_ReadOnly)
    except RuntimeError as exc:
        raise EditError(f"cannot open {Path(path).name}: {exc}") from None
    if ds is None:
        raise EditError(f"cannot open {Path(path).name}: {gdal.GetLastErrorMsg() or 'not a raster'}")
    return ds


def read_window(path: Path, window: Window) -> np.ndarray:
    ds = open_raster(path)
    arr = ds.GetRasterBand(1).ReadAsArray(window.xoff, window.yoff, window.width, window.height)
    if arr is None:
        raise EditError(f"cannot read {Path(path).name}: {gdal.GetLastErrorMsg()}")
    return arr


def raster_revision(path: Path) -> Optional[int]:
    """The edit-log revision the corrected raster shows (None: missing, unreadable or not one of ours)."""
    if not Path(path).exists():
        return None
    try:
        ds = open_raster(path)
        value = ds.GetMetadataItem(REVISION_KEY)
        ds.GetRasterBand(1).Checksum()  # a torn file fails here
    except (EditError, RuntimeError):  # RuntimeError: where gdal.UseExceptions() is on in the process
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def write_window(path: Path, window: Window, block: np.ndarray, revision: int) -> None:
    """Write a block in place (only the tiles it covers), refresh the overviews over it, store the revision."""
    ds = open_raster(path, update=True)
    band = ds.GetRasterBand(1)
    if band.WriteArray(block, window.xoff, window.yoff) not in (0, None):
        raise EditError(f"cannot write {Path(path).name}: {gdal.GetLastErrorMsg()} (disk full?)")
    _refresh_overviews(band, window, ds.RasterXSize, ds.RasterYSize)
    ds.SetMetadataItem(REVISION_KEY, str(int(revision)))
    ds.FlushCache()
    ds = None


def set_revision(path: Path, revision: int) -> None:
    ds = open_raster(path, update=True)
    ds.SetMetadataItem(REVISION_KEY, str(int(revision)))
    ds.FlushCache()
    ds = None


def _refresh_overviews(band, window: Window, width: int, height: int) -> None:
    """Nearest-neighbour overview cells over the window (the rule GDAL's NEAREST uses)."""
    for i in range(band.GetOverviewCount()):
        ov = band.GetOverview(i)
        ow, oh = ov.XSize, ov.YSize
        fx, fy = width / ow, height / oh
        ox0, ox1 = int(window.xoff // fx), min(ow, int(math.ceil((window.xoff + window.width) / fx)))
        oy0, oy1 = int(window.yoff // fy), min(oh, int(math.ceil((window.yoff + window.height) / fy)))
        if ox1 <= ox0 or oy1 <= oy0:
            continue
        cols = np.minimum(((np.arange(ox0, ox1) + 0.5) * fx).astype(np.int64), width - 1)
        rows = np.minimum(((np.arange(oy0, oy1) + 0.5) * fy).astype(np.int64), height - 1)
        c0, r0 = int(cols[0]), int(rows[0])
        src = band.ReadAsArray(c0, r0, int(cols[-1]) - c0 + 1, int(rows[-1]) - r0 + 1)
        ov.WriteArray(src[np.ix_(rows - r0, cols - c0)], ox0, oy0)


def _overview_levels(w: int, h: int) -> list[int]:
    levels, f = [], 2
    while -(-max(w, h) // f) >= 256:
        levels.append(f)
        f *= 2
    return levels


def replace_raster(src: Path, dst: Path) -> None:
    """Rename a GeoTIFF onto ``dst`` with its GDAL sidecar (``.aux.xml``: category names live there)."""
    src, dst = Path(src), Path(dst)
    aux_src, aux_dst = src.with_name(src.name + ".aux.xml"), dst.with_name(dst.name + ".aux.xml")
    if aux_dst.exists():
        aux_dst.unlink()
    os.replace(src, dst)
    if aux_src.exists():
        os.replace(aux_src, aux_dst)


def transform_edits(edits: list[Edit], source_wkt: str, grid: RasterGrid) -> list[Edit]:
    """Edits with their geometries in the grid's CRS (unchanged when the CRS is the same)."""
    src = osr.SpatialReference()
    src.ImportFromWkt(source_wkt)
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dst = grid.srs()
    if src.IsSame(dst):
        return list(edits)
    ct = osr.CoordinateTransformation(src, dst)
    out = []
    for e in edits:
        if e.geometry_wkt:
            g = ogr.CreateGeometryFromWkt(e.geometry_wkt)
            if g.Transform(ct) != 0:
                raise EditError(f"edit {e.id} cannot be transformed to the raster's CRS")
            e = e.copy(geometry_wkt=g.ExportToWkt())
        out.append(e)
    return out


def build_corrected(
    classes_path: Path,
    edits: list[Edit],
    out_path: Path,
    revision: int,
    log_name: str = "",
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
) -> dict:
    """Write ``out_path`` = the classes raster with ``edits`` (in order) applied, block by block.

    Written under a temporary name and renamed when complete; returns the number of cells each
    edit changed in this raster ({edit id: cells}) and the total.
    """
    classes_path, out_path = Path(classes_path), Path(out_path)
    src = open_raster(classes_path)
    grid = RasterGrid.of(src)
    src_metadata = dict(src.GetMetadata() or {})  # also loads the .aux.xml (GTiff reads PAM lazily)
    sband = src.GetRasterBand(1)
    tmp = out_path.with_name(f"{out_path.name}.{writers.new_token()}.partial.tif")
    gdal.ErrorReset()
    try:
        dst = gdal.GetDriverByName("GTiff").Create(
            str(tmp), grid.width, grid.height, 1, gdal.GDT_Byte, options=CREATE_OPTIONS
        )
    except RuntimeError as exc:
        dst, msg = None, str(exc)
    else:
        msg = gdal.GetLastErrorMsg()
    if dst is None:
        raise EditError(f"cannot write {out_path.name} in {out_path.parent}: {msg or 'GDAL error'}")
    counts: dict = {}
    try:
        dst.SetGeoTransform(grid.geotransform)
        dst.SetProjection(grid.wkt)
        band = dst.GetRasterBand(1)
        band.SetNoDataValue(NODATA)
        ct = sband.GetColorTable()
        if ct is not None:
            band.SetColorTable(ct)
            band.SetColorInterpretation(gdal.GCI_PaletteIndex)
        names = sband.GetCategoryNames()
        if names:
            band.SetCategoryNames(names)
        band.SetDescription("class (corrected)")
        md = src_metadata
        md["CONTENT"] = "land-cover class index, corrected by hand (model output + edit log)"
        md[FROM_KEY] = classes_path.name
        md[LOG_KEY] = log_name
        md[REVISION_KEY] = str(int(revision))
        dst.SetMetadata(md)
        placed = []
        for e in edits:
            if e.state != "active":
                continue
            geom = e.geometry()
            w = grid.window_of(geom)
            if w is not None:
                placed.append((e, geom, w))
            counts[e.id] = 0
        for y in range(0, grid.height, ROWS_PER_BLOCK):
            if is_cancelled is not None and is_cancelled():
                raise EditError("cancelled: the corrected raster was not written")
            win = Window(0, y, grid.width, min(ROWS_PER_BLOCK, grid.height - y))
            block = sband.ReadAsArray(win.xoff, win.yoff, win.width, win.height)
            for e, geom, w in placed:
                if w.intersects(win):
                    new = apply_edit(grid, win, block, e, geom)
                    counts[e.id] += int((new != block).sum())
                    block = new
            if band.WriteArray(block, 0, y) not in (0, None):
                raise EditError(f"cannot write {out_path.name}: {gdal.GetLastErrorMsg()} (disk full?)")
            if progress is not None:
                progress(Progress(min(1.0, (y + win.height) / grid.height) * 0.9, EDITS))
        levels = _overview_levels(grid.width, grid.height)
        if levels:
            gdal.SetThreadLocalConfigOption("COMPRESS_OVERVIEW", "DEFLATE")
            try:
                dst.BuildOverviews("NEAREST", levels)
            finally:
                gdal.SetThreadLocalConfigOption("COMPRESS_OVERVIEW", None)
        dst.FlushCache()
        dst = None
        replace_raster(tmp, out_path)
    except BaseException:
        dst = None
        for f in (tmp, tmp.with_name(tmp.name + ".aux.xml")):
            try:
                f.unlink()
            except OSError:
                pass
        raise
    if progress is not None:
        progress(Progress(1.0, EDITS))
    return counts
