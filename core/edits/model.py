"""The raster grid, the edit record and what one edit does to a block of cells.

Every edit is *cell-local*: a cell changes when it lies in the edit's geometry, is not nodata and
its current class passes the edit's from-filter (or, for a recode, is a key of the table). So an
edit can be replayed on any window of the raster on its own, which is what makes undo, revert and
rebuilding one block at a time exact.

Which cells a geometry covers (GDAL's rasteriser, on only the edit's window):
- polygons (polygon fill, lasso, recode area, flood region): cells whose centre is inside;
- points and lines, and brush strokes (``all_touched``): every cell the geometry touches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
from osgeo import gdal, ogr, osr

from .errors import EditError

NODATA = 255
TOOLS = ("cell", "brush", "polygon", "lasso", "flood", "recode", "review")
STATES = ("active", "reverted")


@dataclass(frozen=True)
class Window:
    """A block of cells: column/row offset and size."""

    xoff: int
    yoff: int
    width: int
    height: int

    @property
    def slices(self):
        return slice(self.yoff, self.yoff + self.height), slice(self.xoff, self.xoff + self.width)

    def union(self, other: Window) -> Window:
        x0, y0 = min(self.xoff, other.xoff), min(self.yoff, other.yoff)
        x1 = max(self.xoff + self.width, other.xoff + other.width)
        y1 = max(self.yoff + self.height, other.yoff + other.height)
        return Window(x0, y0, x1 - x0, y1 - y0)

    def intersects(self, other: Window) -> bool:
        return not (
            self.xoff >= other.xoff + other.width
            or other.xoff >= self.xoff + self.width
            or self.yoff >= other.yoff + other.height
            or other.yoff >= self.yoff + self.height
        )


@dataclass(frozen=True)
class RasterGrid:
    """A north-up raster grid: size, geotransform and CRS (WKT)."""

    width: int
    height: int
    geotransform: tuple
    wkt: str

    @classmethod
    def of(cls, ds) -> RasterGrid:
        return cls(ds.RasterXSize, ds.RasterYSize, tuple(ds.GetGeoTransform()), ds.GetProjection())

    @property
    def cell_size(self) -> float:
        return abs(self.geotransform[1])

    @property
    def full(self) -> Window:
        return Window(0, 0, self.width, self.height)

    def srs(self) -> osr.SpatialReference:
        srs = osr.SpatialReference()
        srs.ImportFromWkt(self.wkt)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        return srs

    def same_as(self, other: RasterGrid) -> bool:
        pairs = zip(self.geotransform, other.geotransform)
        same_gt = all(math.isclose(a, b, rel_tol=0, abs_tol=1e-6) for a, b in pairs)
        return self.width == other.width and self.height == other.height and same_gt and self.srs().IsSame(other.srs())

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """(row, col) of the cell holding map point (x, y) (may lie outside the raster)."""
        gt = self.geotransform
        return int(math.floor((y - gt[3]) / gt[5])), int(math.floor((x - gt[0]) / gt[1]))

    def cell_center(self, row: int, col: int) -> tuple[float, float]:
        gt = self.geotransform
        return gt[0] + (col + 0.5) * gt[1], gt[3] + (row + 0.5) * gt[5]

    def cell_polygon_wkt(self, window: Window) -> str:
        gt = self.geotransform
        x0, y0 = gt[0] + window.xoff * gt[1], gt[3] + window.yoff * gt[5]
        x1, y1 = x0 + window.width * gt[1], y0 + window.height * gt[5]
        return f"POLYGON (({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"

    def window_of(self, geometry: Optional[ogr.Geometry]) -> Optional[Window]:
        """The cells the geometry's envelope covers, cut to the raster (None: nothing of it inside)."""
        if geometry is None:
            return self.full
        xmin, xmax, ymin, ymax = geometry.GetEnvelope()
        gt = self.geotransform
        c0 = math.floor((xmin - gt[0]) / gt[1])
        c1 = math.floor((xmax - gt[0]) / gt[1]) + 1
        r0 = math.floor((ymax - gt[3]) / gt[5])
        r1 = math.floor((ymin - gt[3]) / gt[5]) + 1
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, self.width), min(r1, self.height)
        if c1 <= c0 or r1 <= r0:
            return None
        return Window(c0, r0, c1 - c0, r1 - r0)


