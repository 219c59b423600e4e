"""Reference data for the analysis: labels in a sample GeoPackage, or an existing reference.

An existing reference is a point or polygon layer with a class field, or a reference raster:

- points: each point in the map's CRS (transformed when the layer has another CRS), the map class read at the
  point; points outside the map or on nodata are reported and left out;
- polygons: every map pixel whose centre falls in a polygon is a reference pixel (SCP's area-based error
  matrix); this is a census of the polygons, not a probability sample of the map, which the report says;
- a raster: compared pixel by pixel on the map's grid (nearest neighbour, reprojected when needed).

Reference values (names or codes) map to the map's classes through ``mapping`` (value -> map class name);
without one, a value matches a class by its name (case-insensitive) or by its code. A value that maps to
nothing is one clear error listing every such value.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import AssessmentError
from .maps import MapInfo, values_at
from .sample_file import DESIGN_TABLE, LAYER, STATUS_LABELLED, STATUS_SKIPPED, STATUS_UNSURE, read_design


@dataclass
class Labels:
    """Labelled points (or pixels) ready for the estimators."""

    map_codes: np.ndarray
    ref_codes: np.ndarray
    source: str
    kind: str  # "sample" | "points" | "polygons" | "raster"
    notes: list = field(default_factory=list)
    design: dict = field(default_factory=dict)
    excluded: dict = field(default_factory=dict)  # reason -> count
    confidence: Optional[np.ndarray] = None  # the model's confidence at each labelled point (NaN: unknown)
    xy: Optional[np.ndarray] = None  # (n, 2) coordinates of the labelled points (a sample), in its CRS


@dataclass
class ReferenceRecords:
    """A vector reference as plain records, read by QGIS (``qgis_bridge.assess.reference_records``): each record
    is (geometry as WKB in the map's CRS, class value); ``source`` names it in messages, ``notes`` go to the report."""

    records: list
    source: str = "reference layer"
    notes: list = field(default_factory=list)


def _key(value) -> str:
    text = str(value).strip()
    try:
        f = float(text)
        if f.is_integer():
            return str(int(f))
    except ValueError:
        pass
    return text.casefold()


def resolve_mapping(values, info: MapInfo, mapping: Optional[dict] = None) -> dict:
    """Reference value -> map class code. Raises one error naming every value that maps to nothing."""
    table = {_key(k): v for k, v in (mapping or {}).items()}
    out: dict = {}
    unmapped = []
    for value in values:
        k = _key(value)
        target = table.get(k, value)
        if target is None or str(target).strip() == "":
            unmapped.append(str(value))
            continue
        code = info.code_of(str(target))
        if code is None:
            tk = _key(target)
            if tk.isdigit() and int(tk) in info.names:
                code = int(tk)
        if code is None:
            unmapped.append(str(value))
        else:
            out[value] = code
    if unmapped:
        known = ", ".join(info.name(c) for c in sorted(info.names))
        raise AssessmentError(
            f"reference class(es) {', '.join(repr(u) for u in sorted(set(unmapped)))} map to no class of the map "
            f"({known}): map them to a class in the mapping"
        )
    return out


def read_sample_labels(path) -> Labels:
    """Labels given in a sample GeoPackage made by :func:`.design.create_sampling_design`."""
    from osgeo import ogr

    ds = ogr.Open(str(path))
    if ds is None:
        raise AssessmentError(f"cannot open {path} as a GeoPackage")
    lyr = ds.GetLayerByName(LAYER)
    if lyr is None:
        raise AssessmentError(
            f"{Path(path).name} has no layer {LAYER!r}: is it a sample made by 'Create sampling design'?"
        )
    design = read_design(path)
    m, r, conf, xy = [], [], [], []
    has_conf = lyr.GetLayerDefn().GetFieldIndex("model_confidence") >= 0
    excluded = {"unlabelled": 0, STATUS_UNSURE: 0, STATUS_SKIPPED: 0}
    for f in lyr:
        check_sample_point(f, design, Path(path).name)  # a hand-edited row: one line naming it (issue 27)
        status = (f.GetField("status") or "").strip()
        if status == STATUS_LABELLED and f.IsFieldSetAndNotNull("ref_code"):
            m.append(int(f.GetField("map_code")))
            r.append(int(f.GetField("ref_code")))
            ok = has_conf and f.IsFieldSetAndNotNull("model_confidence")
            conf.append(float(f.GetField("model_confidence")) if ok else np.nan)
            g = f.GetGeometryRef()
            xy.append((g.GetX(), g.GetY()) if g is not None else (np.nan, np.nan))
        elif status in excluded:
            excluded[status] += 1
        else:
            excluded["unlabelled"] += 1
    notes = []
    if excluded[STATUS_UNSURE] or excluded[STATUS_SKIPPED]:
        notes.append(
            f"left out: {excluded[STATUS_UNSURE]} point(s) marked unsure and {excluded[STATUS_SKIPPED]} skipped; "
            "many such points in one class can bias its estimates"
        )
    if excluded["unlabelled"]:
        notes.append(f"{excluded['unlabelled']} point(s) not labelled yet")
    c = np.asarray(conf, float)
    return Labels(
        np.asarray(m, np.int64),
        np.asarray(r, np.int64),
        str(path),
        "sample",
        notes,
        design,
        excluded,
        c if np.isfinite(c).any() else None,
        np.asarray(xy, float).reshape(-1, 2),
    )


def check_sample_point(f, design: Optional[dict], name: str) -> None:
    """One row of a sample GeoPackage checked at the door: a known status, a location, and for a labelled
    point class codes the map knows (a hand edit to 300 raised a KeyError; an unknown status was counted
    as "not labelled yet" without a word)."""
    mapinfo = (design or {}).get("map") or {}
    strata = {int(k) for k in (mapinfo.get("counts") or {})} or set(range(255))
    classes = {int(k) for k in (mapinfo.get("names") or {})} | strata
    status = (f.GetField("status") or "").strip()
    g = f.GetGeometryRef()
    why = None
    if status not in ("", STATUS_LABELLED, STATUS_UNSURE, STATUS_SKIPPED):
        why = f"'status' is {status!r} ({STATUS_LABELLED}, {STATUS_UNSURE}, {STATUS_SKIPPED} or empty)"
    elif g is None or g.IsEmpty():
        why = "it has no location (its geometry is missing or damaged)"
    elif status == STATUS_LABELLED and f.IsFieldSetAndNotNull("ref_code"):
        m = f.GetField("map_code") if f.IsFieldSetAndNotNull("map_code") else None
        r = f.GetField("ref_code")
        if m not in strata:
            why = f"'map_code' is {m!r} (the map's classes drawn: {', '.join(map(str, sorted(strata)))})"
        elif r not in classes:
            why = f"'ref_code' is {r!r} (class codes {min(classes)}-{max(classes)})"
    if why:
        raise AssessmentError(
            f"the sample {name} is damaged or was edited by hand: point {f.GetFID()}: {why}; "
            "restore it from a backup or draw a new sample"
        )


def _transform_to_map(srs_from, info: MapInfo):
    from osgeo import osr

    if srs_from is None or not info.crs_wkt:
        return None
    dst = osr.SpatialReference()
    dst.ImportFromWkt(info.crs_wkt)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    src = srs_from.Clone()
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if src.IsSame(dst):
        return None
    return osr.CoordinateTransformation(src, dst)


def read_vector_reference(path, class_field: str, info: MapInfo, mapping=None, layer: Optional[str] = None) -> Labels:
    """A point or polygon layer with a class field, compared with the map (see the module docstring)."""
    from osgeo import ogr

    ds = ogr.Open(str(path))
    if ds is None:
        raise AssessmentError(f"cannot open the reference {path}: is it a vector file OGR can read?")
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    if lyr is None:
        raise AssessmentError(f"no layer {layer!r} in {path}")
    defn = lyr.GetLayerDefn()
    if defn.GetFieldIndex(class_field) < 0:
        fields = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
        raise AssessmentError(f"the reference has no field {class_field!r} (fields: {', '.join(fields)})")
    ct = _transform_to_map(lyr.GetSpatialRef(), info)
    notes = []
    if ct is not None:
        notes.append("reference transformed to the map's CRS")
    values, geoms = [], []
    for f in lyr:
        g = f.GetGeometryRef()
        v = f.GetField(class_field)
        if g is None or v is None or str(v).strip() == "":
            continue
        g = g.Clone()
        if ct is not None:
            g.Transform(ct)
        values.append(v)
        geoms.append(g)
    if not geoms:
        raise AssessmentError(f"the reference {Path(path).name} has no feature with a geometry and a {class_field!r}")
    return _compare_vector(values, geoms, info, mapping, str(path), notes)


def read_reference_records(records, info: MapInfo, mapping=None, source: str = "reference", notes=()) -> Labels:
    """A reference given as plain records ``(geometry as WKB in the map's CRS, class value)``: the features of a
    layer as QGIS reads them (its filter, its CRS, any provider; ``qgis_bridge.assess.reference_records``)."""
    from osgeo import ogr

    values, geoms = [], []
    for wkb, v in records:
        if wkb is None or v is None or str(v).strip() == "":
            continue
        g = ogr.CreateGeometryFromWkb(bytes(wkb))
        if g is None or g.IsEmpty():
            continue
        values.append(v)
        geoms.append(g)
    if not geoms:
        raise AssessmentError(f"the reference {source} has no feature with a geometry and a class value")
    return _compare_vector(values, geoms, info, mapping, source, list(notes))


def _compare_vector(values, geoms, info: MapInfo, mapping, source: str, notes: list) -> Labels:
    """Points or polygons (OGR geometries in the map's CRS) with their class values, compared with the map."""
    from osgeo import ogr

    codes = resolve_mapping(sorted({str(v) for v in values}), info, {str(k): v for k, v in (mapping or {}).items()})
    gtypes = {ogr.GT_Flatten(g.GetGeometryType()) for g in geoms}
    if gtypes <= {ogr.wkbPoint, ogr.wkbMultiPoint}:
        xs = np.asarray([g.GetX() if g.GetGeometryCount() == 0 else g.GetGeometryRef(0).GetX() for g in geoms])
        ys = np.asarray([g.GetY() if g.GetGeometryCount() == 0 else g.GetGeometryRef(0).GetY() for g in geoms])
        refs = np.asarray([codes[str(v)] for v in values], np.int64)
        xs, ys, refs = _drop_duplicates(xs, ys, refs, info, notes)
        return _points_against_map(xs, ys, refs, info, source, notes)
    if gtypes <= {ogr.wkbPolygon, ogr.wkbMultiPolygon}:
        return _polygons_against_map(geoms, [codes[str(v)] for v in values], info, source, notes)
    raise AssessmentError("the reference layer must hold points or polygons (lines cannot be compared with a map)")


def _drop_duplicates(xs, ys, refs, info: MapInfo, notes: list):
    """Points at the same location (to a thousandth of a pixel) with the same class are one observation: counted
    once, with a note. The same location with two classes is refused: which label is right is for the analyst."""
    tol = max(abs(info.geotransform[1]), abs(info.geotransform[5])) / 1000.0 if info.geotransform else 1e-6
    keys = np.column_stack([np.round(xs / tol), np.round(ys / tol)])
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(first) == len(xs):
        return xs, ys, refs
    conflicts = [k for k in range(len(first)) if len(set(refs[inverse == k].tolist())) > 1]
    if conflicts:
        k = conflicts[0]
        classes = sorted({info.name(c) for c in refs[inverse == k].tolist()})
        raise AssessmentError(
            f"{len(conflicts)} location(s) hold reference points with different classes (e.g. {xs[first[k]]:.2f}, "
            f"{ys[first[k]]:.2f}: {' and '.join(classes)}): keep one label per location"
        )
    keep = np.sort(first)
    notes.append(
        f"{len(xs) - len(keep)} duplicate reference point(s) (same location and class as another) counted once: "
        f"{len(keep)} of {len(xs)} points used"
    )
    return xs[keep], ys[keep], refs[keep]


def _points_against_map(xs, ys, refs, info: MapInfo, source: str, notes: list) -> Labels:
    rows, cols = info.xy_to_pixel(xs, ys)
    inside = (rows >= 0) & (rows < info.height) & (cols >= 0) & (cols < info.width)
    excluded = {"outside the map": int((~inside).sum()), "on nodata": 0}
    mv = np.full(len(xs), -1, np.int64)
    if inside.any():
        mv[inside] = values_at(info.path, rows[inside], cols[inside])
    on_nodata = inside & ((mv == info.nodata) if info.nodata is not None else np.zeros(len(xs), bool))
    excluded["on nodata"] = int(on_nodata.sum())
    keep = inside & ~on_nodata
    if excluded["outside the map"] or excluded["on nodata"]:
        notes.append(
            f"left out: {excluded['outside the map']} point(s) outside the map and {excluded['on nodata']} on nodata"
        )
    if not keep.any():
        raise AssessmentError("no reference point falls on a classified pixel of the map: is it the right area?")
    return Labels(mv[keep], refs[keep], source, "points", notes, {}, excluded)


def _polygons_against_map(geoms, codes, info: MapInfo, source: str, notes: list) -> Labels:
    from osgeo import gdal, ogr, osr

    mem = ogr.GetDriverByName("Memory").CreateDataSource("ref")
    srs = osr.SpatialReference()
    if info.crs_wkt:
        srs.ImportFromWkt(info.crs_wkt)
    lyr = mem.CreateLayer("ref", srs if info.crs_wkt else None, ogr.wkbMultiPolygon)
    lyr.CreateField(ogr.FieldDefn("code", ogr.OFTInteger))
    for g, c in zip(geoms, codes):
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("code", int(c) + 1)  # 0 = no reference
        f.SetGeometry(g)
        lyr.CreateFeature(f)
    ref = _rasterize_like(info, lambda ds: gdal.RasterizeLayer(ds, [1], lyr, options=["ATTRIBUTE=code"]))
    return _compare_rasters(ref, info, source, "polygons", notes, offset=1)


def _rasterize_like(info: MapInfo, burn):
    from osgeo import gdal

    ds = gdal.GetDriverByName("MEM").Create("", info.width, info.height, 1, gdal.GDT_Int32)
    ds.SetGeoTransform(info.geotransform)
    if info.crs_wkt:
        ds.SetProjection(info.crs_wkt)
    burn(ds)
    return ds.GetRasterBand(1).ReadAsArray()


def read_raster_reference(path, info: MapInfo, mapping=None) -> Labels:
    """A reference raster compared pixel by pixel on the map's grid (nearest neighbour)."""
    from osgeo import gdal

    from .. import gdalutil

    src = gdalutil.open_or_none(gdal.Open, path)
    if src is None:
        raise AssessmentError(f"cannot open the reference raster {path}")
    notes = []
    gt = info.geotransform
    xmin, ymax = gt[0], gt[3]
    xmax, ymin = xmin + gt[1] * info.width, ymax + gt[5] * info.height
    src_nodata = src.GetRasterBand(1).GetNoDataValue()
    same_crs = True
    if info.crs_wkt and src.GetProjection():
        from osgeo import osr

        a, b = osr.SpatialReference(), osr.SpatialReference()
        a.ImportFromWkt(info.crs_wkt)
        b.ImportFromWkt(src.GetProjection())
        same_crs = bool(a.IsSame(b))
    if not same_crs:
        notes.append("reference raster reprojected to the map's CRS (nearest neighbour)")
    warped = gdal.Warp(
        "",
        src,
        format="MEM",
        outputBounds=(xmin, min(ymin, ymax), xmax, max(ymin, ymax)),
        width=info.width,
        height=info.height,
        dstSRS=info.crs_wkt or None,
        resampleAlg="near",
        srcNodata=src_nodata,
        dstNodata=-999999,
        outputType=gdal.GDT_Int32,
    )
    arr = warped.GetRasterBand(1).ReadAsArray()
    valid_vals = np.unique(arr[arr != -999999])
    if valid_vals.size == 0:
        raise AssessmentError("the reference raster does not overlap the map")
    names = src.GetRasterBand(1).GetCategoryNames() or []
    value_names = {
        int(v): (names[int(v)] if 0 <= int(v) < len(names) and names[int(v)] else str(int(v))) for v in valid_vals
    }
    mp = {str(k): v for k, v in (mapping or {}).items()}
    codes = resolve_mapping(sorted(value_names.values()), info, mp)
    lut = {v: codes[value_names[v]] for v in value_names}
    ref = np.zeros(arr.shape, np.int64)
    for v, c in lut.items():
        ref[arr == v] = c + 1
    return _compare_rasters(ref, info, str(path), "raster", notes, offset=1)


def _compare_rasters(ref: np.ndarray, info: MapInfo, source: str, kind: str, notes: list, offset: int) -> Labels:
    from .maps import _open

    ds = _open(info.path)
    band = ds.GetRasterBand(1)
    m_all, r_all = [], []
    on_nodata = 0
    step = max(1, (4 << 20) // max(info.width, 1))
    for y in range(0, info.height, step):
        n = min(step, info.height - y)
        mv = band.ReadAsArray(0, y, info.width, n).astype(np.int64)
        rv = ref[y : y + n]
        has_ref = rv > 0
        nod = has_ref & ((mv == info.nodata) if info.nodata is not None else False)
        on_nodata += int(np.count_nonzero(nod))
        keep = has_ref & ~nod
        m_all.append(mv[keep])
        r_all.append(rv[keep] - offset)
    m = np.concatenate(m_all) if m_all else np.empty(0, np.int64)
    r = np.concatenate(r_all) if r_all else np.empty(0, np.int64)
    if on_nodata:
        notes.append(f"left out: {on_nodata} reference pixel(s) on the map's nodata")
    if m.size == 0:
        raise AssessmentError("the reference covers no classified pixel of the map: is it the right area?")
    notes.append(
        f"{m.size} reference pixels from {kind}: a census of the reference area, not a probability sample of the "
        "map, so the intervals hold only if that area is representative"
    )
    return Labels(m, r, source, kind, notes, {}, {"on nodata": on_nodata})


def label_values(status: str, code: Optional[int], name: Optional[str]) -> dict:
    """The attribute values one label writes into a sample GeoPackage (used by the labelling page)."""
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    if status == STATUS_LABELLED:
        return {"status": status, "ref_code": int(code), "ref_class": name, "labelled_utc": now}
    return {"status": status, "ref_code": None, "ref_class": None, "labelled_utc": now}


def write_label(path, point_fid: int, status: str, code: Optional[int] = None, name: Optional[str] = None) -> None:
    """Save one label in the sample GeoPackage at once (for scripts; the page writes through QGIS)."""
    from osgeo import ogr

    ds = ogr.Open(str(path), 1)
    if ds is None:
        raise AssessmentError(f"cannot open {path} for writing")
    lyr = ds.GetLayerByName(LAYER)
    f = lyr.GetFeature(int(point_fid)) if lyr is not None else None
    if f is None:
        raise AssessmentError(f"no sample point {point_fid} in {path}")
    for k, v in label_values(status, code, name).items():
        if v is None:
            f.SetFieldNull(k)
        else:
            f.SetField(k, v)
    lyr.SetFeature(f)
    ds = None


__all__ = [
    "DESIGN_TABLE",
    "Labels",
    "ReferenceRecords",
    "label_values",
    "read_raster_reference",
    "read_reference_records",
    "read_sample_labels",
    "read_vector_reference",
    "resolve_mapping",
    "write_label",
]
