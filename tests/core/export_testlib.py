"""A small land-cover run on disk, written the way the engine writes one (no model, no torch):
class raster (uint8, colour table, category names, nodata 255), confidence (uint8 = round(p*254),
scale 1/254), probabilities, their QML and a ``*_summary.json``. Shared by the core and QGIS export tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CLASSES = [
    ("AnnualCrop", "#e6d93b"),
    ("Forest", "#1b5e20"),
    ("HerbaceousVegetation", "#8bc34a"),
    ("Highway", "#424242"),
    ("Industrial", "#8e7f96"),
    ("Pasture", "#c5e17a"),
    ("PermanentCrop", "#f39c12"),
    ("Residential", "#d32f2f"),
    ("River", "#4fa3e0"),
    ("SeaLake", "#0d3b8c"),
]
CELL = 100.0  # m: one cell = 1 ha
ORIGIN = (500000.0, 5000000.0)


def class_array(w=60, h=40, seed=3) -> np.ndarray:
    """Blobs of classes, a nodata corner, and single-cell specks (for the minimum mapping unit)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    centres = rng.uniform([0, 0], [h, w], size=(12, 2))
    d = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2
    cls = (np.argmin(d, axis=2) % len(CLASSES)).astype(np.uint8)
    specks = rng.integers(0, [h, w], size=(25, 2))
    cls[specks[:, 0], specks[:, 1]] = rng.integers(0, len(CLASSES), 25).astype(np.uint8)
    cls[: h // 5, : w // 6] = 255  # nodata corner
    return cls


def write_run(folder, name="demo", w=60, h=40, seed=3) -> Path:
    """Write the run into ``folder``; returns the summary path."""
    from eurosat_landcover.core import writers
    from osgeo import gdal, osr

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cls = class_array(w, h, seed)
    rng = np.random.default_rng(seed + 1)
    conf = np.where(cls == 255, 255, rng.integers(100, 254, cls.shape)).astype(np.uint8)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    gt = (ORIGIN[0], CELL, 0.0, ORIGIN[1], 0.0, -CELL)
    drv = gdal.GetDriverByName("GTiff")
    paths = {
        "classes": folder / f"{name}_classes.tif",
        "confidence": folder / f"{name}_confidence.tif",
        "probabilities": folder / f"{name}_probabilities.tif",
    }
    ds = drv.Create(str(paths["classes"]), w, h, 1, gdal.GDT_Byte, ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform(gt)
    ds.SetProjection(srs.ExportToWkt())
    b = ds.GetRasterBand(1)
    b.WriteArray(cls)
    b.SetNoDataValue(255)
    ct = gdal.ColorTable()
    for i, (_n, c) in enumerate(CLASSES):
        ct.SetColorEntry(i, (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16), 255))
    ct.SetColorEntry(255, (0, 0, 0, 0))
    b.SetColorTable(ct)
    b.SetCategoryNames([n for n, _c in CLASSES])
    b.SetDescription("class")
    ds = None
    for key, bands in (("confidence", 1), ("probabilities", len(CLASSES))):
        ds = drv.Create(str(paths[key]), w, h, bands, gdal.GDT_Byte, ["TILED=YES", "COMPRESS=DEFLATE"])
        ds.SetGeoTransform(gt)
        ds.SetProjection(srs.ExportToWkt())
        for i in range(bands):
            bb = ds.GetRasterBand(i + 1)
            bb.WriteArray(conf if key == "confidence" else np.where(cls == i, conf, np.where(cls == 255, 255, 0)))
            bb.SetNoDataValue(255)
            bb.SetScale(1 / 254)
            bb.SetOffset(0.0)
            bb.SetDescription("confidence" if key == "confidence" else CLASSES[i][0])
        ds = None
    card = type("Card", (), {"classes": [type("C", (), {"name": n, "color": c})() for n, c in CLASSES]})()
    (folder / f"{name}_classes.qml").write_text(writers.qml_paletted(card), encoding="utf-8")
    valid = cls != 255
    area = {n: float((cls == i).sum()) * CELL * CELL / 1e6 for i, (n, _c) in enumerate(CLASSES)}
    summary = {
        "engine": "eurosat_landcover.core",
        "created_utc": "2026-11-21T12:00:00+00:00",
        "input": {"path": str(folder / "input.tif"), "size_px": [w * 10, h * 10], "crs": "EPSG:32632"},
        "request": {"input_path": str(folder / "input.tif"), "stride": 64, "bounds": None, "device": "cpu"},
        "band_mapping": {"bands": [1, 2, 3], "reason": "test"},
        "radiometry": {"method": "8bit", "formula": "x"},
        "working_raster": {"crs": "EPSG:32632"},
        "model": {
            "name": "test_model",
            "title": "Test model",
            "architecture": "tf_efficientnet_lite0",
            "bands": ["B04", "B03", "B02"],
            "patch_size": 64,
            "gsd_m": 10.0,
            "metrics": {"test": {"accuracy": 0.9872, "n": 2430, "macro_f1": 0.987}, "split": "test"},
        },
        "grid": {"stride_px": 10, "cell_size_m": [CELL, CELL], "cells": [w, h]},
        "outputs": {k: str(v) for k, v in paths.items()} | {"classes_nodata": 255},
        "area_km2": area,
        "valid_cells": int(valid.sum()),
        "windows": {"classified": 100},
        "device": "cpu",
    }
    sp = folder / f"{name}_summary.json"
    sp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return sp
