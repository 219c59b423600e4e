"""The working raster: the source seen at the model's gsd in a metric CRS, cut to the AOI.

- A source in a metric projected CRS, north-up, with pixels within ``GSD_TOLERANCE`` (1 %) of the
  model's gsd is read as it is (no resampling; the EuroSAT GeoTIFFs are 9.99-10.06 m).
- Anything else goes through a warped VRT (``gdal.Warp(format="VRT")``, computed on the fly while
  reading, nothing written): to the same CRS when it is metric, otherwise (geographic, feet...) to
  the UTM zone of the raster's centre (zone from the longitude, north/south from the latitude).
  Resampling: ``average`` when the source is finer than the gsd, ``bilinear`` when coarser.
  The warped VRT always carries an alpha band, so areas outside the source footprint are nodata.
- The AOI (bounds in any CRS) is transformed to the working CRS, intersected with the raster and
  becomes a pixel window (offsets) into the dataset that is read: no copy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from osgeo import gdal, osr

from . import gdalutil
from .bands import BandMapping
from .errors import ClassificationError
from .validity import internal_mask_band

GSD_TOLERANCE = 0.01
MAX_SIDE_PX = 2**31 - 1  # GDAL's limit on a raster side


def _gigapixels(n: float) -> str:
    return f"{n / 1e9:.3g} gigapixels" if n >= 1e8 else f"{n / 1e6:.3g} megapixels"


def check_work_size(width: int, height: int, gsd: float, max_pixels: Optional[int], why: str = "") -> None:
    """Refuse a working raster above ``max_pixels`` (0 or None: no limit) before any work starts.

    A small raster with huge pixels, or a model card with a tiny ground sampling distance, is
    resampled to the model's gsd and can become billions of pixels (hours of work)."""
    n = float(width) * float(height)
    if not max_pixels or n <= max_pixels:
        return
    raise ClassificationError(
        f"the working raster would be {width:,} x {height:,} px at {gsd:g} m ({_gigapixels(n)}){why}, above the "
        f"size limit of {_gigapixels(max_pixels)}: choose a smaller area of interest, or raise the limit "
        "(--max-pixels N, 0 = no limit)"
    )


def check_has_data(src: gdal.Dataset, bands, window=None) -> None:
    """Refuse a raster GDAL opens but that holds no image data in ``bands`` (a VRT without
    sources, a sparse GeoTIFF none of whose tiles was written): it would be classified as zeros."""
    xo, yo, w, h = window or (0, 0, src.RasterXSize, src.RasterYSize)
    if w <= 0 or h <= 0:
        return
    for b in bands:
        try:
            flags, _ = src.GetRasterBand(int(b)).GetDataCoverageStatus(xo, yo, w, h)
        except (RuntimeError, TypeError, ValueError, AttributeError):
            return  # not implemented by the driver: cannot tell, read as usual
        if not flags & gdal.GDAL_DATA_COVERAGE_STATUS_EMPTY or flags & gdal.GDAL_DATA_COVERAGE_STATUS_DATA:
            return
    where = " in the area of interest" if window else ""
    if src.GetDriver() is not None and src.GetDriver().ShortName == "VRT":  # a missing source reads as empty
        gdal.ErrorReset()
        try:
            with gdalutil._Quiet():
                src.GetRasterBand(int(bands[0])).ReadRaster(xo, yo, 1, 1)
            msg = gdal.GetLastErrorMsg()
        except RuntimeError as exc:
            msg = str(exc)
        if msg:
            raise ClassificationError(
                f"cannot read {src.GetDescription()}: a source of the VRT is missing or unreadable ({msg})"
            )
    raise ClassificationError(
        f"{src.GetDescription()} holds no image data{where} (no tiles or sources were written in bands "
        f"{', '.join(map(str, bands))}): nothing to classify"
    )


@dataclass
class WorkingRaster:
    ds: gdal.Dataset  # what is read: the source or a warped VRT
    source: gdal.Dataset
    srs: osr.SpatialReference
    geotransform: tuple  # of the working area (xoff/yoff applied), north-up
    xoff: int
    yoff: int
    width: int
    height: int
    data_bands: list[int]  # 1-based bands of `ds`, one per model band
    alpha_band: Optional[int]  # 1-based band of `ds`, or None
    mask_band_of: Optional[int]  # band whose per-dataset mask (internal mask) gives validity
    nodata: list[Optional[float]]  # per data band (declared nodata), None when absent
    resampled: bool
    resampling: Optional[str]
    crs_label: str
    source_window: Optional[tuple[int, int, int, int]] = None  # AOI in source pixels (for sampling)
    notes: list[str] = field(default_factory=list)
    source_pixel_m: Optional[float] = None  # the source's pixel size in metres (before any resampling)

    @property
    def pixel_size(self) -> tuple[float, float]:
        return abs(self.geotransform[1]), abs(self.geotransform[5])

    def describe(self) -> dict:
        gt = self.geotransform
        return {
            "crs": self.crs_label,
            "crs_wkt": self.srs.ExportToWkt(),
            "resampled": self.resampled,
            "resampling": self.resampling,
            "pixel_size_m": [abs(gt[1]), abs(gt[5])],
            "size_px": [self.width, self.height],
            "bounds": [gt[0], gt[3] + self.height * gt[5], gt[0] + self.width * gt[1], gt[3]],
            "source_window_px": list(self.source_window) if self.source_window else None,
            "notes": self.notes,
        }


