"""Issue 25 item 5: a run on a drawn extent is snapped to the whole raster's cell grid. Before, its cells sat a
fraction of a cell off the whole-layer run's (26.375 cells in the analyst's case) and only 68.5 % agreed at the
same place, and a nodata strip ran along its last row and column. A real EfficientNet-Lite0 (random weights)
classifies a real textured GeoTIFF twice: whole, and on an extent that cuts cells."""

from __future__ import annotations

import numpy as np
from engine_testlib import write_geotiff
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from osgeo import gdal

X0, Y1, PX, STRIDE = 500000.0, 5000000.0, 10.0, 32
CELL = PX * STRIDE


def _run(src, out, card, bounds=None):
    req = ClassificationRequest(
        str(src),
        str(out),
        model_card=str(card),
        stride=STRIDE,
        batch_size=32,
        device="cpu",
        bounds=bounds,
        mode="windows",
    )
    res = classify(req)
    ds = gdal.Open(str(res.classes_path))
    return ds.GetRasterBand(1).ReadAsArray(), ds.GetGeoTransform(), res


def test_drawn_extent_cells_are_the_whole_runs_cells(tmp_path, random_card):
    rng = np.random.default_rng(5)
    blocks = rng.integers(0, 255, (3, 20, 20)).astype(np.uint8)
    img = np.kron(blocks, np.ones((1, 32, 32), np.uint8))  # 640 x 640 px, texture at the cell scale
    img = (img + rng.integers(0, 30, img.shape)).astype(np.uint8)
    src = write_geotiff(tmp_path / "scene.tif", img, origin=(X0, Y1))
    whole, gt_w, _ = _run(src, tmp_path / "whole", random_card)
    # an extent that cuts cells: 3.375 to 12.8 cells across, 2.6 to 11.2 cells down
    bounds = (X0 + 3.375 * CELL, Y1 - 11.2 * CELL, X0 + 12.8 * CELL, Y1 - 2.6 * CELL)
    part, gt_p, res = _run(src, tmp_path / "part", random_card, bounds)
    assert gt_p[1] == gt_w[1] == CELL
    col0, row0 = (gt_p[0] - gt_w[0]) / CELL, (gt_w[3] - gt_p[3]) / CELL
    assert (col0, row0) == (3.0, 2.0)  # on the whole run's grid: whole cells off, not 3.375
    col0, row0 = int(col0), int(row0)
    h, w = part.shape
    assert (h, w) == (10, 10)  # rows 2..11, columns 3..12: the drawn extent widened to whole cells
    assert (part != 255).all()  # no nodata strip along the last row and column
    # cells whose every window lies inside the extent (k = 2: one cell in from each edge) agree with the whole run
    inner = part[1:-1, 1:-1] == whole[row0 + 1 : row0 + h - 1, col0 + 1 : col0 + w - 1]
    assert inner.mean() >= 0.98, inner.mean()
    assert any("snapped to the raster's 32 px cells" in n for n in res.summary["working_raster"]["notes"])
