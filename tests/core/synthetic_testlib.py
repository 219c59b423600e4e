"""A run in the engine's exact output format, made without a model (for tests and the benchmark).

:func:`write_synthetic_run` writes ``<prefix>_classes.tif``, ``_confidence.tif``,
``_probabilities.tif`` (optional), their QML styles and ``_summary.json`` through the engine's own
writer (:class:`core.writers.OutputSet`), from a seeded, patchy class pattern with softmax-like
probabilities, so the files are what a real classification of that size would give.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from eurosat_landcover.core import writers
from eurosat_landcover.core.qml import _hex_rgb
from osgeo import osr


def write_synthetic_run(
    folder,
    prefix: str = "synthetic",
    width: int = 40,
    height: int = 30,
    seed: int = 0,
    cell: float = 320.0,
    origin=(500000.0, 5000000.0),
    epsg: int = 32632,
    probabilities: bool = True,
    nodata_rows: int = 1,
    patch: int = 8,
) -> Path:
    """Write a run; returns the path of its ``*_classes.tif``. The last ``nodata_rows`` rows are nodata."""
    from eurosat_landcover.models.card import eurosat_classes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = eurosat_classes()
    card = SimpleNamespace(name="synthetic", classes=classes)
    c = len(classes)
    rng = np.random.default_rng(seed)
    pw, ph = -(-width // patch), -(-height // patch)
    patch_class = rng.integers(0, c, (ph, pw))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    gt = (origin[0], cell, 0.0, origin[1], 0.0, -cell)
    grid = SimpleNamespace(ncx=width, ncy=height)
    out = writers.OutputSet(
        folder,
        prefix,
        grid,
        gt,
        srs.ExportToWkt(),
        card,
        "uint8",
        probabilities,
        {"MODEL": card.name, "SOURCE": "synthetic", "CELL_SIZE_M": f"{cell:g}"},
    )
    try:
        cols = np.arange(width)
        for r in range(height):
            top = patch_class[r // patch, cols // patch]
            logits = rng.normal(0.0, 1.0, (width, c))
            logits[np.arange(width), top] += rng.uniform(0.0, 4.0, width)
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            valid = np.full(width, r < height - nodata_rows)
            out.write_row(r, probs.astype(np.float32), valid)
        out.close_rasters(overviews=True)
        summary_path = folder / f"{prefix}_summary.json"
        summary = {
            "engine": "eurosat_landcover.core (synthetic run: no model)",
            "model": {"name": card.name},
            "outputs": {**{k: str(v) for k, v in out.final.items()}, "summary": str(summary_path)},
            "grid": {"cells": [width, height], "cell_size_m": [cell, cell]},
        }
        texts = {
            out.final["classes"].with_suffix(".qml"): writers.qml_paletted(card),
            summary_path: json.dumps(summary, indent=2) + "\n",
        }
        out.commit(texts)
    except BaseException:
        out.abort()
        raise
    return out.final["classes"]


def write_synthetic_classes(folder, prefix: str, width: int, height: int, seed: int = 0, cell: float = 10.0) -> Path:
    """Only ``<prefix>_classes.tif`` (+ summary), written strip by strip, for rasters too large for
    :func:`write_synthetic_run` to be quick (the benchmark's 20k x 20k cells). Same creation options,
    colour table, category names and engine metadata as the engine's classes raster; no overviews."""
    from eurosat_landcover.models.card import eurosat_classes
    from osgeo import gdal

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = eurosat_classes()
    path = folder / f"{prefix}_classes.tif"
    tmp = path.with_name(path.name + ".partial.tif")
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    opts = ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE", "PREDICTOR=2", "BIGTIFF=IF_SAFER"]
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp), width, height, 1, gdal.GDT_Byte, options=opts)
    ds.SetGeoTransform((500000.0, cell, 0.0, 5000000.0, 0.0, -cell))
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.SetNoDataValue(writers.NODATA_CLASS)
    ct = gdal.ColorTable()
    for i, c in enumerate(classes):
        ct.SetColorEntry(i, (*_hex_rgb(c.color), 255))
    band.SetColorTable(ct)
    band.SetCategoryNames([c.name for c in classes])
    ds.SetMetadata({"MODEL": "synthetic", "CONTENT": "land-cover class index (category names and colours embedded)"})
    rng = np.random.default_rng(seed)
    patch = 97
    table = rng.integers(0, len(classes), (-(-height // patch), -(-width // patch))).astype(np.uint8)
    cols = np.arange(width) // patch
    for y in range(0, height, 256):
        rows = np.arange(y, min(height, y + 256)) // patch
        band.WriteArray(table[rows[:, None], cols[None, :]], 0, y)
    ds.FlushCache()
    ds = None
    tmp.replace(path)
    summary = {"engine": "synthetic classes only", "outputs": {"classes": str(path)}}
    writers.write_json_atomic(folder / f"{prefix}_summary.json", summary)
    return path