def utm_epsg(lon: float, lat: float) -> int:
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def _is_metric(srs: osr.SpatialReference) -> bool:
    """Projected in metres with a map scale close to 1: not (pseudo-)Mercator, whose "metres" are
    1/cos(latitude) ground metres (Web Mercator imagery is common in QGIS: it goes to UTM)."""
    if not srs.IsProjected() or abs(srs.GetLinearUnits() - 1.0) > 1e-9:
        return False
    proj = (srs.GetAttrValue("PROJECTION") or "").lower()
    return not ("mercator" in proj and "transverse" not in proj)


def _centre_lonlat(ds, srs) -> tuple[float, float]:
    gt = ds.GetGeoTransform()
    cx = gt[0] + gt[1] * ds.RasterXSize / 2 + gt[2] * ds.RasterYSize / 2
    cy = gt[3] + gt[4] * ds.RasterXSize / 2 + gt[5] * ds.RasterYSize / 2
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(gdalutil.gis_order(srs), wgs)
    lon, lat, _ = ct.TransformPoint(cx, cy)
    return lon, lat


def _transform_bounds(bounds, src_srs, dst_srs):
    if src_srs.IsSame(dst_srs):
        return tuple(bounds)
    ct = osr.CoordinateTransformation(gdalutil.gis_order(src_srs), gdalutil.gis_order(dst_srs))
    try:
        out = ct.TransformBounds(float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3]), 21)
    except RuntimeError as exc:
        raise ClassificationError(f"the area of interest cannot be transformed to the raster's CRS: {exc}") from None
    if out is None or not all(math.isfinite(v) for v in out):
        raise ClassificationError("the area of interest cannot be transformed to the raster's CRS")
    return tuple(out)


# GDAL's HTTP reads have no time limit by default: a stalled server would hang a run (and a QGIS
# task) for ever. Unless the user set them, these limits apply process-wide to network sources.
NETWORK_TIMEOUTS = {"GDAL_HTTP_CONNECTTIMEOUT": "15", "GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_MAX_RETRY": "0"}
NETWORK_PREFIXES = ("/vsicurl", "/vsis3", "/vsigs", "/vsiaz", "/vsiadls", "/vsioss", "/vsiswift", "/vsiwebhdfs")


def _is_network(source: str) -> bool:
    s = source.lower()
    return "://" in s or any(s.startswith(p) or f"/{p.strip('/')}/" in s for p in NETWORK_PREFIXES)


