"""The self-contained HTML report of an assessment: tables, an inline SVG area chart, design, provenance."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from .estimators import KAPPA_NOTE, Assessment
from .report_csv import _fmt


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
    """The report: summary and area table, accuracies, error matrices, design, notes and provenance."""
    parts = _html_head(data, res)
    parts += _html_accuracy(data, res)
    parts += _html_matrices(res)
    parts += _html_design(data)
    parts += _html_provenance(data)
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def _html_head(data: dict, res: Assessment) -> list:
    """The page head, the overall accuracy, the area chart and the area table."""
    z = res.z
    r = data["results"]
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
    return parts


def _html_accuracy(data: dict, res: Assessment) -> list:
    """Accuracy per class, kappa when asked, accuracy by the model's confidence."""
    z = res.z
    r = data["results"]
    parts = []
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
    return parts


def _html_matrices(res: Assessment) -> list:
    """The error matrix in sample counts and in estimated area proportions."""
    parts = []
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
    return parts


def _html_design(data: dict) -> list:
    """The sampling and response design, then the notes of the analysis and of the design."""
    r = data["results"]
    design = data.get("design")
    ref = data.get("reference") or {}
    parts = []
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
    return parts


def _html_provenance(data: dict) -> list:
    """The map, the model, the run and the corrections behind the map (the list is closed by the caller)."""
    prov = data.get("provenance") or {}
    parts = []
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
    return parts


def _pct(v) -> float:
    v = float(v)
    return v * 100 if v <= 1 else v
