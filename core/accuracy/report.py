"""Run an analysis and write its results: JSON (for other tools), CSV (two tables) and an HTML report.

Files, for a map ``<stem>.tif``, in the output folder (default: beside the map):

- ``<stem>_assessment.json``: everything (schema ``eurosat_landcover.assessment/1``, see docs/notes/assess.md);
- ``<stem>_assessment.csv``: one row per class and an overall row (accuracies, areas, SEs, 95 % CIs);
- ``<stem>_assessment_matrix.csv``: the error matrix in sample counts and in estimated area proportions;
- ``<stem>_assessment.html``: a self-contained report (tables, an inline SVG chart, design, provenance).

Every file is written under a temporary name and renamed; an existing file is kept unless ``overwrite``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import json
import math
import os
import secrets
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import AssessmentError
from .estimators import KAPPA_NOTE, Assessment, accuracy_by_confidence, check_codes, estimate, estimate_stratified
from .maps import MapInfo, read_map
from .reference import (
    Labels,
    ReferenceRecords,
    read_raster_reference,
    read_reference_records,
    read_sample_labels,
    read_vector_reference,
)

SCHEMA = "eurosat_landcover.assessment/1"
SUFFIXES = {
    "json": "_assessment.json",
    "csv": "_assessment.csv",
    "matrix_csv": "_assessment_matrix.csv",
    "html": "_assessment.html",
}


def output_paths(map_path, out_dir=None) -> dict:
    """The four output paths of an assessment of ``map_path``."""
    p = Path(map_path)
    folder = Path(out_dir) if out_dir else p.parent
    return {k: folder / f"{p.stem}{s}" for k, s in SUFFIXES.items()}


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


def results_dict(res: Assessment, labels: Labels, info: MapInfo, outputs: Optional[dict] = None) -> dict:
    design = labels.design or {}
    return {
        "schema": SCHEMA,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "map": info.path,
        "reference": {"source": labels.source, "kind": labels.kind, "excluded": labels.excluded},
        "design": (
            {
                k: design.get(k)
                for k in ("method", "spec", "plan", "points", "points_per_map_class", "notes", "created_utc")
            }
            if design
            else None
        ),
        "provenance": info.provenance,
        # the area table other tools read (the Export page's area report): one row per class
        "overall_accuracy": _num_or_none(res.overall),
        "n": res.n_labelled,
        "classes": [
            {
                "class": c["name"],
                "code": c["code"],
                "color": c["color"],
                "mapped_km2": c["mapped_km2"],
                "adjusted_area_km2": c["adjusted_km2"],
                "se_km2": c["adjusted_km2_se"],
                "ci95_km2": None if c["adjusted_km2_se"] is None else res.z * c["adjusted_km2_se"],
                "ci95_low_km2": c["adjusted_km2_ci95"][0],
                "ci95_high_km2": c["adjusted_km2_ci95"][1],
                "users_accuracy": c["users_accuracy"],
                "producers_accuracy": c["producers_accuracy"],
            }
            for c in res.per_class()
        ],
        "results": res.to_dict(),
        "outputs": {k: str(v) for k, v in (outputs or {}).items()},
    }


def _num_or_none(v) -> Optional[float]:
    v = float(v)
    return None if math.isnan(v) else v


def _fmt(v, nd=3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.{nd}f}"


def csv_text(res: Assessment) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "class",
            "code",
            "mapped_km2",
            "mapped_pct",
            "n_map",
            "n_reference",
            "users_accuracy",
            "users_se",
            "users_ci95_low",
            "users_ci95_high",
            "producers_accuracy",
            "producers_se",
            "producers_ci95_low",
            "producers_ci95_high",
            "f1",
            "adjusted_km2",
            "adjusted_km2_se",
            "adjusted_km2_ci95_low",
            "adjusted_km2_ci95_high",
            "adjusted_pct",
            "adjusted_pct_se",
        ]
    )
    for r in res.per_class():
        w.writerow(
            [
                r["name"],
                r["code"],
                _fmt(r["mapped_km2"], 6),
                _fmt(r["mapped_pct"], 4),
                r["n_map"],
                r["n_reference"],
                _fmt(r["users_accuracy"], 6),
                _fmt(r["users_se"], 6),
                _fmt(r["users_ci95"][0], 6),
                _fmt(r["users_ci95"][1], 6),
                _fmt(r["producers_accuracy"], 6),
                _fmt(r["producers_se"], 6),
                _fmt(r["producers_ci95"][0], 6),
                _fmt(r["producers_ci95"][1], 6),
                _fmt(r["f1"], 6),
                _fmt(r["adjusted_km2"], 6),
                _fmt(r["adjusted_km2_se"], 6),
                _fmt(r["adjusted_km2_ci95"][0], 6),
                _fmt(r["adjusted_km2_ci95"][1], 6),
                _fmt(r["adjusted_pct"], 4),
                _fmt(r["adjusted_pct_se"], 4),
            ]
        )
    lo, hi = res.ci(res.overall, res.overall_se)
    # the whole map: its overall accuracy is the user's and the producer's accuracy of "any class"
    oa = [_fmt(res.overall, 6), _fmt(res.overall_se, 6), _fmt(float(lo), 6), _fmt(float(hi), 6)]
    total = _fmt(res.total_km2, 6)
    w.writerow(
        [
            "overall",
            "",
            total,
            "100.0000",
            res.n_labelled,
            res.n_labelled,
            *oa,
            *oa,
            "",
            total,
            "",
            "",
            "",
            "100.0000",
            "",
        ]
    )
    if res.kappa is not None:  # under f1's header: the one other agreement measure
        w.writerow(["kappa (not recommended, see the report)", *[""] * 13, _fmt(res.kappa, 6), *[""] * 6])
    return buf.getvalue()


def matrix_csv_text(res: Assessment) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for title, m, nd in (("counts", res.counts, 0), ("area proportions", res.proportions, 6)):
        w.writerow([f"{title}: rows = map class, columns = reference class", *res.names, "total"])
        for name, row in zip(res.names, m):
            w.writerow([name, *[_fmt(v, nd) for v in row], _fmt(row.sum(), nd)])
        w.writerow(["total", *[_fmt(v, nd) for v in m.sum(axis=0)], _fmt(m.sum(), nd)])
        w.writerow([])
    return buf.getvalue()


def _esc(t) -> str:
    return html.escape(str(t), quote=True)


def area_chart_svg(res: Assessment, width: int = 760) -> str:
    """Mapped (hatched, class colour) vs adjusted area (solid, class colour) per class, 95 % CI error bars."""
    rows = res.per_class()
    n = len(rows)
    left, right, top, row_h, bar_h = 190, 30, 30, 46, 15
    height = top + n * row_h + 50
    plot_w = width - left - right
    vmax = 0.0
    for r in rows:
        vmax = max(vmax, r["mapped_km2"] or 0, (r["adjusted_km2_ci95"][1] or 0), r["adjusted_km2"] or 0)
    step = _nice_step((vmax or 1.0) / 5)
    vmax = step * math.ceil((vmax or 1.0) * 1.02 / step)

    def sx(v):
        return left + plot_w * max(0.0, v) / vmax

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12" role="img" aria-label="Mapped and adjusted area per class">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="white" fill-opacity="0.0"/><line x1="0" y1="0" x2="0" y2="6" '
        'stroke="white" stroke-width="2.5" stroke-opacity="0.75"/></pattern></defs>',
    ]
    for t in np.arange(0, vmax + step / 2, step):
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{top + n * row_h}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{top + n * row_h + 16}" text-anchor="middle" fill="#444">{t:.4g}</text>')
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + n * row_h + 36}" text-anchor="middle" fill="#222">'
        "area (km²)</text>"
    )
    for k, r in enumerate(rows):
        y0 = top + k * row_h
        col = _esc(r["color"])
        out.append(f'<text x="{left - 8}" y="{y0 + bar_h + 4}" text-anchor="end" fill="#222">{_esc(r["name"])}</text>')
        m = r["mapped_km2"] or 0.0
        out.append(
            f'<rect x="{left}" y="{y0}" width="{sx(m) - left:.1f}" height="{bar_h}" fill="{col}" fill-opacity="0.45" '
            f'stroke="{col}"><title>{_esc(r["name"])}: mapped {m:.3f} km²</title></rect>'
        )
        out.append(f'<rect x="{left}" y="{y0}" width="{sx(m) - left:.1f}" height="{bar_h}" fill="url(#hatch)"/>')
        a = r["adjusted_km2"] or 0.0
        lo, hi = r["adjusted_km2_ci95"]
        y1 = y0 + bar_h + 3
        out.append(
            f'<rect x="{left}" y="{y1}" width="{sx(a) - left:.1f}" height="{bar_h}" fill="{col}" stroke="#333" '
            f'stroke-width="0.6"><title>{_esc(r["name"])}: adjusted {a:.3f} km² '
            f"(95 % CI {lo:.3f} to {hi:.3f})</title></rect>"
        )
        yc = y1 + bar_h / 2
        out.append(
            '<g stroke="#111" stroke-width="1.5">'
            f'<line x1="{sx(lo):.1f}" y1="{yc:.1f}" x2="{sx(hi):.1f}" y2="{yc:.1f}"/>'
            f'<line x1="{sx(lo):.1f}" y1="{yc - 6:.1f}" x2="{sx(lo):.1f}" y2="{yc + 6:.1f}"/>'
            f'<line x1="{sx(hi):.1f}" y1="{yc - 6:.1f}" x2="{sx(hi):.1f}" y2="{yc + 6:.1f}"/></g>'
        )
    lx = left
    out.append(
        f'<rect x="{lx}" y="4" width="22" height="11" fill="#888" fill-opacity="0.45" stroke="#888"/>'
        f'<rect x="{lx}" y="4" width="22" height="11" fill="url(#hatch)"/>'
        f'<text x="{lx + 28}" y="14">mapped</text>'
        f'<rect x="{lx + 100}" y="4" width="22" height="11" fill="#888" stroke="#333" stroke-width="0.6"/>'
        f'<text x="{lx + 128}" y="14">area-adjusted, with its 95 % confidence interval</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _nice_step(v: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k not below v (axis tick spacing)."""
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e * (1 + 1e-9):
            return m * e
    return 10 * e