@dataclass
class Edit:
    """One correction as the log stores it.

    ``geometry_wkt`` is in the raster's CRS (None: the whole layer, for a recode). ``from_classes``
    limits the cells changed to those classes (empty: any class); ``recode`` is a from -> to table
    used instead of ``to_class``. ``cells`` is how many cells the edit changed when it was made.
    """

    tool: str
    geometry_wkt: Optional[str]
    to_class: Optional[int] = None
    from_classes: tuple = ()
    recode: dict = field(default_factory=dict)
    all_touched: bool = False
    note: str = ""
    id: Optional[int] = None
    cells: int = 0
    time: str = ""
    state: str = "active"  # "active" | "reverted"

    def __post_init__(self):
        if self.tool not in TOOLS:
            raise EditError(f"unknown tool {self.tool!r} (one of {', '.join(TOOLS)})")
        if self.recode:
            self.recode = {int(k): int(v) for k, v in self.recode.items()}
        elif self.to_class is None:
            raise EditError("an edit needs a class to paint (to-class) or a recode table")
        self.from_classes = tuple(int(c) for c in self.from_classes)
        codes = [*self.recode, *self.recode.values(), *self.from_classes]
        codes += [] if self.recode else [self.to_class]
        bad = [c for c in codes if not 0 <= int(c) < NODATA]
        if bad:  # 300 was wrapped to 44 and 255 painted nodata
            raise EditError(f"class code {bad[0]} is not a class (codes 0-{NODATA - 1}; {NODATA} is nodata)")
        if self.state not in STATES:
            raise EditError(f"unknown edit state {self.state!r} ({' or '.join(STATES)})")

    def geometry(self) -> Optional[ogr.Geometry]:
        if not self.geometry_wkt:
            return None
        geom = ogr.CreateGeometryFromWkt(self.geometry_wkt)
        if geom is None or geom.IsEmpty():
            raise EditError("the edit's geometry is empty or not valid")
        return geom

    def describe(self) -> str:
        if self.recode:
            return ", ".join(f"{a}→{b}" for a, b in sorted(self.recode.items()))
        src = ",".join(map(str, self.from_classes)) if self.from_classes else "any"
        return f"{src}→{self.to_class}"

    def copy(self, **changes) -> Edit:
        return replace(self, **changes)


def rasterize(grid: RasterGrid, window: Window, geometry: Optional[ogr.Geometry], all_touched: bool) -> np.ndarray:
    """Boolean mask (window.height x window.width) of the window's cells the geometry covers."""
    if geometry is None:
        return np.ones((window.height, window.width), bool)
    gt = grid.geotransform
    wgt = (gt[0] + window.xoff * gt[1], gt[1], 0.0, gt[3] + window.yoff * gt[5], 0.0, gt[5])
    ds = gdal.GetDriverByName("MEM").Create("", window.width, window.height, 1, gdal.GDT_Byte)
    ds.SetGeoTransform(wgt)
    ds.SetProjection(grid.wkt)
    vds = ogr.GetDriverByName("Memory").CreateDataSource("edit")
    layer = vds.CreateLayer("g", grid.srs(), ogr.wkbUnknown)
    feat = ogr.Feature(layer.GetLayerDefn())
    feat.SetGeometry(geometry)
    layer.CreateFeature(feat)
    opts = ["ALL_TOUCHED=TRUE"] if all_touched else []
    err = gdal.RasterizeLayer(ds, [1], layer, burn_values=[1], options=opts)
    if err not in (0, None):
        raise EditError(f"cannot rasterise the edit: {gdal.GetLastErrorMsg()}")
    return ds.GetRasterBand(1).ReadAsArray().astype(bool)


