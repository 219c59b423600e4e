"""The two CSV tables of an assessment: per class (accuracies, areas, SEs, 95 % CIs) and the error matrix."""

from __future__ import annotations

import csv
import io
import math

from .estimators import Assessment


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
