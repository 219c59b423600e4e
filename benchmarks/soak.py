#!/usr/bin/env python3
"""Soak test: many consecutive classifications in ONE process, on each model path; prints memory
(RSS), open file descriptors and threads before and after. Asserts nothing; slow, so not part of
the test suite (memory after N runs must stay flat).

    nice -n 5 .venv/bin/python benchmarks/soak.py [--runs 100] [--size 256] [--markdown FILE]

Each model path runs in its own child process (so one's memory does not count in the other's):
``eager`` (``fast_path="off"``) and ``fast path`` (``fast_path="on"``: the TorchScript + oneDNN
Graph module of models/fast_path.py, kept by models/model_cache.py). Every run classifies the same
crop of the bundled sample raster (``--size`` px square, stride 32) with the bundled model into the
same folder with ``overwrite=True``, through ``core.pipeline.classify`` exactly as the CLI and QGIS
call it. RSS growth is measured from the end of the second run (the first run loads the model
and, on the fast path, traces it; the second fills the allocator's caches) to the end of the last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"
PATHS = {"eager": "off", "fast path": "on"}


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def child(mode: str, runs: int, size: int) -> dict:
    """``runs`` classifications in this process -> figures (printed as one JSON line)."""
    from eurosat_landcover.core.gdalutil import configure_gdal_for_batch
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest
    from osgeo import gdal

    configure_gdal_for_batch()  # as the CLI does: GDAL's block cache bounded to 128 MB
    work = Path(tempfile.mkdtemp(prefix="eurosat-soak-"))
    src = work / "crop.tif"
    gdal.Translate(str(src), str(SAMPLE), srcWin=[0, 0, size, size], creationOptions=["TILED=YES"])
    out = work / "out"
    rss, fds, threads, seconds = [_rss_mb()], [_fds()], [threading.active_count()], []
    path = None
    for i in range(runs):
        t0 = time.perf_counter()
        res = classify(
            ClassificationRequest(src, out, device="cpu", stride=32, fast_path=mode, overwrite=True, mode="windows")
        )
        seconds.append(time.perf_counter() - t0)
        path = res.summary.get("fast_path", {}).get("path")
        rss.append(_rss_mb())
        fds.append(_fds())
        threads.append(threading.active_count())
        if i in (0, 1) or (i + 1) % 10 == 0:
            print(f"  [{mode}] run {i + 1}/{runs}: RSS {rss[-1]:.0f} MB, fds {fds[-1]}", file=sys.stderr, flush=True)
    files = sorted(p.name for p in out.iterdir())
    windows = res.summary["windows"]["total"]
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return {
        "mode": mode,
        "model_path": path,
        "runs": runs,
        "windows_per_run": windows,
        "rss_mb": {"before": rss[0], "after_run_1": rss[1], "after_run_2": rss[2], "after_last": rss[-1]},
        "growth_after_run_2_pct": 100.0 * (rss[-1] - rss[2]) / rss[2],
        "fds": {"before": fds[0], "after_run_1": fds[1], "after_last": fds[-1], "max": max(fds)},
        "threads": {"before": threads[0], "after_last": threads[-1]},
        "seconds": {"first": seconds[0], "median": sorted(seconds)[len(seconds) // 2], "total": sum(seconds)},
        "files_in_output_folder": len(files),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--size", type=int, default=256, help="side of the raster crop in px (default 256)")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--child", choices=sorted(PATHS.values()), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.runs, args.size)))
        return 0
    load = os.getloadavg()
    rows = []
    for label, mode in PATHS.items():
        cmd = [sys.executable, __file__, "--child", mode, "--runs", str(args.runs), "--size", str(args.size)]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
        rows.append((label, json.loads(out.strip().splitlines()[-1])))
    load_end = os.getloadavg()
    cmd = f"nice -n 5 .venv/bin/python benchmarks/soak.py --runs {args.runs} --size {args.size}"
    lines = [
        f"- command: `{cmd}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; host: {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average (1 min) {load[0]:.2f} at start, {load_end[0]:.2f} at the end",
        f"- {args.runs} runs per model path, each in one process; {args.size} x {args.size} px crop of the sample, "
        f"stride 32 ({rows[0][1]['windows_per_run']} windows per run), bundled model, CPU, overwrite into one folder",
        "",
        "| model path | RSS before (MB) | after run 1 | after run 2 | after run "
        f"{args.runs} | growth after run 2 | open fds before / after run 1 / after run {args.runs} "
        "| threads before / after | median s/run | files in the folder |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for label, r in rows:
        m, f, t = r["rss_mb"], r["fds"], r["threads"]
        lines.append(
            f"| {label} (`{r['model_path']}`) | {m['before']:.0f} | {m['after_run_1']:.0f} | {m['after_run_2']:.0f} "
            f"| {m['after_last']:.0f} | {r['growth_after_run_2_pct']:+.1f} % | {f['before']} / {f['after_run_1']} / "
            f"{f['after_last']} | {t['before']} / {t['after_last']} | {r['seconds']['median']:.2f} "
            f"| {r['files_in_output_folder']} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