def apply_edit(grid: RasterGrid, window: Window, block: np.ndarray, edit: Edit, geometry=None) -> np.ndarray:
    """The block (cells of ``window``) after the edit; ``block`` itself is not changed."""
    geom = geometry if geometry is not None else edit.geometry()
    ew = grid.window_of(geom)
    out = block.copy()
    if ew is None or not ew.intersects(window):
        return out
    mask = rasterize(grid, window, geom, edit.all_touched)
    mask &= block != NODATA
    if edit.recode:
        for src, dst in edit.recode.items():
            out[mask & (block == src)] = dst
    else:
        if edit.from_classes:
            mask &= np.isin(block, edit.from_classes)
        out[mask] = edit.to_class
    return out


# ------------------------------------------------------------------ geometries made by the tools
def brush_geometry(grid: RasterGrid, points: list, size_cells: int) -> ogr.Geometry:
    """A brush stroke through map points, ``size_cells`` wide (rasterised with all_touched)."""
    if not points:
        raise EditError("the brush stroke has no point")
    if len(points) == 1:
        geom = ogr.Geometry(ogr.wkbPoint)
        geom.AddPoint_2D(*points[0])
    else:
        geom = ogr.Geometry(ogr.wkbLineString)
        for x, y in points:
            geom.AddPoint_2D(x, y)
    radius = (max(1, int(size_cells)) - 1) / 2.0 * grid.cell_size
    if radius > 0:
        geom = geom.Buffer(radius, 8)
    return geom


def polygon_geometry(points: list) -> ogr.Geometry:
    """A polygon from its vertices (closed here); a self-crossing lasso is repaired."""
    if len(points) < 3:
        raise EditError("a polygon needs at least three points")
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in [*points, points[0]]:
        ring.AddPoint_2D(x, y)
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    if not poly.IsValid():
        poly = poly.Buffer(0)
    if poly is None or poly.IsEmpty() or poly.GetArea() <= 0:
        raise EditError("the polygon has no area")
    return poly


def flood_region(block: np.ndarray, row: int, col: int) -> np.ndarray:
    """Mask of the 4-connected region of the class at (row, col) inside ``block`` (scan-line fill)."""
    h, w = block.shape
    target = block[row, col]
    seen = np.zeros((h, w), bool)
    stack = [(row, col)]
    rows_eq = block == target
    while stack:
        r, c = stack.pop()
        if seen[r, c]:
            continue
        line = rows_eq[r]
        c0 = c
        while c0 > 0 and line[c0 - 1] and not seen[r, c0 - 1]:
            c0 -= 1
        c1 = c
        while c1 < w - 1 and line[c1 + 1] and not seen[r, c1 + 1]:
            c1 += 1
        seen[r, c0 : c1 + 1] = True
        for rr in (r - 1, r + 1):
            if 0 <= rr < h:
                cand = rows_eq[rr, c0 : c1 + 1] & ~seen[rr, c0 : c1 + 1]
                if cand.any():
                    idx = np.flatnonzero(cand)
                    # one seed per run of candidate cells
                    starts = idx[np.r_[True, np.diff(idx) > 1]]
                    stack.extend((rr, c0 + int(s)) for s in starts)
    return seen


def mask_polygon(grid: RasterGrid, window: Window, mask: np.ndarray) -> ogr.Geometry:
    """The cells of ``mask`` (in ``window``) as one (multi)polygon along cell edges (GDAL Polygonize)."""
    gt = grid.geotransform
    wgt = (gt[0] + window.xoff * gt[1], gt[1], 0.0, gt[3] + window.yoff * gt[5], 0.0, gt[5])
    ds = gdal.GetDriverByName("MEM").Create("", window.width, window.height, 1, gdal.GDT_Byte)
    ds.SetGeoTransform(wgt)
    band = ds.GetRasterBand(1)
    band.WriteArray(mask.astype(np.uint8))
    vds = ogr.GetDriverByName("Memory").CreateDataSource("region")
    layer = vds.CreateLayer("r", None, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, 0, [])
    out = ogr.Geometry(ogr.wkbMultiPolygon)
    for feat in layer:
        g = feat.GetGeometryRef()
        if g is not None and feat.GetField(0) == 1:
            out.AddGeometry(g)
    if out.GetGeometryCount() == 1:
        return out.GetGeometryRef(0).Clone()
    return out
