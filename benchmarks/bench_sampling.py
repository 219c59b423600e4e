"""Time of a stratified sampling design on a large classified raster (counts + draw + GeoPackage).

    nice -n 5 .venv/bin/python benchmarks/bench_sampling.py [--size 10000] [--points 1000]

Writes a size x size uint8 land-cover GeoTIFF (10 classes in bands with speckle, a nodata margin) in a temporary
folder, then runs core.accuracy.design.create_sampling_design on it (what the Assess page runs in a QgsTask)
and prints the time of each pass and the peak RSS. Figures depend on the machine's load: the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--points", type=int, default=1000)
    args = p.parse_args()
    sys.path.insert(0, str(REPO.parent))
    from eurosat_landcover.core.accuracy.design import DesignSpec, draw, plan
    from eurosat_landcover.core.accuracy.maps import read_map
    from osgeo import gdal, osr

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big_classes.tif"
        n = args.size
        ds = gdal.GetDriverByName("GTiff").Create(str(path), n, n, 1, gdal.GDT_Byte, ["TILED=YES", "COMPRESS=DEFLATE"])
        ds.SetGeoTransform((500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0))
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32632)
        ds.SetProjection(srs.ExportToWkt())
        band = ds.GetRasterBand(1)
        band.SetNoDataValue(255)
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        for y in range(0, n, 512):
            h = min(512, n - y)
            cols = np.arange(n)
            block = np.broadcast_to((cols * 10 // n).astype(np.uint8), (h, n)).copy()
            speck = rng.random((h, n)) < 0.03
            block[speck] = rng.integers(0, 10, speck.sum())
            block[:, :50] = 255
            band.WriteArray(block, 0, y)
        ds = None
        print(f"raster {n} x {n} px written in {time.perf_counter() - t0:.1f} s")
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        t0 = time.perf_counter()
        info = read_map(path)
        t1 = time.perf_counter()
        spec = DesignSpec(sample_size=args.points, min_per_class=50, seed=1)
        sample = draw(info, spec, plan(info, spec))
        t2 = time.perf_counter()
        print(f"pass 1, counts per class: {t1 - t0:.1f} s ({n * n / (t1 - t0) / 1e6:.0f} Mpx/s)")
        print(f"pass 2, {len(sample.x)} stratified points located: {t2 - t1:.1f} s")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
