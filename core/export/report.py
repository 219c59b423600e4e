"""Area report: a CSV table and a self-contained HTML page (inline SVG bar chart, no scripts, no web fonts).

Areas are counted on the exported class raster itself (block by block), so they match the exported
map, corrected or not. When an accuracy assessment sits beside the map, its adjusted areas and their
95 % confidence intervals are added to both.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
from html import escape
from pathlib import Path

import numpy as np

from ..request import count_unit
from .accuracy_note import accuracy_line
from .common import ExportError, ProgressSpan, Staging
from .polygons import _cell_area_m2, strip_rows
from .run import RunInfo


def report_names(run: RunInfo) -> dict[str, str]:
    return {"csv": f"{run.name}_landcover_areas.csv", "html": f"{run.name}_landcover_report.html"}


def class_areas(run: RunInfo, progress: ProgressSpan | None = None) -> dict:
    """Cells and km² per class code, counted on ``run.classes_path``."""
    from osgeo import gdal

    progress = progress or ProgressSpan()
    ds = gdal.Open(str(run.classes_path))
    if ds is None:
        raise ExportError(f"GDAL cannot open {run.classes_path}")
    band = ds.GetRasterBand(1)
    nodata = band.GetNoDataValue()
    W, H = ds.RasterXSize, ds.RasterYSize
    counts = np.zeros(256, np.int64)
    step = strip_rows(W)
    for y in range(0, H, step):
        progress(y / H, "counting cells per class")
        a = band.ReadAsArray(0, y, W, min(step, H - y))
        counts += np.bincount(a.ravel(), minlength=256)[:256]
    if nodata is not None and 0 <= nodata < 256:
        counts[int(nodata)] = 0
    cell = _cell_area_m2(ds)
    total = int(counts.sum())
    rows = []
    by_code = run.class_by_code()
    for c in sorted(run.classes, key=lambda c: c.code):
        k = int(counts[c.code])
        rows.append(
            {
                "class_code": c.code,
                "class_name": c.name,
                "color": c.color,
                "cells": k,
                "area_km2": k * cell / 1e6,
                "percent": 100.0 * k / total if total else 0.0,
            }
        )
    for code in np.nonzero(counts)[0]:  # values without a class name still count
        if int(code) not in by_code:
            k = int(counts[code])
            rows.append(
                {
                    "class_code": int(code),
                    "class_name": f"class {int(code)}",
                    "color": "#888888",
                    "cells": k,
                    "area_km2": k * cell / 1e6,
                    "percent": 100.0 * k / total,
                }
            )
    return {"rows": rows, "total_cells": total, "total_km2": total * cell / 1e6, "cell_area_m2": cell}


def _adjusted(run: RunInfo) -> dict:
    if not run.assessment:
        return {}
    return {r["class"]: r for r in run.assessment["rows"]}


def csv_text(run: RunInfo, areas: dict) -> str:
    adj = _adjusted(run)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["class_code", "class_name", "color", "cells", "area_km2", "percent"]
    if adj:
        head += ["adjusted_area_km2", "ci95_km2", "adjusted_low_km2", "adjusted_high_km2"]
    w.writerow(head)

    def f(v, nd=6):
        return "" if v is None else f"{v:.{nd}f}"

    for r in areas["rows"]:
        row = [r["class_code"], r["class_name"], r["color"], r["cells"], f(r["area_km2"]), f(r["percent"], 3)]
        if adj:
            a = adj.get(r["class_name"], {})
            row += [f(a.get("area_km2")), f(a.get("ci_km2")), f(a.get("low_km2")), f(a.get("high_km2"))]
        w.writerow(row)
    total = ["", "total", "", areas["total_cells"], f(areas["total_km2"]), f(100.0 if areas["total_cells"] else 0, 3)]
    if adj:
        total += ["", "", "", ""]
    w.writerow(total)
    return buf.getvalue()


# ------------------------------------------------------------------ HTML
def _fmt(v, nd=2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:,.{nd}f}"


def bar_chart_svg(areas: dict, adjusted: dict | None = None, width: int = 720) -> str:
    """Horizontal bars in the class colours, km² and % after each bar; CI whiskers when adjusted (the text starts
    after the whisker, so the whisker never crosses it)."""
    rows = [r for r in areas["rows"]]
    label_w, bar_h, gap, top = 170, 22, 8, 10
    right = 170  # the km² and % text, after the bar or its whisker
    plot_w = width - label_w - right
    adjusted = adjusted or {}
    vmax = max([r["area_km2"] for r in rows] + [a.get("high_km2") or 0 for a in adjusted.values()] + [1e-12])
    height = top * 2 + len(rows) * (bar_h + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="area per class" font-family="sans-serif" font-size="13">'
    ]
    for i, r in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = plot_w * r["area_km2"] / vmax
        name = escape(r["class_name"])
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{name}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{r["color"]}" stroke="#333" '
            f'stroke-width="0.5"><title>{name}: {r["area_km2"]:.3f} km²</title></rect>'
        )
        text_x = label_w + w + 6
        a = adjusted.get(r["class_name"])
        if a and a.get("low_km2") is not None and a.get("high_km2") is not None:
            x0 = label_w + plot_w * max(0.0, a["low_km2"]) / vmax
            x1 = label_w + plot_w * a["high_km2"] / vmax
            xm = label_w + plot_w * a["area_km2"] / vmax
            ym = y + bar_h / 2
            parts.append(
                f'<path d="M{x0:.1f},{ym:.1f}H{x1:.1f}M{x0:.1f},{ym - 6:.1f}V{ym + 6:.1f}M{x1:.1f},{ym - 6:.1f}'
                f'V{ym + 6:.1f}" stroke="#000" stroke-width="1.5" fill="none"/>'
                f'<circle cx="{xm:.1f}" cy="{ym:.1f}" r="3" fill="#000"/>'
            )
            text_x = max(text_x, x1 + 6, xm + 6)
        parts.append(
            f'<text x="{text_x:.1f}" y="{y + bar_h * 0.7:.1f}">{r["area_km2"]:,.2f} km² ({r["percent"]:.1f} %)</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:60em;color:#222;
padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .7em;border-bottom:1px solid #e5e5e5;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.sw{display:inline-block;width:1em;height:1em;
border:1px solid #555;vertical-align:-.15em;margin-right:.4em}.note{background:#fff8e1;border-left:4px solid #f0b400;
padding:.4em .8em}.muted{color:#666;font-size:.9em}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dt{color:#555}dd{margin:0}code{font-size:.9em}
"""


