"""Georeferenced mosaics of EuroSAT patches (the bundled sample and the accuracy test).

Each 64 x 64 px patch becomes one block of a GeoTIFF with 10 m pixels in a real UTM zone, so
the georeferenced pipeline at stride 64 (windows aligned to the blocks) sees exactly the patch
the model was evaluated on; the truth per block is written beside it (JSON + CSV).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np


def build_mosaic(
    source,
    items: Sequence[tuple[str, int]],
    out_path,
    columns: int,
    class_names: Sequence[str],
    epsg: int = 32632,
    origin: tuple[float, float] = (480000.0, 5300000.0),
    gsd: float = 10.0,
    patch: int = 64,
    compress: str = "DEFLATE",
    truth_path: Optional[Path] = None,
) -> dict:
    """Write ``items`` ((member, class index) read with models.dataset.read_rgb) as a block mosaic.

    Blocks are filled row by row; when the last row is incomplete the file gets an alpha band
    (transparent empty blocks). Returns the truth dict (also written to ``truth_path`` + .csv).
    """
    from eurosat_landcover.models.dataset import read_rgb
    from osgeo import gdal, osr

    n = len(items)
    rows = -(-n // columns)
    alpha = rows * columns != n
    nb = 4 if alpha else 3
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    opts = ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", f"COMPRESS={compress}"]
    if compress == "DEFLATE":
        opts += ["PREDICTOR=2", "ZLEVEL=9"]
    if compress == "JPEG":
        opts += ["PHOTOMETRIC=YCBCR", "JPEG_QUALITY=95"]
    if alpha:
        opts.append("ALPHA=YES")
    ds = gdal.GetDriverByName("GTiff").Create(str(out_path), columns * patch, rows * patch, nb, gdal.GDT_Byte, opts)
    ds.SetGeoTransform((origin[0], gsd, 0.0, origin[1], 0.0, -gsd))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetMetadata(
        {"CONTENT": "EuroSAT test-split patches, one per 64 px block", "SOURCE": "EuroSAT (Helber et al. 2019), MIT"}
    )
    blocks = []
    strip = np.zeros((nb, patch, columns * patch), np.uint8)
    for r in range(rows):
        strip[:] = 0
        for c in range(columns):
            i = r * columns + c
            if i >= n:
                continue
            member, ci = items[i]
            strip[:3, :, c * patch : (c + 1) * patch] = read_rgb(source, member).transpose(2, 0, 1)
            if alpha:
                strip[3, :, c * patch : (c + 1) * patch] = 255
            x0 = origin[0] + c * patch * gsd
            y1 = origin[1] - r * patch * gsd
            blocks.append(
                {
                    "row": r,
                    "col": c,
                    "class_index": int(ci),
                    "class": class_names[ci],
                    "member": member,
                    "bounds": [x0, y1 - patch * gsd, x0 + patch * gsd, y1],
                }
            )
        for b in range(nb):
            ds.GetRasterBand(b + 1).WriteArray(strip[b], 0, r * patch)
    ds = None
    truth = {
        "raster": out_path.name,
        "epsg": epsg,
        "gsd_m": gsd,
        "block_px": patch,
        "columns": columns,
        "rows": rows,
        "classes": list(class_names),
        "blocks": blocks,
    }
    if truth_path is not None:
        truth_path = Path(truth_path)
        truth_path.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        with truth_path.with_suffix(".csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["row", "col", "class_index", "class", "member", "xmin", "ymin", "xmax", "ymax"])
            for b in blocks:
                w.writerow([b["row"], b["col"], b["class_index"], b["class"], b["member"], *b["bounds"]])
    return truth


def block_accuracy(classes_path, truth: dict) -> tuple[float, int, np.ndarray]:
    """Per-block accuracy of a stride-64 classes raster aligned with the mosaic's blocks."""
    from osgeo import gdal

    ds = gdal.Open(str(classes_path))
    cls = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    pred = np.array([cls[b["row"], b["col"]] for b in truth["blocks"]])
    true = np.array([b["class_index"] for b in truth["blocks"]])
    return float((pred == true).mean()), len(true), pred
