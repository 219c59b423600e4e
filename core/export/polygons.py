"""Land-cover polygons from the class raster, with GDAL/OGR only.

1. Optional minimum mapping unit: ``gdal.SieveFilter`` merges every patch smaller than the MMU (in
   hectares, converted to cells) into its largest neighbour (4-connected), written to a temporary raster.
2. ``gdal.Polygonize`` (4-connected) turns each patch of equal class into one polygon whose edges are
   the cell edges, so neighbours share their boundaries exactly: no gaps, no overlaps.
3. Mean confidence per polygon: the polygons' ids are burnt back into the grid one strip of rows at
   a time (``gdal.RasterizeLayer`` with a spatial filter) and averaged with the confidence raster.
4. The final layer: ``class_code``, ``class_name``, ``color`` (#rrggbb), ``area_ha``, ``confidence``
   (mean 0..1, empty without a confidence raster); one feature per patch, or with ``dissolve`` one
   multipolygon per class (the patches of a class never share an edge, so collecting them is the
   dissolve and needs no geometric union).
5. The style: in a GeoPackage, a ``layer_styles`` row (QML + SLD, ``useAsDefault``) as QGIS writes it,
   so the layer opens styled in any QGIS; a ``.qml``/``.sld`` beside a Shapefile or GeoJSON file.

Memory: GDAL's algorithms stream the raster line by line; this module holds one strip of rows
(about 2 M cells) and two numbers per polygon (benchmarks/bench_export.py measures peak RSS).
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Optional

import numpy as np

from .common import ExportError, ProgressSpan, Staging, gdal_errors
from .formats import format_ids, kind, one_of
from .run import RunInfo
from .styles import qml_polygons, sld_polygons

VECTOR_FORMATS = format_ids("polygons")
STRIP_CELLS = 1 << 21  # cells per strip of rows read at once (~2 M: the strip's arrays stay ~50 MB at any width)


def strip_rows(width: int) -> int:
    """Rows per strip: about STRIP_CELLS cells, 16 to 256 rows."""
    return max(16, min(256, STRIP_CELLS // max(1, width)))


FIELDS = ("class_code", "class_name", "color", "area_ha", "confidence")


def polygon_file_name(run: RunInfo, vector_format: str = "gpkg") -> str:
    return f"{run.name}_landcover_polygons{kind('polygons').format(vector_format).extension}"


def planned_files(run: RunInfo, vector_format: str = "gpkg") -> list[str]:
    name = polygon_file_name(run, vector_format)
    stem = name.rsplit(".", 1)[0]
    if vector_format == "gpkg":
        return [name]
    if vector_format == "shp":
        return [name, f"{stem}.shx", f"{stem}.dbf", f"{stem}.prj", f"{stem}.cpg", f"{stem}.qml", f"{stem}.sld"]
    return [name, f"{stem}.qml", f"{stem}.sld"]


def layer_name(run: RunInfo) -> str:
    return f"{run.name}_landcover"


def _cell_area_m2(ds) -> float:
    """Area of one cell in m² (at the raster's centre for a geographic CRS)."""
    gt = ds.GetGeoTransform()
    srs = ds.GetSpatialRef()
    a = abs(gt[1] * gt[5] - gt[2] * gt[4])
    if srs is None or srs.IsProjected() or srs.IsLocal():
        return a * (srs.GetLinearUnits() ** 2 if srs is not None and srs.IsProjected() else 1.0)
    lat = math.radians(gt[3] + gt[5] * ds.RasterYSize / 2)
    r = srs.GetSemiMajor()
    return a * (math.pi / 180 * r) ** 2 * math.cos(lat)


def _area_function(srs):
    """geometry -> area in m²: planar in a projected CRS, on a local equal-area projection otherwise."""
    from osgeo import osr

    if srs is not None and srs.IsProjected():
        unit2 = srs.GetLinearUnits() ** 2
        return lambda g: g.GetArea() * unit2
    if srs is None:
        return lambda g: g.GetArea()
    cache = {}

    def area(g):
        env = g.GetEnvelope()
        lon0 = round((env[0] + env[1]) / 2, 0)
        lat0 = round((env[2] + env[3]) / 2, 0)
        key = (lon0, lat0)
        if key not in cache:
            laea = osr.SpatialReference()
            laea.SetLAEA(lat0, lon0, 0, 0)
            src = srs.Clone()
            src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            cache[key] = osr.CoordinateTransformation(src, laea)
        h = g.Clone()
        h.Transform(cache[key])
        return h.GetArea()

    return area


def mmu_cells(mmu_ha: float, cell_area_m2: float) -> int:
    """The sieve threshold: the fewest cells covering at least ``mmu_ha`` hectares."""
    return max(1, int(math.ceil(mmu_ha * 1e4 / cell_area_m2 - 1e-9)))


def sieve_steps(cells: int) -> list[int]:
    """The thresholds of the progressive sieve: 2, 4, 8, ... below ``cells``, then ``cells``. GDAL's
    sieve merges a patch into its largest neighbour and leaves patches whose neighbours are all below
    the threshold as they are (a loop of small patches): at 300 ha it returned the map unsieved and
    100 ha -> 9 polygons but 150 ha -> 71. Growing the threshold step by step merges small patches
    into growing ones first, so every step starts from patches at least as large as the last one's."""
    steps, t = [], 2
    while t < cells:
        steps.append(t)
        t *= 2
    return [*steps, cells]


def _sieve(src_path: Path, dst_path: Path, cells: int, progress: ProgressSpan) -> None:
    """The minimum mapping unit: :func:`sieve_steps`, each step sieving the last one's result."""
    steps = sieve_steps(cells)
    current = src_path
    for i, step in enumerate(steps):
        target = dst_path if i == len(steps) - 1 else dst_path.with_name(f"{dst_path.stem}_{i}{dst_path.suffix}")
        _sieve_once(current, target, step, progress.span(i / len(steps), (i + 1) / len(steps)))
        if current != src_path:
            Path(current).unlink(missing_ok=True)
        current = target


def valid_cells(path: Path) -> int:
    """Cells of a class raster that are not nodata."""
    from osgeo import gdal

    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    nodata = band.GetNoDataValue()
    if nodata is None:
        return ds.RasterXSize * ds.RasterYSize
    rows, n = strip_rows(ds.RasterXSize), 0
    for y in range(0, ds.RasterYSize, rows):
        n += int((band.ReadAsArray(0, y, ds.RasterXSize, min(rows, ds.RasterYSize - y)) != nodata).sum())
    return n


def _sieve_once(src_path: Path, dst_path: Path, cells: int, progress: ProgressSpan) -> None:
    from osgeo import gdal

    src = gdal.Open(str(src_path))
    band = src.GetRasterBand(1)
    drv = gdal.GetDriverByName("GTiff")
    dst = drv.Create(
        str(dst_path),
        src.RasterXSize,
        src.RasterYSize,
        1,
        gdal.GDT_Byte,
        ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"],
    )
    if dst is None:
        raise ExportError(f"cannot write a temporary raster in {dst_path.parent}: {gdal.GetLastErrorMsg()}")
    dst.SetGeoTransform(src.GetGeoTransform())
    dst.SetProjection(src.GetProjection())
    dband = dst.GetRasterBand(1)
    nodata = band.GetNoDataValue()
    if nodata is not None:
        dband.SetNoDataValue(nodata)
    ct = band.GetColorTable()
    if ct is not None:
        dband.SetColorTable(ct)
    mask = band.GetMaskBand() if nodata is not None else None
    with gdal_errors("the minimum-mapping-unit filter failed", progress):
        err = gdal.SieveFilter(
            band, mask, dband, cells, 4, callback=progress.gdal_callback("removing patches below the MMU")
        )
    progress.check()
    if err not in (0, None):
        raise ExportError(f"the minimum-mapping-unit filter failed: {gdal.GetLastErrorMsg()}")
    if nodata is not None:  # the sieve may write class values into masked cells: keep them nodata
        rows = strip_rows(src.RasterXSize)
        for y in range(0, src.RasterYSize, rows):
            h = min(rows, src.RasterYSize - y)
            a = band.ReadAsArray(0, y, src.RasterXSize, h)
            b = dband.ReadAsArray(0, y, src.RasterXSize, h)
            bad = (a == nodata) & (b != nodata)
            if bad.any():
                b[bad] = nodata
                dband.WriteArray(b, 0, y)
    dst.FlushCache()
    dst = None


def _confidence_reader(path: Optional[Path]):
    """(strip reader -> float64 array with NaN for nodata) for the confidence raster, or None."""
    if path is None:
        return None
    from osgeo import gdal

    ds = gdal.Open(str(path))
    if ds is None:
        return None
    band = ds.GetRasterBand(1)
    scale = band.GetScale() or 1.0
    offset = band.GetOffset() or 0.0
    nodata = band.GetNoDataValue()

    def read(x, y, w, h):
        a = band.ReadAsArray(x, y, w, h).astype(np.float64)
        if nodata is not None and not math.isnan(nodata):
            a[a == nodata] = np.nan
        return a * scale + offset

    read.ds = ds  # keep the dataset alive with the band
    return read


def _mean_confidence(work_ds, raw, class_ds, conf_read, n_features: int, progress: ProgressSpan):
    """Per polygon id (fid): confidence sum and cell count, strip by strip."""
    from osgeo import gdal

    W, H = class_ds.RasterXSize, class_ds.RasterYSize
    gt = class_ds.GetGeoTransform()
    sums = np.zeros(n_features + 1, np.float64)
    counts = np.zeros(n_features + 1, np.int64)
    mem = gdal.GetDriverByName("MEM")
    rows = strip_rows(W)
    for y in range(0, H, rows):
        progress(y / H, "averaging confidence per polygon")
        h = min(rows, H - y)
        strip = mem.Create("", W, h, 1, gdal.GDT_UInt32)
        sgt = (gt[0] + y * gt[2], gt[1], gt[2], gt[3] + y * gt[5], gt[4], gt[5])
        strip.SetGeoTransform(sgt)
        strip.SetProjection(class_ds.GetProjection())
        xs = [sgt[0], sgt[0] + W * sgt[1]]
        ys = [sgt[3], sgt[3] + h * sgt[5]]
        raw.SetSpatialFilterRect(min(xs), min(ys), max(xs), max(ys))
        with gdal_errors("cannot rasterise the polygons", progress):
            err = gdal.RasterizeLayer(strip, [1], raw, options=["ATTRIBUTE=pid"])
        if err not in (0, None):
            raise ExportError(f"cannot rasterise the polygons: {gdal.GetLastErrorMsg()}")
        ids = strip.GetRasterBand(1).ReadAsArray().ravel()
        strip = None
        conf = conf_read(0, y, W, h).ravel()
        ok = (ids > 0) & ~np.isnan(conf)
        if ok.any():
            u, inv = np.unique(ids[ok], return_inverse=True)
            sums[u] += np.bincount(inv, weights=conf[ok])
            counts[u] += np.bincount(inv)
    raw.SetSpatialFilter(None)
    return sums, counts


def _create_layer_styles(ds, table: str, geom_col: str, qml: str, sld: str, title: str) -> None:
    """The ``layer_styles`` table as QGIS's OGR provider writes and reads it, with one default style."""
    from osgeo import ogr

    lyr = ds.CreateLayer("layer_styles", geom_type=ogr.wkbNone, options=["ASPATIAL_VARIANT=GPKG_ATTRIBUTES"])
    for name, typ, width in (
        ("f_table_catalog", ogr.OFTString, 256),
        ("f_table_schema", ogr.OFTString, 256),
        ("f_table_name", ogr.OFTString, 256),
        ("f_geometry_column", ogr.OFTString, 256),
        ("styleName", ogr.OFTString, 30),
        ("styleQML", ogr.OFTString, 0),
        ("styleSLD", ogr.OFTString, 0),
        ("useAsDefault", ogr.OFTInteger, 0),
        ("description", ogr.OFTString, 0),
        ("owner", ogr.OFTString, 30),
        ("ui", ogr.OFTString, 30),
        ("update_time", ogr.OFTDateTime, 0),
    ):
        fd = ogr.FieldDefn(name, typ)
        if width:
            fd.SetWidth(width)
        if name == "useAsDefault":
            fd.SetSubType(ogr.OFSTBoolean)
        lyr.CreateField(fd)
    f = ogr.Feature(lyr.GetLayerDefn())
    f["f_table_catalog"] = ""
    f["f_table_schema"] = ""
    f["f_table_name"] = table
    f["f_geometry_column"] = geom_col
    f["styleName"] = table[:30]
    f["styleQML"] = qml
    f["styleSLD"] = sld
    f["useAsDefault"] = 1
    f["description"] = title
    f["owner"] = ""
    now = _dt.datetime.now(_dt.timezone.utc)
    f.SetField("update_time", now.year, now.month, now.day, now.hour, now.minute, now.second, 0)
    if lyr.CreateFeature(f) != 0:
        raise ExportError("cannot store the style in the GeoPackage")


def export_polygons(
    run: RunInfo,
    staging: Staging,
    vector_format: str = "gpkg",
    mmu_ha: float = 0.0,
    dissolve: bool = False,
    progress: ProgressSpan | None = None,
) -> dict:
    """Polygonise ``run.classes_path`` into ``staging``; returns statistics (polygons, area_ha per class, ...)."""
    try:
        return _export_polygons(run, staging, vector_format, mmu_ha, dissolve, progress)
    except ExportError as exc:
        # drop the frames (and with them the open GDAL/OGR datasets) before the staging folder is removed:
        # a file still open cannot be deleted on Windows
        raise exc.with_traceback(None) from None


def _export_polygons(run, staging, vector_format, mmu_ha, dissolve, progress) -> dict:
    from osgeo import gdal, ogr

    vector_format = (vector_format or "gpkg").lower()
    if vector_format not in VECTOR_FORMATS:
        raise ExportError(f"unknown vector format {vector_format!r}: use {one_of(VECTOR_FORMATS)}")
    if mmu_ha is not None and mmu_ha < 0:
        raise ExportError(f"the minimum mapping unit must be 0 or more hectares, got {mmu_ha}")
    progress = progress or ProgressSpan()
    spec = kind("polygons").format(vector_format)
    driver_name = spec.driver
    src = gdal.Open(str(run.classes_path))
    if src is None:
        raise ExportError(f"GDAL cannot open {run.classes_path}")
    cell_m2 = _cell_area_m2(src)
    stats: dict = {"mmu_ha": mmu_ha or 0.0, "mmu_cells": 0, "dissolved": bool(dissolve), "cell_area_m2": cell_m2}

    # 1. minimum mapping unit
    class_path = run.classes_path
    if mmu_ha:
        cells = mmu_cells(mmu_ha, cell_m2)
        stats["mmu_cells"] = cells
        mapped = valid_cells(run.classes_path)
        if cells > mapped:
            raise ExportError(
                f"the minimum mapping unit of {mmu_ha:g} ha is larger than the whole classified map "
                f"({mapped * cell_m2 / 1e4:g} ha): nothing would be left to map; give a smaller --mmu-ha"
            )
        if cells > 1:
            class_path = staging.dir / "work_sieved.tif"
            _sieve(run.classes_path, class_path, cells, progress.span(0.0, 0.2))
    progress.check()
    class_ds = gdal.Open(str(class_path))
    band = class_ds.GetRasterBand(1)
    mask = band.GetMaskBand() if band.GetNoDataValue() is not None else None
    srs = class_ds.GetSpatialRef()

    # 2. polygonize into a scratch GeoPackage
    work = ogr.GetDriverByName("GPKG").CreateDataSource(str(staging.dir / "work_polygons.gpkg"))
    if work is None:
        raise ExportError(f"cannot write in {staging.outdir}: {gdal.GetLastErrorMsg()}")
    raw = work.CreateLayer("raw", srs=srs, geom_type=ogr.wkbPolygon, options=["SPATIAL_INDEX=NO"])
    raw.CreateField(ogr.FieldDefn("class_code", ogr.OFTInteger))
    raw.CreateField(ogr.FieldDefn("pid", ogr.OFTInteger64))
    raw.StartTransaction()
    with gdal_errors("polygonising failed", progress):
        err = gdal.Polygonize(
            band, mask, raw, 0, [], callback=progress.span(0.2, 0.55).gdal_callback("polygonising the class raster")
        )
    progress.check()
    if err not in (0, None):
        raise ExportError(f"polygonising failed: {gdal.GetLastErrorMsg()}")
    raw.CommitTransaction()
    n = raw.GetFeatureCount()
    stats["patches"] = n

    # 3. mean confidence per polygon
    conf_read = _confidence_reader(run.confidence_path)
    if conf_read is not None:
        cds = conf_read.ds
        if (cds.RasterXSize, cds.RasterYSize) != (class_ds.RasterXSize, class_ds.RasterYSize):
            conf_read = None
    sums = counts = None
    if conf_read is not None and n:
        work.ExecuteSQL('UPDATE "raw" SET pid = fid')
        work.ExecuteSQL("SELECT CreateSpatialIndex('raw', 'geom')")
        raw = work.GetLayerByName("raw")
        sums, counts = _mean_confidence(work, raw, class_ds, conf_read, n, progress.span(0.55, 0.8))

    # 4. the final layer
    by_code = run.class_by_code()
    area_of = _area_function(srs)
    out_name = polygon_file_name(run, vector_format)
    out_path = staging.path(out_name)
    drv = ogr.GetDriverByName(driver_name)
    out = drv.CreateDataSource(str(out_path))
    if out is None:
        raise ExportError(f"cannot write {out_name}: {gdal.GetLastErrorMsg()}")
    lname = layer_name(run)
    geom_type = ogr.wkbMultiPolygon if dissolve else ogr.wkbPolygon
    lco = list(spec.creation_options)
    lyr = out.CreateLayer(lname, srs=srs, geom_type=geom_type, options=lco)
    if lyr is None:
        raise ExportError(f"cannot create the layer in {out_name}: {gdal.GetLastErrorMsg()}")
    for fname, ftype, width, prec in (
        ("class_code", ogr.OFTInteger, 0, 0),
        ("class_name", ogr.OFTString, 64, 0),
        ("color", ogr.OFTString, 7, 0),
        ("area_ha", ogr.OFTReal, 18, 4),
        ("confidence", ogr.OFTReal, 8, 4),
    ):
        fd = ogr.FieldDefn(fname, ftype)
        if width:
            fd.SetWidth(width)
        if prec:
            fd.SetPrecision(prec)
        lyr.CreateField(fd)
    defn = lyr.GetLayerDefn()
    area_by_class: dict[int, float] = {}
    lyr.StartTransaction()
    p = progress.span(0.8, 0.97)

    def write(code, geom, area_m2, conf):
        c = by_code.get(code)
        f = ogr.Feature(defn)
        f.SetGeometryDirectly(geom)
        f["class_code"] = int(code)
        f["class_name"] = c.name if c else f"class {code}"
        f["color"] = c.color if c else "#888888"
        f["area_ha"] = round(area_m2 / 1e4, 4)
        if conf is not None:
            f["confidence"] = round(float(conf), 4)
        if lyr.CreateFeature(f) != 0:
            raise ExportError(f"cannot write a polygon to {out_name}: {gdal.GetLastErrorMsg()}")

    raw.ResetReading()
    written = 0
    if not dissolve:
        for i, feat in enumerate(raw):
            if i % 2000 == 0:
                p(i / max(1, n), "writing the polygons")
            code = feat.GetFieldAsInteger(0)
            fid = feat.GetFID()
            g = feat.GetGeometryRef().Clone()
            a = area_of(g)
            area_by_class[code] = area_by_class.get(code, 0.0) + a
            conf = None
            if counts is not None and counts[fid] > 0:
                conf = sums[fid] / counts[fid]
            write(code, g, a, conf)
            written += 1
    else:
        groups: dict[int, list] = {}
        for i, feat in enumerate(raw):
            if i % 2000 == 0:
                p(0.7 * i / max(1, n), "collecting the polygons per class")
            code = feat.GetFieldAsInteger(0)
            fid = feat.GetFID()
            g = feat.GetGeometryRef().Clone()
            a = area_of(g)
            grp = groups.setdefault(code, [ogr.Geometry(ogr.wkbMultiPolygon), 0.0, 0.0, 0])
            grp[0].AddGeometryDirectly(g)
            grp[1] += a
            if counts is not None:
                grp[2] += sums[fid]
                grp[3] += int(counts[fid])
        for code in sorted(groups):
            mp, a, s, k = groups.pop(code)
            area_by_class[code] = a
            write(code, mp, a, (s / k) if (counts is not None and k) else None)
            written += 1
    lyr.CommitTransaction()
    stats["polygons"] = written
    stats["area_ha"] = {
        (by_code[c].name if c in by_code else f"class {c}"): round(a / 1e4, 4) for c, a in sorted(area_by_class.items())
    }
    p(1.0, "storing the style")

    # 5. style
    qml = qml_polygons(run.classes)
    sld = sld_polygons(lname, run.classes)
    if vector_format == "gpkg":
        _create_layer_styles(out, lname, "geom", qml, sld, f"land cover of {run.name}")
    lyr = None
    out = None
    raw = None
    work = None
    class_ds = None
    stem = out_name.rsplit(".", 1)[0]
    if vector_format != "gpkg":
        staging.path(f"{stem}.qml").write_text(qml, encoding="utf-8")
        staging.path(f"{stem}.sld").write_text(sld, encoding="utf-8")
        staging.adopt(stem)
    for scratch in ("work_polygons.gpkg", "work_sieved.tif"):
        for f in staging.dir.glob(scratch + "*"):
            f.unlink()
    progress(1.0, f"{written} polygons")
    stats["file"] = str(staging.outdir / out_name)
    stats["layer"] = lname
    return stats