def _pm(est, se, z, nd=3, pct=False) -> str:
    if est is None or se is None:
        return "–"
    f = 100 if pct else 1
    return f"{est * f:.{nd}f} ± {z * se * f:.{nd}f}"


def html_report(data: dict, res: Assessment) -> str:
    z = res.z
    r = data["results"]
    prov = data.get("provenance") or {}
    design = data.get("design")
    ref = data.get("reference") or {}
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Accuracy assessment – {_esc(Path(data['map']).name)}</title>",
        "<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}"
        "table{border-collapse:collapse;margin:8px 0 18px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "th{background:#f1f3f5}td:first-child,th:first-child{text-align:left}.sw{display:inline-block;width:12px;"
        "height:12px;border:1px solid #555;margin-right:6px;vertical-align:-1px}"
        ".diag{background:#e7f5e9;font-weight:bold}.matrix th{max-width:78px;font-size:11px;"
        "overflow-wrap:anywhere;white-space:normal}.matrix td{font-size:12px}"
        ".note{color:#555;font-size:90%}h1{font-size:22px}h2{font-size:17px;margin-top:26px}"
        ".big{font-size:20px;font-weight:bold}</style></head><body>",
        f"<h1>Accuracy assessment and area estimates: {_esc(Path(data['map']).name)}</h1>",
        f"<p class='note'>Made {_esc(data['created_utc'])} by the EuroSAT Land Cover plugin, following Olofsson et al. "
        "(2014), <i>Good practices for estimating area and assessing accuracy of land change</i>, Remote Sensing of "
        "Environment 148, 42–57. Intervals are 95 % confidence intervals (estimate ± 1.96 SE).</p>",
        f"<p><span class='big'>Overall accuracy {_pm(res.overall, res.overall_se, z, 1, True)} %</span> "
        f"&nbsp; from {res.n_labelled} labelled {'pixels' if ref.get('kind') in ('raster', 'polygons') else 'points'}"
        f" over {res.total_km2:.2f} km² mapped.</p>",
        "<h2>Area per class: mapped and area-adjusted</h2>",
        area_chart_svg(res),
        "<table><tr><th>class</th><th>mapped km²</th><th>mapped %</th><th>adjusted km²</th><th>SE km²</th>"
        "<th>95 % CI km²</th><th>adjusted %</th></tr>",
    ]
    for c in r["classes"]:
        lo, hi = c["adjusted_km2_ci95"]
        parts.append(
            f"<tr><td><span class='sw' style='background:{_esc(c['color'])}'></span>{_esc(c['name'])}</td>"
            f"<td>{c['mapped_km2']:.3f}</td><td>{c['mapped_pct']:.2f}</td><td>{c['adjusted_km2']:.3f}</td>"
            f"<td>{c['adjusted_km2_se']:.3f}</td><td>{lo:.3f} – {hi:.3f}</td>"
            f"<td>{_pm(c['adjusted_pct'] / 100, c['adjusted_pct_se'] / 100, z, 2, True)}</td></tr>"
        )
    parts.append(
        "</table><h2>Accuracy per class</h2><table><tr><th>class</th><th>points (map)</th>"
        "<th>user's accuracy</th><th>producer's accuracy</th><th>F1</th></tr>"
    )
    for c in r["classes"]:
        parts.append(
            f"<tr><td><span class='sw' style='background:{_esc(c['color'])}'></span>{_esc(c['name'])}</td>"
            f"<td>{c['n_map']}</td><td>{_pm(c['users_accuracy'], c['users_se'], z)}"
            f"{' † few points: not credible' if c.get('users_few_points') else ''}</td>"
            f"<td>{_pm(c['producers_accuracy'], c['producers_se'], z)}</td>"
            f"<td>{_fmt(c['f1'])}</td></tr>"
        )
    parts.append("</table>")
    if res.kappa is not None:
        parts.append(f"<p>Kappa: {res.kappa:.3f}. <span class='note'>{_esc(KAPPA_NOTE)}</span></p>")
    if res.by_confidence:
        parts.append(
            "<h2>Accuracy by the model's confidence</h2><p class='note'>Is the model's confidence honest? The "
            "estimated accuracy of the map where the model's confidence (its highest class probability, from the "
            "run's confidence raster) falls in each range, weighted by stratum (ratio estimator, 95 % CI). A "
            "well-calibrated model has accuracy close to its mean confidence.</p><table><tr><th>confidence</th>"
            "<th>points</th><th>share of the map</th><th>mean confidence</th><th>estimated accuracy</th></tr>"
        )
        for b in res.by_confidence:
            share = "–" if b["area_share"] is None else f"{100 * b['area_share']:.1f} %"
            mean = "–" if b["mean_confidence"] is None else f"{b['mean_confidence']:.2f}"
            parts.append(
                f"<tr><td>{b['bin'][0]:.1f} – {b['bin'][1]:.1f}</td><td>{b['n']}</td><td>{share}</td>"
                f"<td>{mean}</td><td>{_pm(b['accuracy'], b['accuracy_se'], z)}</td></tr>"
            )
        parts.append("</table>")
    for title, m, nd in (
        ("Error matrix, sample counts", res.counts, 0),
        ("Error matrix, estimated area proportions", res.proportions, 4),
    ):
        parts.append(
            f"<h2>{title}</h2><p class='note'>Rows: map class; columns: reference class.</p>"
            "<table class='matrix'><tr><th></th>"
        )
        parts += [f"<th>{_esc(n)}</th>" for n in res.names]
        parts.append("<th>total</th></tr>")
        for i, (name, row) in enumerate(zip(res.names, m)):
            cells = "".join(f"<td class='{'diag' if i == j else ''}'>{v:.{nd}f}</td>" for j, v in enumerate(row))
            parts.append(f"<tr><th>{_esc(name)}</th>{cells}<td>{row.sum():.{nd}f}</td></tr>")
        tot = "".join(f"<td>{v:.{nd}f}</td>" for v in m.sum(axis=0))
        parts.append(f"<tr><th>total</th>{tot}<td>{m.sum():.{nd}f}</td></tr></table>")
    parts.append("<h2>Sampling and response design</h2><ul>")
    parts.append(f"<li>Reference: {_esc(ref.get('kind'))} from <code>{_esc(ref.get('source'))}</code></li>")
    if design:
        spec = design.get("spec") or {}
        plan = design.get("plan") or {}
        parts.append(
            f"<li>Design: {_esc(design.get('method'))} random sampling"
            + (" (strata = map classes)" if design.get("method") == "stratified" else " (post-stratified by map class)")
            + f", seed {_esc(spec.get('seed'))}, {design.get('points')} points"
            + (f", at least {spec.get('min_distance_m'):g} m apart" if spec.get("min_distance_m") else "")
            + "</li>"
        )
        if plan.get("n_from_se"):
            parts.append(
                f"<li>Sample size {plan['n_from_se']} from a target SE of overall accuracy of {spec.get('target_se')} "
                f"and expected user's accuracies {', '.join(f'{u:g}' for u in plan.get('expected_ua', []))} "
                "(Olofsson et al. 2014, eq. 13)</li>"
            )
        parts.append(
            f"<li>Allocation: {_esc(spec.get('allocation'))}, at least {spec.get('min_per_class')} per class</li>"
        )
    parts.append("</ul>")
    notes = list(r.get("notes") or []) + list((design or {}).get("notes") or [])
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
    parts.append("<h2>Provenance</h2><ul>")
    parts.append(f"<li>Map: <code>{_esc(data['map'])}</code></li>")
    model = prov.get("model")
    if model:
        acc = model.get("test_accuracy")
        parts.append(
            f"<li>Model: {_esc(model.get('title') or model.get('name'))} ({_esc(model.get('architecture'))}, "
            f"{model.get('patch_size')} px at {model.get('gsd_m')} m)"
            + (f", held-out test accuracy {_pct(acc):.2f} %" if acc is not None else "")
            + "</li>"
        )
    run = prov.get("run")
    if run:
        parts.append(
            f"<li>Run: {_esc(run.get('created_utc'))}, input <code>{_esc(run.get('input'))}</code>, stride "
            f"{_esc(run.get('stride_px'))} px, cells {_esc(run.get('cell_size_m'))} m</li>"
        )
    corr = prov.get("corrections")
    if corr:
        parts.append(
            f"<li>Corrections: corrected map; edit log <code>{_esc(corr.get('edit_log'))}</code>"
            + (f", {corr['edits']} edits" if corr.get("edits") is not None else "")
            + "</li>"
        )
    else:
        parts.append("<li>Corrections: none (the model's output as it is)</li>")
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def _pct(v) -> float:
    v = float(v)
    return v * 100 if v <= 1 else v


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AssessmentError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_outputs(res: Assessment, labels: Labels, info: MapInfo, out_dir=None, overwrite: bool = False) -> dict:
    """JSON, the two CSVs and the HTML report; returns {kind: path} and the results dict under "data"."""
    paths = output_paths(info.path, out_dir)
    folder = next(iter(paths.values())).parent
    if not folder.is_dir():
        raise AssessmentError(f"output folder {folder} does not exist")
    existing = [p.name for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise AssessmentError(
            f"{', '.join(existing)} already exist(s) in {folder}: allow overwriting or pick another folder"
        )
    data = results_dict(res, labels, info, paths)
    texts = {
        "json": json.dumps(data, indent=2, ensure_ascii=False),
        "csv": csv_text(res),
        "matrix_csv": matrix_csv_text(res),
        "html": html_report(data, res),
    }
    for k, text in texts.items():
        _write_atomic(paths[k], text)
    return {**{k: str(v) for k, v in paths.items()}, "data": data}


def run_assessment(
    map_path=None,
    sample=None,
    reference=None,
    class_field=None,
    mapping=None,
    out_dir=None,
    overwrite=False,
    kappa=False,
    reference_layer=None,
    reference_records=None,
) -> dict:
    """assess() + write_outputs(): the one call of the Processing algorithm and the page.

    Args:
        map_path: the classified (or corrected) map; optional with a sample that records its map.
        sample: a labelled sample GeoPackage (from the sampling design); or else
        reference: an existing reference: a vector layer with ``class_field`` (``mapping`` maps its
            values to class names; ``reference_layer`` picks a layer of a multi-layer file) or a raster.
        out_dir: where the outputs go (default: beside the map); ``overwrite`` replaces earlier ones.
        kappa: also report Cohen's kappa.
        reference_records: a vector reference already read (qgis_bridge.assess.reference_records), instead
            of ``reference``.

    Returns:
        {kind: path} of the JSON, the two CSVs and the HTML report, the results dict under "data" and
        the Assessment (estimates with confidence intervals) under "assessment".

    Raises:
        AssessmentError (readable) for a sample or reference that cannot be assessed.
    """
    res, labels, info = assess(
        map_path, sample, reference, class_field, mapping, reference_layer, kappa, reference_records
    )
    out = write_outputs(res, labels, info, out_dir, overwrite)
    out["assessment"] = res
    return out
