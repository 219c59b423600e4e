"""What a classified raster holds: class codes, names, colours, pixel counts per class and provenance.

The map is read block by block (memory bounded by one strip of rows), nodata excluded. Names and colours come
from the raster's category names and colour table (the engine writes both), else from the run's summary
JSON, else ``class <code>``. Provenance: the run's ``<run>_summary.json`` (model, request, date) and, for a
corrected map (``<run>_corrected.tif``), the edit log ``<run>_edits.gpkg``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..progress import ACCURACY, Progress
from ..run_names import CORRECTED_SUFFIX, LOG_SUFFIX, MAP_SUFFIXES, summary_name
from .errors import AssessmentError

DEFAULT_WINDOW_M = 640.0  # EuroSAT: 64 px at 10 m
FALLBACK_COLORS = (
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#bcf60c",
    "#fabebe",
)
RUN_SUFFIXES = MAP_SUFFIXES


@dataclass
class MapInfo:
    """A classified raster: its grid, classes and the number of pixels of each class."""

    path: str
    width: int
    height: int
    geotransform: tuple
    crs_wkt: str
    nodata: Optional[int]
    counts: dict  # code -> pixels (classes with at least one pixel)
    names: dict  # code -> name (every code the raster names, mapped or not)
    colors: dict  # code -> "#rrggbb"
    pixel_area_m2: float
    geographic: bool = False
    window_m: float = DEFAULT_WINDOW_M  # the model's window (patch x gsd): the labelling box
    provenance: dict = field(default_factory=dict)

    @property
    def codes(self) -> list:
        """Codes of the classes present in the map, in code order."""
        return sorted(c for c, n in self.counts.items() if n > 0)

    @property
    def total_pixels(self) -> int:
        return int(sum(self.counts.values()))

    def name(self, code: int) -> str:
        return self.names.get(int(code), f"class {int(code)}")

    def color(self, code: int) -> str:
        return self.colors.get(int(code), FALLBACK_COLORS[int(code) % len(FALLBACK_COLORS)])

    def code_of(self, name: str) -> Optional[int]:
        """The code of a class name (case-insensitive), or None."""
        key = str(name).strip().casefold()
        for code, n in self.names.items():
            if n.casefold() == key:
                return int(code)
        return None

    def pixel_to_xy(self, rows, cols):
        """Pixel centres (rows, cols arrays) -> map coordinates."""
        gt = self.geotransform
        rows = np.asarray(rows, float) + 0.5
        cols = np.asarray(cols, float) + 0.5
        return gt[0] + cols * gt[1] + rows * gt[2], gt[3] + cols * gt[4] + rows * gt[5]

    def xy_to_pixel(self, x, y):
        """Map coordinates -> (rows, cols) integer arrays (may be outside the raster)."""
        gt = self.geotransform
        det = gt[1] * gt[5] - gt[2] * gt[4]
        x = np.asarray(x, float) - gt[0]
        y = np.asarray(y, float) - gt[3]
        col = (gt[5] * x - gt[2] * y) / det
        row = (-gt[4] * x + gt[1] * y) / det
        return np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "size_px": [self.width, self.height],
            "geotransform": list(self.geotransform),
            "crs_wkt": self.crs_wkt,
            "nodata": self.nodata,
            "pixel_area_m2": self.pixel_area_m2,
            "counts": {str(k): int(v) for k, v in sorted(self.counts.items())},
            "names": {str(k): v for k, v in sorted(self.names.items())},
            "colors": {str(k): v for k, v in sorted(self.colors.items())},
            "window_m": self.window_m,
            "provenance": self.provenance,
        }


def _open(path):
    from osgeo import gdal

    from .. import gdalutil

    ds = gdalutil.open_or_none(gdal.Open, path)
    if ds is None:
        raise AssessmentError(f"cannot open the map {path}: is it a raster GDAL can read?")
    return ds


def iter_blocks(ds, rows_per_block: Optional[int] = None) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, array) strips of band 1, a few MB each."""
    band = ds.GetRasterBand(1)
    w, h = ds.RasterXSize, ds.RasterYSize
    if rows_per_block is None:
        bh = band.GetBlockSize()[1] or 256
        rows_per_block = max(bh, (4 << 20) // max(w, 1) // bh * bh)
    for y in range(0, h, rows_per_block):
        n = min(rows_per_block, h - y)
        yield y, band.ReadAsArray(0, y, w, n)


def _hex(entry) -> str:
    return "#{:02x}{:02x}{:02x}".format(*[int(v) for v in entry[:3]])


def run_prefix(path) -> Optional[Path]:
    """``/d/x_classes.tif`` or ``/d/x_corrected.tif`` -> ``/d/x`` (None for other names)."""
    p = Path(path)
    for suffix in RUN_SUFFIXES:
        if p.name.endswith(suffix):
            return p.with_name(p.name[: -len(suffix)])
    return None


def provenance(path) -> dict:
    """Model, run and corrections of a map the plugin made ({} for any other raster)."""
    out: dict = {"map": str(path)}
    prefix = run_prefix(path)
    if prefix is None:
        return out
    summary = prefix.with_name(summary_name(prefix.name))
    if summary.is_file():
        from ..errors import ClassificationError
        from ..run_summary import read_run_summary

        try:
            s = read_run_summary(summary)  # checked at the door: a hand-edited summary adds no provenance
        except ClassificationError:
            s = {}
        model = s.get("model") or {}
        grid = s.get("grid") or {}
        out["summary"] = str(summary)
        out["model"] = {k: model.get(k) for k in ("name", "title", "architecture", "card", "patch_size", "gsd_m")}
        acc = (model.get("metrics") or {}).get("test_accuracy") or (model.get("metrics") or {}).get("accuracy")
        if acc is not None:
            out["model"]["test_accuracy"] = acc
        out["run"] = {
            "created_utc": s.get("created_utc"),
            "input": (s.get("input") or {}).get("path"),
            "stride_px": grid.get("stride_px"),
            "cell_size_m": grid.get("cell_size_m"),
            "device": s.get("device"),
        }
    if Path(path).name.endswith(CORRECTED_SUFFIX):
        log = prefix.with_name(prefix.name + LOG_SUFFIX)
        out["corrections"] = {"corrected_map": True, "edit_log": str(log) if log.is_file() else None}
        if log.is_file():
            out["corrections"]["edits"] = _count_features(log, "edits")
    return out


def _count_features(path: Path, layer: str) -> Optional[int]:
    from osgeo import ogr

    try:
        ds = ogr.Open(str(path))
        lyr = ds.GetLayerByName(layer) if ds is not None else None
        return int(lyr.GetFeatureCount()) if lyr is not None else None
    except RuntimeError:
        return None


def _pixel_area_m2(ds) -> tuple[float, bool]:
    gt = ds.GetGeoTransform()
    area = abs(gt[1] * gt[5] - gt[2] * gt[4])
    srs = ds.GetSpatialRef()
    if srs is None:
        return area, False
    if srs.IsGeographic():  # degrees: the area of a pixel at the map's centre latitude
        lat = gt[3] + gt[5] * ds.RasterYSize / 2
        a = srs.GetSemiMajor()
        m_per_deg = math.pi * a / 180.0
        return area * m_per_deg**2 * math.cos(math.radians(lat)), True
    return area * srs.GetLinearUnits() ** 2, False


def read_map(path, progress=None, is_cancelled=None) -> MapInfo:
    """Read the class counts of a classified raster (band 1, integer codes, nodata excluded)."""
    from osgeo import gdal

    ds = _open(path)
    band = ds.GetRasterBand(1)
    if band.DataType not in (gdal.GDT_Byte, gdal.GDT_UInt16, gdal.GDT_Int16, gdal.GDT_UInt32, gdal.GDT_Int32):
        raise AssessmentError(
            f"{Path(path).name} holds {gdal.GetDataTypeName(band.DataType)} values, not class codes: "
            "pick the land-cover (classes) raster"
        )
    if ds.GetGeoTransform(can_return_null=True) is None:
        raise AssessmentError(f"{Path(path).name} is not georeferenced: the map needs a grid to place sample points")
    nodata = band.GetNoDataValue()
    nodata = None if nodata is None else int(nodata)
    counts: dict = {}
    h = ds.RasterYSize
    for y, arr in iter_blocks(ds):
        if is_cancelled is not None and is_cancelled():
            raise AssessmentError("cancelled")
        a = arr.astype(np.int64, copy=False).ravel()
        if nodata is not None:
            a = a[a != nodata]
        if a.size:
            if a.min() < 0:
                raise AssessmentError(f"{Path(path).name} has negative class codes: not a classified map")
            bc = np.bincount(a)
            for code in np.flatnonzero(bc):
                counts[int(code)] = counts.get(int(code), 0) + int(bc[code])
        if progress is not None:
            progress(Progress(min(1.0, (y + arr.shape[0]) / h), ACCURACY, "counting pixels per class"))
    if not counts:
        raise AssessmentError(f"{Path(path).name} has no classified pixel (all nodata)")
    if len(counts) > 255:
        raise AssessmentError(f"{Path(path).name} has {len(counts)} distinct values: not a classified map")
    names: dict = {}
    colors: dict = {}
    cats = band.GetCategoryNames() or []
    for code, name in enumerate(cats):
        if name:
            names[code] = str(name)
    ct = band.GetColorTable()
    if ct is not None:
        for code in range(ct.GetCount()):
            if code in counts or code in names:
                colors[code] = _hex(ct.GetColorEntry(code))
    if not names and ct is None and len(counts) > 64:
        raise AssessmentError(
            f"{Path(path).name} has {len(counts)} distinct values and no class names or colours: it looks like "
            "imagery, not a land-cover map; pick the classes raster (e.g. *_classes.tif)"
        )
    prov = provenance(path)
    window_m = DEFAULT_WINDOW_M
    model = prov.get("model") or {}
    if model.get("patch_size") and model.get("gsd_m"):
        window_m = float(model["patch_size"]) * float(model["gsd_m"])
    for code in counts:
        names.setdefault(code, f"class {code}")
    area, geographic = _pixel_area_m2(ds)
    srs = ds.GetSpatialRef()
    return MapInfo(
        path=str(path),
        width=ds.RasterXSize,
        height=ds.RasterYSize,
        geotransform=tuple(ds.GetGeoTransform()),
        crs_wkt=srs.ExportToWkt() if srs is not None else "",
        nodata=nodata,
        counts=counts,
        names=names,
        colors=colors,
        pixel_area_m2=float(area),
        geographic=geographic,
        window_m=window_m,
        provenance=prov,
    )


def confidence_path(map_path) -> Optional[Path]:
    """The run's ``<run>_confidence.tif`` beside a ``<run>_classes.tif`` / ``<run>_corrected.tif`` (or None)."""
    prefix = run_prefix(map_path)
    if prefix is None:
        return None
    p = prefix.with_name(prefix.name + "_confidence.tif")
    return p if p.is_file() else None


def confidence_at(map_path, rows, cols) -> Optional[np.ndarray]:
    """The model's confidence (0-1, NaN on nodata) at map pixels, when the run's confidence raster is there and
    on the same grid; None otherwise. The engine stores uint8 = round(p * 254) with scale 1/254, nodata 255, or
    float32 with nodata NaN."""
    path = confidence_path(map_path)
    if path is None or len(rows) == 0:
        return None
    ds, ref = _open(path), _open(map_path)
    if (ds.RasterXSize, ds.RasterYSize) != (ref.RasterXSize, ref.RasterYSize):
        return None
    band = ds.GetRasterBand(1)
    raw = values_at(path, rows, cols, np.float64)
    nodata = band.GetNoDataValue()
    bad = ~np.isfinite(raw) if nodata is None else (~np.isfinite(raw)) | (raw == nodata)
    scale = band.GetScale()
    if scale in (None, 1.0) and band.DataType == 1:  # GDT_Byte without a scale: the engine's 0..254
        scale = 1.0 / 254.0
    out = raw * (scale or 1.0) + (band.GetOffset() or 0.0)
    out[bad] = np.nan
    return np.clip(out, 0.0, 1.0)


def values_at(path, rows, cols, dtype=np.int64) -> np.ndarray:
    """Band-1 values at pixel (rows, cols); the caller makes sure they are inside the raster."""
    ds = _open(path)
    band = ds.GetRasterBand(1)
    out = np.empty(len(rows), dtype)
    order = np.argsort(rows, kind="stable")
    rows = np.asarray(rows)[order]
    cols = np.asarray(cols)[order]
    i = 0
    while i < len(rows):  # one read per run of nearby rows
        r0 = int(rows[i])
        j = int(np.searchsorted(rows, r0 + 256, side="left"))
        c0, c1 = int(cols[i:j].min()), int(cols[i:j].max())
        block = band.ReadAsArray(c0, r0, c1 - c0 + 1, int(rows[j - 1]) - r0 + 1)
        out[order[i:j]] = block[rows[i:j] - r0, cols[i:j] - c0]
        i = j
    return out
