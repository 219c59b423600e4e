"""Stage 4: the run's JSON summary, built in one place, and the result object built from it."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from .. import gdalutil, ood, writers
from ..request import ClassificationResult
from ..run_names import summary_name

ENGINE = "eurosat_landcover.core"
# the card's metrics kept in the summary (per split; confusion matrices left out)
METRIC_KEYS = (
    "accuracy",
    "n",
    "macro_f1",
    "loss",
    "windows_per_second",
    "batch_size",
    "device",
    "command",
    "members_sha256",
)


def model_metrics(card) -> dict:
    """The card's headline metrics (accuracy, n, macro F1, command per split), without matrices."""
    out = {}
    for key, val in (card.metrics or {}).items():
        if isinstance(val, dict):
            out[key] = {k: val[k] for k in METRIC_KEYS if k in val}
        elif isinstance(val, (int, float, str)) or val is None:
            out[key] = val
    return out


def cell_geotransform(prepared) -> tuple:
    """The output rasters' geotransform: the working raster's, with cells of ``stride`` px."""
    gt, stride = prepared.working.geotransform, prepared.grid.stride
    return (gt[0], gt[1] * stride, 0.0, gt[3], 0.0, gt[5] * stride)


def summary_path(prepared) -> Path:
    return prepared.out_dir / summary_name(prepared.prefix)


def area_by_class(prepared, card, class_counts) -> dict[str, float]:
    """km² per class name, rounded to 1 m² (cells are at least 80 m x 80 m, so nothing is lost)."""
    gt = cell_geotransform(prepared)
    cell_area_km2 = abs(gt[1] * gt[5]) / 1e6
    return {c.name: round(float(n) * cell_area_km2, 6) for c, n in zip(card.classes, class_counts)}


def _input(req, prepared) -> dict:
    src = prepared.source
    return {
        "path": str(req.input_path),
        "size_px": [src.RasterXSize, src.RasterYSize],
        "bands": src.RasterCount,
        "dtype": prepared.mapping.source_dtype,
        "crs": gdalutil.srs_label(src.GetSpatialRef()) if src.GetSpatialRef() else None,
    }


def _model(card) -> dict:
    return {
        "name": card.name,
        "title": card.title,
        "architecture": card.architecture,
        "card": str(card.path) if card.path else None,
        "bands": list(card.bands),
        "patch_size": int(card.patch_size),
        "gsd_m": card.gsd_m,
        "metrics": model_metrics(card),
    }


def _grid(prepared, run=None) -> dict:
    grid, gt = prepared.grid, cell_geotransform(prepared)
    if getattr(run, "tile_px", 0):  # map mode: one cell per working pixel
        return {
            "stride_px": 1,
            "cell_size_m": [abs(gt[1]), abs(gt[5])],
            "cells": [grid.ncx, grid.ncy],
            "tile_px": run.tile_px,
            "tile_overlap_px": run.overlap_px,
            "edge": "every pixel is covered by a tile; overlapping tiles blended with raised-cosine weights",
        }
    return {
        "stride_px": grid.stride,
        "cell_size_m": [abs(gt[1]), abs(gt[5])],
        "cells": [grid.ncx, grid.ncy],
        "windows_per_row": grid.nx,
        "window_rows": grid.ny,
        "edge": "cells in the right/bottom remainder (< stride px) are covered by no window: nodata",
    }


def _outputs(req, final: dict, styles: dict, summary: Path) -> dict:
    return {
        **{k: str(v) for k, v in final.items()},
        "styles": {k: str(v) for k, v in styles.items()},
        "summary": str(summary),
        "encoding": (
            "probabilities/confidence float32 0..1, nodata NaN"
            if req.probabilities_dtype == "float32"
            else "probabilities/confidence uint8 = round(p*254) with scale 1/254, nodata 255"
        ),
        "classes_nodata": writers.NODATA_CLASS,
    }


def build_summary(req, prepared, card, device_label, run, fast_path, outputs, timings, warnings) -> dict:
    """The JSON summary of a finished run (README "Outputs"; docs/notes/engine.md).

    ``run``: the windows stage's WindowRun; ``fast_path``: its FastPathReport; ``outputs``: the
    OutputSet (final paths, class counts, valid cells); ``timings``: seconds per stage."""
    area = area_by_class(prepared, card, outputs.class_counts)
    inference = timings["inference"]
    window_m = prepared.grid.stride * card.gsd_m  # each classified window adds one stride x stride cell of area
    mode = req.mode
    gt = cell_geotransform(prepared)
    done_km2 = outputs.valid_cells * abs(gt[1] * gt[5]) / 1e6 if mode == "map" else run.classified * window_m**2 / 1e6
    styles = {name: p.with_suffix(".qml") for name, p in outputs.final.items()}
    odd = out_of_distribution(prepared, card, run, outputs)
    if odd["warning"]:
        warnings = [*warnings, odd["warning"]]
    return {
        "engine": ENGINE,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "input": _input(req, prepared),
        "request": req.to_dict(),
        "band_mapping": prepared.mapping.to_dict(),
        "radiometry": prepared.radiometry.to_dict(),
        "working_raster": prepared.working.describe(),
        "model": _model(card),
        "mode": mode,
        "grid": _grid(prepared, run),
        "outputs": _outputs(req, outputs.final, styles, summary_path(prepared)),
        "area_km2": area,
        "area_km2_total": round(float(sum(area.values())), 6),
        "valid_cells": outputs.valid_cells,
        "windows": {
            "total": run.total,
            "classified": run.classified,
            "skipped_nodata": run.skipped,
            **({"unit": "tiles"} if mode == "map" else {}),
        },
        "windows_per_second": run.classified / inference if inference > 0 else 0.0,
        "km2_per_second": done_km2 / inference if inference > 0 else 0.0,
        "batch_size": {"requested": int(req.batch_size), "final": run.final_batch_size},
        "device": device_label,
        "autocast": str(run.autocast).replace("torch.", "") if run.autocast is not None else None,
        "fast_path": fast_path.to_dict(),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "out_of_distribution": odd,
        "warnings": warnings,
    }


def out_of_distribution(prepared, card, run, outputs) -> dict:
    """core/ood.assess for this run: its windows, the share of nodata cells among those a window
    covers (the margin no window reaches is not nodata), the source pixel size."""
    cells = prepared.grid.covered_cells
    nodata = max(0.0, 1.0 - outputs.valid_cells / cells) if cells else 0.0
    stats = run.window_stats if run.window_stats is not None else ood.WindowStats()
    return ood.assess(stats, nodata, prepared.working.source_pixel_m, float(card.gsd_m))


def result_from_summary(summary: dict, card=None, timings=None) -> ClassificationResult:
    """The :class:`ClassificationResult` of a run, read from its summary (one source of truth);
    ``card`` travels with it; ``timings`` (unrounded seconds) default to the summary's."""
    out = summary["outputs"]
    timings = dict(timings if timings is not None else summary["timings_s"])
    return ClassificationResult(
        classes_path=Path(out["classes"]),
        probabilities_path=Path(out["probabilities"]) if "probabilities" in out else None,
        confidence_path=Path(out["confidence"]),
        summary_path=Path(out["summary"]),
        area_km2=dict(summary["area_km2"]),
        windows=summary["windows"]["classified"],
        skipped_windows=summary["windows"]["skipped_nodata"],
        seconds=timings["total"],
        windows_per_second=summary["windows_per_second"],
        device=summary["device"],
        warnings=summary["warnings"],
        radiometry=summary["radiometry"],
        band_mapping=summary["band_mapping"],
        timings=timings,
        summary=summary,
        card=card,
    )
