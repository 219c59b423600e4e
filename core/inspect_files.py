"""Files beside the window inspector's results: a result raster's run summary, a heat map GeoTIFF."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np

from .inspect_data import WindowFootprint
from .run_names import RASTER_SUFFIXES, summary_name

RESULT_SUFFIXES = tuple(Path(s).stem for s in RASTER_SUFFIXES.values())  # "_classes", ...


def summary_for_result(raster_path: Union[str, Path]) -> Optional[Path]:
    """The run summary beside a result raster (``<name>_classes.tif`` -> ``<name>_summary.json``)."""
    p = Path(str(raster_path).split("|")[0])
    stem = p.stem
    for suffix in RESULT_SUFFIXES:
        if stem.endswith(suffix):
            cand = p.with_name(summary_name(stem[: -len(suffix)]))
            return cand if cand.is_file() else None
    return None


def write_heat_map_geotiff(path: Union[str, Path], heat: np.ndarray, footprint: WindowFootprint, overwrite=False):
    """The heat map as a float32 GeoTIFF aligned with the window (tmp name, then rename)."""
    from osgeo import gdal

    from .writers import staged_file

    with staged_file(path, overwrite) as tmp:
        h, w = heat.shape
        ds = gdal.GetDriverByName("GTiff").Create(tmp, w, h, 1, gdal.GDT_Float32, options=["COMPRESS=DEFLATE"])
        ds.SetGeoTransform(footprint.geotransform)
        ds.SetProjection(footprint.crs_wkt)
        band = ds.GetRasterBand(1)
        band.WriteArray(heat.astype(np.float32))
        band.SetDescription("Grad-CAM")
        ds.FlushCache()
        ds = None
    return Path(path)