def _finite(v):
    """A metric as a finite number, else None (a hand-edited summary may hold anything)."""
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf") else None


def _metrics_html(summary: dict) -> str:
    m = summary.get("model") or {}
    if not m:
        return "<p class='muted'>No model information (the export started from a bare class raster).</p>"
    met = m.get("metrics") or {}
    test = met.get("test") if isinstance(met.get("test"), dict) else {}
    acc = _finite(test.get("accuracy", met.get("test_accuracy", met.get("accuracy"))))
    n = _finite(test.get("n", met.get("n")))
    f1 = _finite(test.get("macro_f1", met.get("macro_f1")))
    cmd = test.get("command", met.get("command"))
    items = [
        ("model", escape(str(m.get("title") or m.get("name") or "?"))),
        ("architecture", escape(str(m.get("architecture", "?")))),
        ("input bands", escape(", ".join(m.get("bands") or []))),
        (
            "EuroSAT patch" if summary.get("mode") == "map" else "window",  # a map model runs per pixel
            f"{m.get('patch_size', '?')} px at {m.get('gsd_m', '?')} m",
        ),
    ]
    if acc is not None:
        items.append(
            (
                "accuracy on EuroSAT test patches",
                f"{100 * float(acc):.2f} % on the model's held-out "
                f"{escape(str(met.get('split', 'test')))} split"
                + (f" ({int(n):,} patches)" if n else "")
                + " (64 x 64 px EuroSAT patches, not this map: see this map's assessed accuracy above)",
            )
        )
    if f1 is not None:
        items.append(("macro F1", f"{float(f1):.3f}"))
    if cmd:
        items.append(("measured by", f"<code>{escape(str(cmd))}</code>"))
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _settings_html(run: RunInfo) -> str:
    s = run.summary
    if not s:
        return "<p class='muted'>No run summary beside the class raster.</p>"
    req = s.get("request") or {}
    grid = s.get("grid") or {}
    bm = s.get("band_mapping") or {}
    rad = s.get("radiometry") or {}
    items = [
        ("input", escape(str((s.get("input") or {}).get("path", req.get("input_path", "?"))))),
        ("input CRS", escape(str((s.get("input") or {}).get("crs", "?")))),
        ("working CRS", escape(str((s.get("working_raster") or {}).get("crs", "?")))),
        ("area of interest", escape(str(req.get("bounds") or "whole raster"))),
        ("bands", escape(", ".join(f"{b}" for b in bm.get("bands", [])) + (f" ({bm.get('reason')})" if bm else ""))),
        ("radiometry", escape(f"{rad.get('method', '?')}: {rad.get('formula', '')}")),
        ("radiometry chosen", escape(str(rad.get("reason", "–")))),
        ("radiometry evidence", escape("; ".join(rad.get("evidence") or []) or "–")),
        *_grid_items(s),
        ("output cell", escape(" x ".join(f"{v:g}" for v in grid.get("cell_size_m", [])) + " m")),
        ("device", escape(str(s.get("device", "?")))),
        (count_unit(s.get("mode")), escape(str((s.get("windows") or {}).get("classified", "?")))),
    ]
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _grid_items(s: dict) -> list:
    """The run's mode, and its stride in windows mode (a map-mode run has tiles and pixels, no stride)."""
    grid = s.get("grid") or {}
    if s.get("mode") == "map":
        tile = f", overlapping {grid['tile_px']} px tiles" if grid.get("tile_px") else ""
        return [("mode", escape(f"map (a class for every pixel{tile})"))]
    stride = grid.get("stride_px", (s.get("request") or {}).get("stride", "?"))
    return [("mode", "windows"), ("stride", escape(f"{stride} px"))]