def _refuse_special_file(path: str) -> None:
    """A FIFO, device or socket would block or never end (``/dev/zero``, a named pipe)."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise ClassificationError(f"{path} is not a regular file (a pipe, device or socket): give a raster file")


def open_source(path) -> gdal.Dataset:
    _refuse_special_file(str(path))
    if _is_network(str(path)):
        for key, value in NETWORK_TIMEOUTS.items():
            if gdal.GetConfigOption(key) is None:
                gdal.SetConfigOption(key, value)
    ds = gdalutil.call(
        f"cannot open {path} as a raster (missing, corrupt or not a format GDAL reads)", gdal.Open, str(path)
    )
    if ds.RasterCount == 0:
        raise ClassificationError(f"{path} has no raster bands (is it a vector file or a container?)")
    files = [os.path.normcase(os.path.abspath(f)) for f in ds.GetFileList() or []]
    if len(files) != len(set(files)):  # GDAL lists a VRT that reaches itself twice
        raise ClassificationError(f"{path} refers to itself (a recursive VRT): it has no image data to read")
    return ds


def prepare(
    src: gdal.Dataset,
    mapping: BandMapping,
    gsd: float,
    bounds: Optional[Sequence[float]] = None,
    bounds_crs: Optional[str] = None,
    max_pixels: Optional[int] = None,
    snap: int = 1,
) -> WorkingRaster:
    """The working raster; ``max_pixels`` (None/0: no limit) refuses one larger than that
    (:func:`check_work_size`) before anything is read. ``snap`` (the stride): an area of interest is widened to
    whole ``snap``-px cells of the whole raster's grid, so its cells are the whole-raster run's cells."""
    path = src.GetDescription()
    gt = src.GetGeoTransform(can_return_null=True)
    srs = src.GetSpatialRef()
    has_gcps = src.GetGCPCount() >= 3 and src.GetGCPSpatialRef() is not None
    if (gt is None or srs is None) and not has_gcps:
        missing = "coordinate reference system" if gt is not None else "geotransform"
        raise ClassificationError(
            f"{path} has no georeference (no {missing}): the engine needs to know the pixel size "
            "and where the image lies; georeference it first (e.g. QGIS Georeferencer) or add a world file"
        )
    notes: list[str] = []
    if gt is None or srs is None:  # GCPs only
        srs_in = src.GetGCPSpatialRef()
        warp_needed = True
        tmp = gdalutil.call(
            "cannot use the ground control points", gdal.AutoCreateWarpedVRT, src, None, srs_in.ExportToWkt()
        )
        centre_ds, centre_srs = tmp, srs_in
        notes.append("georeferenced by ground control points: warped")
    else:
        srs_in = srs
        centre_ds, centre_srs = src, srs
        warp_needed = False

    if _is_metric(srs_in):
        work_srs = gdalutil.gis_order(srs_in)
    else:
        lon, lat = _centre_lonlat(centre_ds, centre_srs)
        work_srs = osr.SpatialReference()
        work_srs.ImportFromEPSG(utm_epsg(lon, lat))
        work_srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        why = (
            "geographic"
            if srs_in.IsGeographic()
            else "not in metres"
            if abs(srs_in.GetLinearUnits() - 1.0) > 1e-9
            else "Mercator (scale varies with latitude)"
        )
        notes.append(f"source CRS is {why}: processed in {gdalutil.srs_label(work_srs)} (UTM zone of the centre)")
        warp_needed = True

    if not warp_needed:
        ok = (
            gt[2] == 0
            and gt[4] == 0
            and gt[5] < 0
            and gt[1] > 0
            and abs(gt[1] - gsd) <= GSD_TOLERANCE * gsd
            and abs(-gt[5] - gsd) <= GSD_TOLERANCE * gsd
        )
        if not ok:
            warp_needed = True
            if gt[2] or gt[4]:
                notes.append("rotated geotransform: warped to a north-up grid")
            else:
                notes.append(f"pixel size {abs(gt[1]):g} x {abs(gt[5]):g} m: resampled to {gsd:g} m")

    bands = list(mapping.bands)
    why = ""
    if warp_needed:
        alpha_last = mapping.alpha_band is not None and mapping.alpha_band == src.RasterCount
        if mapping.alpha_band is not None and not alpha_last:
            notes.append(f"alpha band {mapping.alpha_band} is not the last band: it is ignored while warping")
        # First pass: the natural resolution of the source in the working CRS decides the resampling.
        probe = gdalutil.call(
            "cannot reproject the raster",
            gdal.Warp,
            "",
            src,
            format="VRT",
            dstSRS=work_srs.ExportToWkt(),
        )
        pgt = probe.GetGeoTransform()
        natural = (abs(pgt[1]) + abs(pgt[5])) / 2
        est_w = probe.RasterXSize * abs(pgt[1]) / gsd
        est_h = probe.RasterYSize * abs(pgt[5]) / gsd
        why = f" (source pixels ~{natural:.3g} m resampled to {gsd:g} m)"
        if max(est_w, est_h) > MAX_SIDE_PX:
            check_work_size(int(est_w), int(est_h), gsd, 1, why)  # cannot even be built
        alg = "average" if natural < gsd * (1 - GSD_TOLERANCE) else "bilinear"
        probe = None
        source_px = natural
        ds = gdalutil.call(
            "cannot build the warped VRT",
            gdal.Warp,
            "",
            src,
            format="VRT",
            dstSRS=work_srs.ExportToWkt(),
            xRes=gsd,
            yRes=gsd,
            targetAlignedPixels=True,
            resampleAlg=alg,
            dstAlpha=True,
            srcAlpha=alpha_last,
            multithread=False,
        )
        alpha_band = ds.RasterCount
        mask_of = None
        nodata = [ds.GetRasterBand(b).GetNoDataValue() for b in bands]
        resampling = alg
        if natural < gsd * (1 - GSD_TOLERANCE) or natural > gsd * (1 + GSD_TOLERANCE):
            if not any("resampled" in n for n in notes):
                notes.append(f"source pixels ~{natural:.3g} m: resampled to {gsd:g} m ({alg})")
    else:
        ds = src
        alpha_band = mapping.alpha_band
        mask_of = internal_mask_band(src, bands[0]) if alpha_band is None else None  # core/validity.py
        nodata = [src.GetRasterBand(b).GetNoDataValue() for b in bands]
        resampling = None
        source_px = (abs(gt[1]) + abs(gt[5])) / 2

    wgt = ds.GetGeoTransform()
    W, H = ds.RasterXSize, ds.RasterYSize
    xoff, yoff, width, height = 0, 0, W, H
    source_window = None
    if bounds is not None:
        if len(bounds) != 4:
            raise ClassificationError(f"bounds must be xmin ymin xmax ymax, got {list(bounds)}")
        xmin, ymin, xmax, ymax = (float(v) for v in bounds)
        if not (xmax > xmin and ymax > ymin):
            raise ClassificationError(f"bounds must have xmin < xmax and ymin < ymax, got {list(bounds)}")
        bsrs = gdalutil.srs_from_user(bounds_crs) if bounds_crs else gdalutil.gis_order(srs_in)
        axmin, aymin, axmax, aymax = _transform_bounds((xmin, ymin, xmax, ymax), bsrs, work_srs)
        rxmin, rymax = wgt[0], wgt[3]
        rxmax, rymin = wgt[0] + W * wgt[1], wgt[3] + H * wgt[5]
        ixmin, iymin = max(axmin, rxmin), max(aymin, rymin)
        ixmax, iymax = min(axmax, rxmax), min(aymax, rymax)
        if ixmin >= ixmax or iymin >= iymax:
            raise ClassificationError(
                f"the area of interest ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}"
                f"{' in ' + bounds_crs if bounds_crs else ''}) does not overlap the raster "
                f"(raster extent in {gdalutil.srs_label(work_srs)}: {rxmin:.1f}, {rymin:.1f}, {rxmax:.1f}, {rymax:.1f})"
            )
        c0, c1 = _snap_span((ixmin - wgt[0]) / wgt[1], (ixmax - wgt[0]) / wgt[1], snap, W)
        r0, r1 = _snap_span((iymax - wgt[3]) / wgt[5], (iymin - wgt[3]) / wgt[5], snap, H)
        xoff, yoff, width, height = c0, r0, max(0, c1 - c0), max(0, r1 - r0)
        cells = f", snapped to the raster's {snap} px cells" if snap > 1 else ""
        notes.append(f"area of interest: {width} x {height} px at offset ({xoff}, {yoff}){cells}")
        if not warp_needed:
            source_window = (xoff, yoff, width, height)
        elif gt is not None:
            source_window = _source_window(src, srs_in, work_srs, (ixmin, iymin, ixmax, iymax))
    check_work_size(width, height, gsd, max_pixels, why)
    gt_work = (wgt[0] + xoff * wgt[1], wgt[1], 0.0, wgt[3] + yoff * wgt[5], 0.0, wgt[5])
    return WorkingRaster(
        ds=ds,
        source=src,
        srs=work_srs,
        geotransform=gt_work,
        xoff=xoff,
        yoff=yoff,
        width=width,
        height=height,
        data_bands=bands,
        alpha_band=alpha_band,
        mask_band_of=mask_of,
        nodata=nodata,
        resampled=warp_needed,
        resampling=resampling,
        crs_label=gdalutil.srs_label(work_srs),
        source_window=source_window,
        notes=notes,
        source_pixel_m=source_px,
    )


def _snap_span(lo: float, hi: float, snap: int, size: int) -> tuple[int, int]:
    """Pixel span [lo, hi) (fractional pixels) widened to whole ``snap``-px cells from pixel 0, within [0, size]:
    a bound within a thousandth of a cell of a cell edge stays on that edge."""
    snap = max(1, int(snap))
    tol = 1e-6 if snap == 1 else 1e-3
    a = int(math.floor(lo / snap + tol)) * snap
    b = int(math.ceil(hi / snap - tol)) * snap
    return max(0, a), min(size, b)


def _source_window(src, src_srs, work_srs, bounds):
    """The AOI (in the working CRS) as a pixel window of the (north-up) source, for sampling."""
    gt = src.GetGeoTransform()
    if gt[2] or gt[4]:
        return None
    b = _transform_bounds(bounds, work_srs, src_srs)
    c0 = (b[0] - gt[0]) / gt[1]
    c1 = (b[2] - gt[0]) / gt[1]
    r0 = (b[3] - gt[3]) / gt[5]
    r1 = (b[1] - gt[3]) / gt[5]
    c0, c1 = sorted((c0, c1))
    r0, r1 = sorted((r0, r1))
    c0 = max(0, int(math.floor(c0)))
    r0 = max(0, int(math.floor(r0)))
    c1 = min(src.RasterXSize, int(math.ceil(c1)))
    r1 = min(src.RasterYSize, int(math.ceil(r1)))
    if c1 <= c0 or r1 <= r0:
        return None
    return (c0, r0, c1 - c0, r1 - r0)
