"""Helpers shared by the engine tests (imported via conftest's sys.path entry)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# beside the repository; EUROSAT_DATASETS names another place (a git worktree elsewhere)
SHARED = Path(os.environ.get("EUROSAT_DATASETS") or Path(__file__).resolve().parents[3] / "shared" / "datasets")
RGB_ZIP = SHARED / "eurosat-rgb" / "EuroSAT_RGB.zip"
MS_ZIP = SHARED / "eurosat-ms-sample" / "EuroSAT_MS_sample.zip"


def make_card(weights_name="m.safetensors", **over):
    from eurosat_landcover.models.registry import eurosat_rgb_card

    kw = dict(title="random weights (tests)", weights=weights_name, metrics={"split": "test", "accuracy": 0.1})
    kw.update(over)
    return eurosat_rgb_card("tf_efficientnet_lite0", "test_random_lite0", **kw)


def write_geotiff(
    path,
    array: np.ndarray,
    epsg: int | None = 32632,
    origin=(500000.0, 5000000.0),
    pixel=(10.0, 10.0),
    nodata=None,
    descriptions=None,
    color_interp=None,
    wkt: str | None = None,
    options=("TILED=YES", "COMPRESS=DEFLATE"),
):
    """(bands, rows, cols) array -> GeoTIFF; epsg None and wkt None -> no georeference."""
    from osgeo import gdal, gdal_array, osr

    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    b, h, w = array.shape
    dt = gdal_array.NumericTypeCodeToGDALTypeCode(array.dtype)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, b, dt, options=list(options))
    if epsg is not None or wkt is not None:
        ds.SetGeoTransform((origin[0], pixel[0], 0.0, origin[1], 0.0, -pixel[1]))
        srs = osr.SpatialReference()
        if wkt:
            srs.ImportFromWkt(wkt)
        else:
            srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i in range(b):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(array[i])
        if nodata is not None:
            band.SetNoDataValue(float(nodata))
        if descriptions:
            band.SetDescription(descriptions[i])
        if color_interp:
            band.SetColorInterpretation(color_interp[i])
    ds = None
    return Path(path)


def random_rgb(h=256, w=256, seed=0):
    rng = np.random.default_rng(seed)
    # smooth-ish imagery: blocky noise so windows differ
    base = rng.integers(0, 255, size=(3, h // 16 + 1, w // 16 + 1), dtype=np.uint8)
    return np.repeat(np.repeat(base, 16, axis=1), 16, axis=2)[:, :h, :w].copy()


class BrightnessModel:
    """Deterministic stand-in for a classifier: class = floor(mean of band 1 / 25.6) (0..9).

    Built lazily as a torch module so the tests can tell exactly which class a window gets.
    """

    def __new__(cls, fail_on_call=None, oom_above=None):
        import torch
        from torch import nn

        class _M(nn.Module):
            def __init__(self):
                super().__init__()
                self.calls = 0
                self.sizes = []
                self.dummy = nn.Parameter(torch.zeros(1))

            def forward(self, x):
                self.calls += 1
                self.sizes.append(int(x.shape[0]))
                if fail_on_call is not None and self.calls >= fail_on_call:
                    raise RuntimeError("boom: simulated model failure")
                if oom_above is not None and x.shape[0] > oom_above:
                    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
                m = x[:, 0].float().mean(dim=(1, 2))
                idx = torch.clamp((m / 25.6).floor().long(), 0, 9)
                return torch.nn.functional.one_hot(idx, 10).float() * 20.0

        return _M()
