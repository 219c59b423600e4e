"""Run an analysis and write its results: JSON (for other tools), CSV (two tables) and an HTML report.

Files, for a map ``<stem>.tif``, in the output folder (default: beside the map):

- ``<stem>_assessment.json``: everything (schema ``eurosat_landcover.assessment/1``, see docs/notes/assess.md);
- ``<stem>_assessment.csv``: one row per class and an overall row (accuracies, areas, SEs, 95 % CIs);
- ``<stem>_assessment_matrix.csv``: the error matrix in sample counts and in estimated area proportions;
- ``<stem>_assessment.html``: a self-contained report (tables, an inline SVG chart, design, provenance).

Every file is written under a temporary name and renamed; an existing file is kept unless ``overwrite``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import secrets
from pathlib import Path
from typing import Optional

from .analysis import assess
from .errors import AssessmentError
from .estimators import Assessment
from .maps import MapInfo
from .reference import Labels
from .report_csv import csv_text, matrix_csv_text
from .report_html import area_chart_svg, html_report

__all__ = [
    "SCHEMA",
    "SUFFIXES",
    "area_chart_svg",
    "assess",
    "csv_text",
    "html_report",
    "matrix_csv_text",
    "output_paths",
    "results_dict",
    "run_assessment",
    "write_outputs",
]

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
