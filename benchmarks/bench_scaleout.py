"""classify-many on a Dask LocalCluster against single-process runs on the same inputs.

    .venv/bin/python benchmarks/bench_scaleout.py [--inputs 4] [--size 1024] [--stride 32] [--tiles 100]

Prints, for the same rasters (``--inputs`` mosaics of ``--size`` px tiling the bundled sample):
- single process, one engine call per raster in a loop, with 1 and with all CPU threads;
- classify-many with 1 and 2 single-threaded worker processes (each worker loads the model once);
- windows/s for each and the ratios, the peak RSS of each worker, the cluster's start-up time;
- a worked estimate: how long ``--tiles`` Sentinel-2 tiles (10,980 x 10,980 px) take at this
  per-window cost on N workers.
Figures depend on the machine and on what else runs: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import make_mosaic_vrt

S2_TILE_PX = 10980


def _single_process(inputs: list[Path], out: Path, stride: int, threads: int) -> tuple[float, int]:
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    t0 = time.perf_counter()
    windows = 0
    for path in inputs:
        res = classify(ClassificationRequest(path, out, stride=stride, threads=threads, overwrite=True, mode="windows"))
        windows += res.windows + res.skipped_windows
    return time.perf_counter() - t0, windows


def _many(inputs: list[Path], out: Path, stride: int, workers: int, block: int) -> dict:
    from eurosat_landcover.core.scaleout.run import classify_many, connect

    t0 = time.perf_counter()
    with connect("local", workers) as client:  # the cluster classify-many itself starts
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        summary = classify_many(
            [str(p) for p in inputs],
            out,
            {"mode": "windows", "stride": stride},
            scheduler=client.scheduler.address,
            block_size=block,
        )
        wall = time.perf_counter() - t1
        peaks = client.run(_peak_rss_mb)
    return {"start": started, "wall": wall, "summary": summary, "peak_rss_mb": sorted(peaks.values())}


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=4, help="number of rasters (default 4)")
    p.add_argument("--size", type=int, default=1024, help="raster side in px (default 1024)")
    p.add_argument("--stride", type=int, default=32)
    p.add_argument("--block-size", type=int, default=4096)
    p.add_argument("--tiles", type=int, default=100, help="Sentinel-2 tiles in the worked estimate")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
    tmp = Path(tempfile.mkdtemp(prefix="bench_scaleout_"))
    try:
        inputs = [make_mosaic_vrt(tmp / f"r{i}.vrt", args.size) for i in range(args.inputs)]
        load_before = os.getloadavg()
        rows = []
        for threads in (1, os.cpu_count() or 1):
            wall, windows = _single_process(inputs, tmp / f"single{threads}", args.stride, threads)
            rows.append((f"single process, engine loop, {threads} thread(s)", wall, windows, None))
        base = rows[0][1]
        for workers in (1, 2):
            r = _many(inputs, tmp / f"many{workers}", args.stride, workers, args.block_size)
            windows = r["summary"]["windows"]["computed_with_halos"]
            rows.append((f"classify-many, {workers} worker(s) x 1 thread", r["wall"], windows, r))
        print(f"# classify-many benchmark: {args.inputs} rasters of {args.size}^2 px, stride {args.stride}")
        print(f"load average before: {load_before}, CPU cores: {os.cpu_count()}")
        print()
        print("| run | seconds | windows | windows/s | vs single process, 1 thread |")
        print("|---|---:|---:|---:|---:|")
        for name, wall, windows, _ in rows:
            print(f"| {name} | {wall:.1f} | {windows} | {windows / wall:.0f} | {base / wall:.2f} x |")
        print()
        for name, _, _, r in rows[2:]:
            peaks = ", ".join(f"{m:.0f}" for m in r["peak_rss_mb"])
            print(f"{name}: cluster start {r['start']:.1f} s, worker peak RSS {peaks} MB")
        one_worker = rows[2][3]["summary"]
        block_seconds = sum(r["block_seconds"] for r in one_worker["rasters"].values())
        per_window = block_seconds / one_worker["windows"]["computed_with_halos"]
        tile_windows = ((S2_TILE_PX - 64) // args.stride + 1) ** 2
        print()
        print(
            f"Worked estimate: {args.tiles} Sentinel-2 tiles x {tile_windows:,} windows (stride {args.stride}) "
            f"at {per_window * 1e3:.2f} ms per window per single-threaded worker (the 1-worker run's time inside "
            "its blocks, model load included):"
        )
        for n in (1, 8, 32, 128):
            hours = args.tiles * tile_windows * per_window / n / 3600
            print(f"- {n} worker(s): {hours:.2f} h ({hours * 60:.0f} min)")
        print("load average after:", os.getloadavg())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
