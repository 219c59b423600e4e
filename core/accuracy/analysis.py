"""Labels against a map: the estimates of an assessment (the sample's own map, or another on the same ground)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .errors import AssessmentError
from .estimators import Assessment, accuracy_by_confidence, check_codes, estimate, estimate_stratified
from .maps import MapInfo, read_map
from .reference import (
    Labels,
    ReferenceRecords,
    read_raster_reference,
    read_reference_records,
    read_sample_labels,
    read_vector_reference,
)


def _map_info_from_design(design: dict) -> Optional[MapInfo]:
    m = design.get("map") or {}
    if not m.get("counts"):
        return None
    return MapInfo(
        path=m["path"],
        width=m["size_px"][0],
        height=m["size_px"][1],
        geotransform=tuple(m["geotransform"]),
        crs_wkt=m.get("crs_wkt", ""),
        nodata=m.get("nodata"),
        counts={int(k): int(v) for k, v in m["counts"].items()},
        names={int(k): v for k, v in m.get("names", {}).items()},
        colors={int(k): v for k, v in m.get("colors", {}).items()},
        pixel_area_m2=float(m["pixel_area_m2"]),
        window_m=float(m.get("window_m", 640.0)),
        provenance=m.get("provenance", {}),
    )


def assess(
    map_path=None,
    sample=None,
    reference=None,
    class_field: Optional[str] = None,
    mapping: Optional[dict] = None,
    reference_layer: Optional[str] = None,
    kappa: bool = False,
    reference_records: Optional[ReferenceRecords] = None,
) -> tuple[Assessment, Labels, MapInfo]:
    """Labels from a sample GeoPackage (``sample``) or an existing reference (``reference``: vector with
    ``class_field``, or a raster; or ``reference_records``: a :class:`ReferenceRecords`, a layer as QGIS reads
    it), then the estimates. A sample carries its map and strata in its
    design table."""
    if reference_records is not None:
        if map_path is None:
            raise AssessmentError("give the map to assess")
        info = read_map(map_path)
        r = reference_records
        return _estimate(read_reference_records(r.records, info, mapping, r.source, r.notes), info, kappa)
    if (sample is None) == (reference is None):
        raise AssessmentError("give either a labelled sample GeoPackage or a reference layer")
    if sample is not None:
        labels = read_sample_labels(sample)
        info = _map_info_from_design(labels.design)
        if info is None:
            if map_path is None:
                raise AssessmentError(f"{Path(sample).name} has no design table: give the map it was drawn on")
            info = read_map(map_path)
        if labels.map_codes.size == 0:
            raise AssessmentError("no point of the sample is labelled yet: label at least two points per class")
        if map_path is not None and Path(map_path).resolve() != Path(info.path).resolve():
            return _assess_other_map(map_path, labels, info, kappa)
    else:
        if map_path is None:
            raise AssessmentError("give the map to assess")
        info = read_map(map_path)
        if class_field:
            labels = read_vector_reference(reference, class_field, info, mapping, reference_layer)
        else:
            labels = read_raster_reference(reference, info, mapping)
    return _estimate(labels, info, kappa)


def _estimate(labels: Labels, info: MapInfo, kappa: bool):
    """Olofsson et al.'s estimates of ``labels`` against ``info``'s map (strata = its classes)."""
    notes = list(labels.notes)
    if info.geographic:
        notes.append("the map is in degrees: pixel areas are taken at its centre latitude")
    res = estimate(
        labels.map_codes,
        labels.ref_codes,
        info.counts,
        info.pixel_area_m2,
        names={c: info.name(c) for c in set(info.names) | set(info.counts)},
        colors={c: info.color(c) for c in set(info.names) | set(info.counts)},
        kappa=kappa,
        notes=notes,
    )
    if labels.confidence is not None:
        res.by_confidence = accuracy_by_confidence(labels.map_codes, labels.ref_codes, labels.confidence, info.counts)
    return res, labels, info


def _assess_other_map(map_path, labels: Labels, design_info: MapInfo, kappa: bool):
    """A sample drawn on one map (its strata) used to assess another on the same ground, e.g. the corrected map:
    the assessed map's class is read at each point and Stehman (2014)'s estimators do the rest."""
    from .maps import values_at

    info = read_map(map_path)
    if labels.xy is None or len(labels.xy) != len(labels.map_codes):
        raise AssessmentError("the sample's points have no coordinates: cannot read the other map at them")
    xs, ys = labels.xy[:, 0], labels.xy[:, 1]
    notes = list(labels.notes)
    if design_info.crs_wkt and info.crs_wkt:
        from osgeo import osr

        a, b = osr.SpatialReference(), osr.SpatialReference()
        a.ImportFromWkt(design_info.crs_wkt)
        b.ImportFromWkt(info.crs_wkt)
        if not a.IsSame(b):
            for srs in (a, b):
                srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            ct = osr.CoordinateTransformation(a, b)
            pts = np.asarray(ct.TransformPoints(np.column_stack([xs, ys]).tolist()))
            xs, ys = pts[:, 0], pts[:, 1]
            notes.append("sample points transformed to the assessed map's CRS")
    rows, cols = info.xy_to_pixel(xs, ys)
    inside = (rows >= 0) & (rows < info.height) & (cols >= 0) & (cols < info.width)
    codes = np.full(len(xs), -1, np.int64)
    if inside.any():
        codes[inside] = values_at(info.path, rows[inside], cols[inside])
    keep = inside & ((codes != info.nodata) if info.nodata is not None else True)
    if (~keep).any():
        notes.append(f"left out: {int((~keep).sum())} point(s) outside {Path(info.path).name} or on its nodata")
    notes.append(
        f"strata are the classes of {Path(design_info.path).name}, on which the sample was drawn; "
        f"{Path(info.path).name} is assessed with Stehman (2014)'s estimators (its error-matrix row totals are "
        "estimated from the sample)"
    )
    if abs(design_info.total_pixels * design_info.pixel_area_m2 - info.total_pixels * info.pixel_area_m2) > 1e-6 * (
        design_info.total_pixels * design_info.pixel_area_m2
    ):
        notes.append("the two maps cover different areas: the estimates are for the sampled map's area")
    all_names = {c: design_info.name(c) for c in set(design_info.names) | set(design_info.counts)}
    all_names.update({c: info.name(c) for c in set(info.names) | set(info.counts)})
    check_codes(labels.map_codes[keep], labels.ref_codes[keep], design_info.counts, all_names)
    all_colors = {c: design_info.color(c) for c in all_names}
    all_colors.update({c: info.color(c) for c in set(info.names) | set(info.counts)})
    scale = design_info.pixel_area_m2 / info.pixel_area_m2
    res = estimate_stratified(
        labels.map_codes[keep],  # the stratum: the class of the sampled map at the point
        codes[keep],
        labels.ref_codes[keep],
        design_info.counts,
        {c: v / scale for c, v in info.counts.items()},
        design_info.pixel_area_m2,
        names=all_names,
        colors=all_colors,
        kappa=kappa,
        notes=notes,
    )
    if labels.confidence is not None:
        # the bins weight points by their stratum (the sampled map's class), whatever the assessed map says
        res.by_confidence = _by_confidence_stratified(labels, keep, codes, design_info)
    info.provenance = {**info.provenance, "sampled_map": design_info.path}
    return res, labels, info


def _by_confidence_stratified(labels: Labels, keep, codes, design_info: MapInfo):
    from .estimators import CONFIDENCE_BINS

    strata = labels.map_codes[keep]
    correct = (codes[keep] == labels.ref_codes[keep]).astype(np.int64)
    # accuracy_by_confidence takes (stratum, "reference") pairs: give it the stratum and stratum-or-not
    ref = np.where(correct == 1, strata, -1)
    return accuracy_by_confidence(strata, ref, labels.confidence[keep], design_info.counts, CONFIDENCE_BINS)