def _ood_html(summary: dict) -> str:
    """The run's out-of-distribution warning (core/ood.py), one line, when it fired."""
    warning = (summary.get("out_of_distribution") or {}).get("warning")
    return f"<p class='note' id='ood'>{escape(warning)}</p>\n" if warning else ""


def html_text(run: RunInfo, areas: dict, title: str | None = None, files: list[str] | None = None) -> str:
    from ...__about__ import __version__

    adj = _adjusted(run)
    title = title or f"Land cover — {run.name}"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows_html = []
    for r in areas["rows"]:
        a = adj.get(r["class_name"], {})
        extra = ""
        if adj:
            ci = a.get("ci_km2")
            ci_text = "± " + _fmt(ci) if ci is not None else "–"
            extra = f"<td class='n'>{_fmt(a.get('area_km2'))}</td><td class='n'>{ci_text}</td>"
        rows_html.append(
            f"<tr><td><span class='sw' style='background:{r['color']}'></span>{escape(r['class_name'])}</td>"
            f"<td class='n'>{r['class_code']}</td><td class='n'>{r['cells']:,}</td>"
            f"<td class='n'>{_fmt(r['area_km2'])}</td><td class='n'>{_fmt(r['percent'], 1)}</td>{extra}</tr>"
        )
    adj_head = "<th class='n'>adjusted km²</th><th class='n'>95 % CI</th>" if adj else ""
    notes = "".join(f"<p class='note'>{escape(n[0].upper() + n[1:])}.</p>" for n in run.notes)
    if adj:
        oa = run.assessment.get("overall_accuracy")
        facts = [f"overall accuracy of this map {100 * oa:.1f} %"] if oa is not None else []
        if run.assessment.get("n"):
            facts.append(f"{run.assessment['n']:,} reference samples")
        notes += (
            "<p class='note'>Adjusted areas and their 95 % confidence intervals come from the accuracy assessment "
            f"<code>{escape(Path(run.assessment['path']).name)}</code>"
            + (f" ({', '.join(facts)})" if facts else "")
            + ". The black whiskers on the bars show them.</p>"
        )
    s = run.summary
    prov = [
        ("map exported", escape(str(run.classes_path))),
        ("run summary", escape(str(run.summary_path or "–"))),
        ("classified", escape(str(s.get("created_utc", "–")))),
        ("engine", escape(str(s.get("engine", "–")))),
        ("plugin version", escape(__version__)),
        ("report made", now),
        ("cell area", f"{areas['cell_area_m2']:,.0f} m²"),
    ]
    if files:
        prov.append(("files exported", "<br>".join(escape(f) for f in files)))
    legend = "".join(
        f"<span style='margin-right:1.2em;white-space:nowrap'><span class='sw' style='background:{c.color}'></span>"
        f"{escape(c.name)}</span>"
        for c in sorted(run.classes, key=lambda c: c.code)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{escape(title)}</title><style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p class="muted">{escape(run.model_title() or "land-cover map")} · {_fmt(areas["total_km2"])} km² classified · {now}</p>
<p id="accuracy"><b>Accuracy:</b> {escape(accuracy_line(s, run.assessment, run.classes_path.name))}.</p>
{_ood_html(s)}{notes}
<h2>Area per class</h2>
{bar_chart_svg(areas, adj)}
<p>{legend}</p>
<table><thead><tr><th>class</th><th class='n'>code</th><th class='n'>cells</th><th class='n'>km²</th>
<th class='n'>%</th>{adj_head}</tr></thead><tbody>
{"".join(rows_html)}
<tr><th>total</th><td></td><td class='n'>{areas["total_cells"]:,}</td><td class='n'>{_fmt(areas["total_km2"])}</td>
<td class='n'>100.0</td>{"<td></td><td></td>" if adj else ""}</tr>
</tbody></table>
<p class="muted">Mapped areas count the cells of each class on the map; they are not corrected for
classification errors{" (the adjusted columns are)" if adj else ""}.</p>
<h2>Model</h2>
{_metrics_html(s)}
<h2>Run settings</h2>
{_settings_html(run)}
<h2>Provenance</h2>
<dl>{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in prov)}</dl>
</body></html>
"""


def export_report(
    run: RunInfo,
    staging: Staging,
    progress: ProgressSpan | None = None,
    files: list[str] | None = None,
    title: str | None = None,
) -> dict:
    progress = progress or ProgressSpan()
    areas = class_areas(run, progress.span(0, 0.8))
    names = report_names(run)
    staging.path(names["csv"]).write_text(csv_text(run, areas), encoding="utf-8")
    staging.path(names["html"]).write_text(html_text(run, areas, title=title, files=files), encoding="utf-8")
    progress(1.0, "report written")
    return areas
