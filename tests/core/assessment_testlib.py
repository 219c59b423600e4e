"""Small classified GeoTIFFs for the assessment tests (real files on disk, UTM 32N)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from eurosat_landcover.models.dataset import EUROSAT_CLASSES

NAMES = list(EUROSAT_CLASSES)
COLORS = ["#e6a23c", "#1b7837", "#a6d96a", "#7f7f7f", "#d62728", "#c2e699", "#8c510a", "#e377c2", "#1f78b4", "#08306b"]
ORIGIN = (500000.0, 5000000.0)


def write_classes(
    path, arr: np.ndarray, pixel: float = 10.0, epsg: int = 32632, nodata: int = 255, summary: bool = True
) -> Path:
    """A uint8 land-cover raster like the engine writes (colour table, category names, nodata 255) + summary."""
    from osgeo import gdal, osr

    path = Path(path)
    h, w = arr.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((ORIGIN[0], pixel, 0.0, ORIGIN[1], 0.0, -pixel))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.WriteArray(arr.astype(np.uint8))
    band.SetNoDataValue(nodata)
    ct = gdal.ColorTable()
    for i, c in enumerate(COLORS):
        ct.SetColorEntry(i, (*(int(c[k : k + 2], 16) for k in (1, 3, 5)), 255))
    band.SetColorTable(ct)
    band.SetCategoryNames(NAMES)
    ds = None
    if summary and path.name.endswith("_classes.tif"):
        prefix = path.name[: -len("_classes.tif")]
        path.with_name(prefix + "_summary.json").write_text(
            json.dumps(
                {
                    "created_utc": "2026-11-21T12:00:00+00:00",
                    "input": {"path": "/data/scene.tif"},
                    "model": {
                        "name": "eurosat_rgb_lite0",
                        "title": "EuroSAT RGB, EfficientNet-Lite0",
                        "architecture": "tf_efficientnet_lite0",
                        "patch_size": 64,
                        "gsd_m": 10.0,
                        "metrics": {"test_accuracy": 0.9872},
                    },
                    "grid": {"stride_px": 32, "cell_size_m": [pixel, pixel]},
                }
            )
        )
    return path


def blocky_map(h=120, w=160, seed=0, nodata_corner=True) -> np.ndarray:
    """Four classes (Forest, AnnualCrop, SeaLake, Residential) in blocks with speckle, a nodata corner."""
    rng = np.random.default_rng(seed)
    arr = np.full((h, w), 1, np.uint8)
    arr[: h // 2, w // 2 :] = 0
    arr[h // 2 :, : w // 3] = 9
    arr[h // 2 :, w // 3 : w // 2] = 7
    speck = rng.random((h, w)) < 0.05
    arr[speck] = rng.choice([0, 1, 7, 9], speck.sum())
    if nodata_corner:
        arr[:10, :10] = 255
    return arr


def write_confidence(path, conf: np.ndarray, pixel: float = 10.0, epsg: int = 32632) -> Path:
    """The engine's confidence raster: uint8 = round(p * 254), scale 1/254, nodata 255."""
    from osgeo import gdal, osr

    h, w = conf.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((ORIGIN[0], pixel, 0.0, ORIGIN[1], 0.0, -pixel))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.WriteArray(np.where(np.isfinite(conf), np.round(conf * 254), 255).astype(np.uint8))
    band.SetNoDataValue(255)
    band.SetScale(1.0 / 254)
    band.SetOffset(0.0)
    ds = None
    return Path(path)
