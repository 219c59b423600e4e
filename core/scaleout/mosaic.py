"""Per raster: a VRT mosaic of each output with its style; for the job: the merged summary."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from osgeo import gdal

from .. import writers
from .blocks import RasterPlan
from .worker import KINDS, temp_token

SUMMARY_NAME = "classify_many_summary.json"


def _styles(card) -> dict[str, str]:
    return {
        "classes": writers.qml_paletted(card),
        "confidence": writers.qml_pseudocolor(),
        "probabilities": writers.qml_pseudocolor(1),
    }


def _describe_bands(vrt: gdal.Dataset, first_tile: str, kind: str, card) -> None:
    """Copy what BuildVRT leaves out: category names, band descriptions, scale/offset, metadata."""
    tile = gdal.Open(first_tile)
    vrt.SetMetadata(tile.GetMetadata())
    for b in range(1, vrt.RasterCount + 1):
        src, dst = tile.GetRasterBand(b), vrt.GetRasterBand(b)
        dst.SetDescription(src.GetDescription())
        if src.GetScale() not in (None, 1.0):
            dst.SetScale(src.GetScale())
            dst.SetOffset(src.GetOffset() or 0.0)
        if kind == "classes":
            dst.SetCategoryNames(list(card.class_names))
            dst.SetColorTable(src.GetColorTable())
            dst.SetColorInterpretation(gdal.GCI_PaletteIndex)


def write_mosaic(outdir: Path, plan: RasterPlan, markers: list[dict], card) -> dict[str, str]:
    """``<name>_<kind>.vrt`` + ``.qml`` per output kind present in every block; returns the paths."""
    outputs = {}
    token = temp_token()
    styles = _styles(card)
    for kind in KINDS:
        tiles = [m["outputs"][kind] for m in markers if kind in m["outputs"]]
        if len(tiles) != len(markers):
            continue
        final = Path(outdir) / f"{plan.name}_{kind}.vrt"
        tmp = final.with_name(f"{final.name}.{token}.partial")
        nodata = None if kind != "classes" and "Float" in _dtype(tiles[0]) else writers.NODATA_CLASS
        opts = gdal.BuildVRTOptions(srcNodata=nodata, VRTNodata=nodata) if nodata is not None else None
        vrt = gdal.BuildVRT(str(tmp), [str(Path(t).resolve()) for t in tiles], options=opts)
        if vrt is None:
            raise RuntimeError(f"cannot build {final}: {gdal.GetLastErrorMsg()}")
        _describe_bands(vrt, tiles[0], kind, card)
        vrt = None
        writers.write_text_atomic(final.with_suffix(".qml"), styles[kind])
        os.replace(tmp, final)
        outputs[kind] = str(final)
    return outputs


def _dtype(path: str) -> str:
    ds = gdal.Open(path)  # kept in a name: a band outliving its dataset crashes GDAL
    return gdal.GetDataTypeName(ds.GetRasterBand(1).DataType)


def raster_summary(plan: RasterPlan, markers: list[dict], card, outputs: dict[str, str]) -> dict:
    """One raster's figures from its blocks' markers: areas, windows, time, outputs."""
    cell_km2 = abs(plan.cell_geotransform[1] * plan.cell_geotransform[5]) / 1e6
    counts = [sum(m["class_counts"][i] for m in markers) for i in range(len(card.classes))]
    area = {c.name: round(n * cell_km2, 6) for c, n in zip(card.classes, counts)}
    computed = sum(m["windows"]["classified"] + m["windows"]["skipped_nodata"] for m in markers)
    return {
        "input": plan.input_path,
        "blocks": len(plan.blocks),
        "outputs": outputs,
        "area_km2": area,
        "area_km2_total": round(sum(area.values()), 6),
        "windows": {"single_run": plan.windows, "computed_with_halos": computed},
        "block_seconds": round(sum(m["seconds"] for m in markers), 3),
        "cells": [plan.grid.ncx, plan.grid.ncy],
        "warnings": sorted({w for m in markers for w in m.get("warnings", [])}),
    }


def merged_summary(per_raster: dict, failures: dict, card, timings: dict, cluster: dict, options: dict) -> dict:
    area = {c.name: round(sum(r["area_km2"][c.name] for r in per_raster.values()), 6) for c in card.classes}
    windows = sum(r["windows"]["single_run"] for r in per_raster.values())
    computed = sum(r["windows"]["computed_with_halos"] for r in per_raster.values())
    wall = timings.get("compute", 0.0)
    return {
        "engine": "eurosat_landcover.core.scaleout",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": card.name, "architecture": card.architecture},
        "options": options,
        "cluster": cluster,
        "rasters": per_raster,
        "failures": failures,
        "area_km2": area,
        "area_km2_total": round(sum(area.values()), 6),
        "area_note": "summed over the inputs: overlapping inputs are counted once per input",
        "windows": {"single_run": windows, "computed_with_halos": computed},
        "windows_per_second": round(computed / wall, 2) if wall > 0 else None,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
