#!/usr/bin/env python3
"""Corrections benchmark on a 20k x 20k cell land-cover map: prints figures, asserts nothing.

    nice -n 5 .venv/bin/python benchmarks/bench_edits.py [--size 20000] [--folder DIR] [--keep]

Writes a synthetic classes raster of SIZE x SIZE cells (engine format, tests/core/synthetic_testlib.py), opens
an editing session (the first open writes ``<run>_corrected.tif`` from the model output), then times
one brush stroke (9 cells wide, 400 cells long), one polygon fill (1000 x 1000 cells) and the undo of
each, as the page runs them (read the affected window, apply, log, write the window in place,
refresh the overviews). Memory: the process's peak RSS (VmHWM) and the RSS growth over the edits,
and the bytes the undo stack keeps. Prints ``uptime``'s load average: figures taken while other
jobs run are slower than on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=20000, help="cells per side (default 20000)")
    ap.add_argument("--folder", type=Path, default=None, help="where to write (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the files")
    args = ap.parse_args(argv)
    from osgeo import gdal

    gdal.SetCacheMax(128 * 1024 * 1024)  # as the CLI does (configure_gdal_for_batch); QGIS sets its own
    from eurosat_landcover.core.edits import Edit, EditSession
    from eurosat_landcover.core.edits.model import brush_geometry, polygon_geometry

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
    from synthetic_testlib import write_synthetic_classes

    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench_edits_"))
    n = args.size
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average before: {load} ({os.cpu_count()} CPUs)")
    t = time.perf_counter()
    classes = write_synthetic_classes(folder, "bench", n, n, cell=10.0)
    print(
        f"map: {n} x {n} cells ({n * n / 1e6:.0f} M), classes raster {classes.stat().st_size / 1e6:.2f} MB, "
        f"written in {time.perf_counter() - t:.1f} s; GDAL block cache bounded to 128 MB"
    )
    rss0 = _status_mb("VmRSS")
    t = time.perf_counter()
    s = EditSession.open(classes)
    print(f"first open (writes the corrected raster from the model output): {time.perf_counter() - t:.1f} s")
    g = s.grid
    rss1 = _status_mb("VmRSS")

    # one brush stroke: 9 cells wide, a diagonal line through 9 points in the middle of the map
    r0, c0 = n // 2, n // 2
    pts = [g.cell_center(r0 + k, c0 + 2 * k) for k in range(0, 180, 20)]
    geom = brush_geometry(g, pts, 9)
    timings = {}
    t = time.perf_counter()
    e1 = s.apply(Edit("brush", geom.ExportToWkt(), 3, all_touched=True))
    length = sum(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 for (x0, y0), (x1, y1) in zip(pts, pts[1:])) / g.cell_size
    timings[f"brush stroke (9 cells wide, {length:.0f} cells long)"] = (time.perf_counter() - t, e1.cells)
    # one polygon fill: 1000 x 1000 cells
    x0, y0 = g.cell_center(n // 4, n // 4)
    x1, y1 = g.cell_center(n // 4 + 1000, n // 4 + 1000)
    poly = polygon_geometry([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    t = time.perf_counter()
    e2 = s.apply(Edit("polygon", poly.ExportToWkt(), 5))
    timings["polygon fill (1000 x 1000 cells)"] = (time.perf_counter() - t, e2.cells)
    undo_bytes = sum(a.nbytes for a in s.undo_stack)
    t = time.perf_counter()
    s.undo()
    timings["undo of the polygon fill"] = (time.perf_counter() - t, e2.cells)
    t = time.perf_counter()
    s.undo()
    timings["undo of the brush stroke"] = (time.perf_counter() - t, e1.cells)
    rss2 = _status_mb("VmRSS")
    s.close()
    for what, (sec, cells) in timings.items():
        print(f"{what}: {sec * 1000:.0f} ms, {cells} cells changed")
    print(f"undo stack for the two edits: {undo_bytes / 1e6:.2f} MB (changed cells only: index + old + new)")
    print(
        f"RSS: {rss0:.0f} MB before the session, {rss1:.0f} MB after the first open, {rss2:.0f} MB after the edits; "
        f"peak (VmHWM) {_status_mb('VmHWM'):.0f} MB"
    )
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime: {load}")
    if not args.keep and args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
