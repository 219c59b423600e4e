#!/usr/bin/env python3
"""Export benchmark: polygonising big class rasters within bounded memory. Prints figures, asserts nothing.

    nice -n 5 .venv/bin/python benchmarks/bench_export.py [--sizes 5000 10000 20000] [--mmu-ha 5]
        [--markdown benchmarks/results_export.md] [--keep DIR]

For each size N a synthetic N x N cell class map (10 classes, irregular patches like a land-cover map:
a coarse random class grid warped by sinusoids, plus 4 x 4-cell speckles, written block by block, never
a whole array in RAM)
and a confidence raster are written as tiled GeoTIFFs with the engine's encoding; then, each in a
fresh subprocess, ``core.export.export_run(what=polygons)`` writes the GeoPackage (polygonize, mean
confidence per polygon, style) and optionally the same with a minimum mapping unit (GDAL sieve).
Reported: cells, polygons, seconds, RSS before the export and peak RSS (VmHWM of the subprocess),
GeoPackage size, and the load average (other jobs on the machine slow the timings, not the memory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 1024
PATCH = 50  # cells per patch of the coarse class grid (1 km at 20 m)
SPECK = 4  # speckles of 4 x 4 cells (0.64 ha) in about 1 % of the map: what a minimum mapping unit removes
CELL = 20.0  # m


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_run(folder: Path, n: int, seed: int = 0) -> Path:
    import numpy as np
    from osgeo import gdal, osr

    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from export_testlib import CLASSES

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, len(CLASSES), size=(n // PATCH + 3, n // PATCH + 3)).astype(np.uint8)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    gt = (400000.0, CELL, 0.0, 5400000.0, 0.0, -CELL)
    drv = gdal.GetDriverByName("GTiff")
    opts = ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2", "BIGTIFF=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"]
    cls_ds = drv.Create(str(folder / "big_classes.tif"), n, n, 1, gdal.GDT_Byte, opts)
    conf_ds = drv.Create(str(folder / "big_confidence.tif"), n, n, 1, gdal.GDT_Byte, opts)
    for ds in (cls_ds, conf_ds):
        ds.SetGeoTransform(gt)
        ds.SetProjection(srs.ExportToWkt())
        ds.GetRasterBand(1).SetNoDataValue(255)
    b = cls_ds.GetRasterBand(1)
    ct = gdal.ColorTable()
    for i, (_n, c) in enumerate(CLASSES):
        ct.SetColorEntry(i, (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16), 255))
    b.SetColorTable(ct)
    b.SetCategoryNames([nm for nm, _c in CLASSES])
    conf_ds.GetRasterBand(1).SetScale(1 / 254)
    for y0 in range(0, n, BLOCK):
        h = min(BLOCK, n - y0)
        yy = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
        for x0 in range(0, n, BLOCK):
            w = min(BLOCK, n - x0)
            xx = np.arange(x0, x0 + w, dtype=np.float32)[None, :]
            wy = yy + 35 * np.sin(xx / 53.0) + 17 * np.sin((xx + yy) / 23.0)
            wx = xx + 35 * np.sin(yy / 47.0) + 17 * np.cos((xx - yy) / 29.0)
            iy = np.clip((wy / PATCH).astype(np.int64) + 1, 0, coarse.shape[0] - 1)
            ix = np.clip((wx / PATCH).astype(np.int64) + 1, 0, coarse.shape[1] - 1)
            c = coarse[iy, ix]
            sy = (yy // SPECK).astype(np.int64)
            sx = (xx // SPECK).astype(np.int64)
            speck = ((sy * 7919 + sx * 104729) % 97) == 0
            c = np.where(speck, (c + 3) % len(CLASSES), c).astype(np.uint8)
            b.WriteArray(c, x0, y0)
            conf = (150 + (c.astype(np.int16) * 9) + ((xx + yy).astype(np.int64) % 7)).astype(np.uint8)
            conf_ds.GetRasterBand(1).WriteArray(conf, x0, y0)
    cls_ds = conf_ds = None
    summary = {
        "engine": "eurosat_landcover.core (synthetic map for the export benchmark)",
        "outputs": {"classes": str(folder / "big_classes.tif"), "confidence": str(folder / "big_confidence.tif")},
        "grid": {"cell_size_m": [CELL, CELL], "cells": [n, n]},
    }
    p = folder / "big_summary.json"
    p.write_text(json.dumps(summary))
    return p


def child(summary: str, outdir: str, mmu: float) -> None:
    """One export in this process; prints a JSON line with the figures."""
    sys.path.insert(0, str(ROOT.parent))
    from eurosat_landcover.core.export import ExportOptions, export_run
    from eurosat_landcover.core.gdalutil import configure_gdal_for_batch

    configure_gdal_for_batch()
    rss0 = _status_mb("VmRSS")
    t0 = time.perf_counter()
    res = export_run(summary, outdir, ExportOptions(what=("polygons",), mmu_ha=mmu))
    dt = time.perf_counter() - t0
    f = Path(res.polygons["file"])
    print(
        json.dumps(
            {
                "seconds": dt,
                "rss_before_mb": rss0,
                "peak_rss_mb": _status_mb("VmHWM"),
                "polygons": res.polygons["polygons"],
                "mmu_cells": res.polygons["mmu_cells"],
                "gpkg_mb": f.stat().st_size / 2**20,
            }
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    ap.add_argument("--mmu-ha", type=float, default=5.0, help="also run with this MMU (0: skip)")
    ap.add_argument("--markdown", help="write the table to this file")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return 0
    load0 = os.getloadavg()
    work = (
        Path(args.keep)
        if args.keep
        else Path(
            tempfile.mkdtemp(
                prefix="bench_export_", dir=ROOT.parent / "tmp" if (ROOT.parent / "tmp").is_dir() else None
            )
        )
    )
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        d = work / f"n{n}"
        d.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        summary = make_run(d, n)
        make_s = time.perf_counter() - t0
        for mmu in [0.0] + ([args.mmu_ha] if args.mmu_ha else []):
            out = d / f"out_mmu{mmu:g}"
            r = subprocess.run(
                [sys.executable, __file__, "--child", str(summary), str(out), str(mmu)],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                print(r.stderr, file=sys.stderr)
                return 1
            fig = json.loads(r.stdout.strip().splitlines()[-1])
            fig.update(n=n, mmu_ha=mmu, make_s=make_s, load=os.getloadavg()[0])
            rows.append(fig)
            print(
                f"{n} x {n} cells, MMU {mmu:g} ha: {fig['polygons']:,} polygons in {fig['seconds']:.1f} s, "
                f"RSS before {fig['rss_before_mb']:.0f} MB, peak RSS {fig['peak_rss_mb']:.0f} MB, "
                f"GeoPackage {fig['gpkg_mb']:.0f} MB (load {fig['load']:.2f})",
                flush=True,
            )
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()
    md = [
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; host: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores; GDAL cache 128 MB (the CLI's batch setting)",
        f"- load average (1 min) at start {load0[0]:.2f}, at end {load1[0]:.2f} (shared machine: timings are "
        "noisy, memory is not)",
        f"- command: `nice -n 5 .venv/bin/python benchmarks/bench_export.py --sizes {' '.join(map(str, args.sizes))} "
        f"--mmu-ha {args.mmu_ha:g}" + (f" --markdown {args.markdown}" if args.markdown else "") + "`",
        "",
        "| class raster (cells) | MMU | polygons | time (s) | RSS before (MB) | peak RSS (MB) | GeoPackage (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for f in rows:
        md.append(
            f"| {f['n']:,} x {f['n']:,} | {f['mmu_ha']:g} ha ({f['mmu_cells']} cells) | {f['polygons']:,} | "
            f"{f['seconds']:.1f} | {f['rss_before_mb']:.0f} | {f['peak_rss_mb']:.0f} | {f['gpkg_mb']:.0f} |"
        )
    text = "\n".join(md) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text("# Export benchmark (polygons)\n\n" + text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
