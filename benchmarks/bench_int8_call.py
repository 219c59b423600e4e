#!/usr/bin/env python3
"""Where one cached-INT8 ``classify()`` spends its time, stage by stage, each run in a fresh process (issue 26).
Prints figures, asserts nothing.

    EUROSAT_LANDCOVER_CALIBRATION_DATA=.../EuroSAT_RGB.zip nice -n 10 .venv/bin/python benchmarks/bench_int8_call.py
        [--size 2048] [--stride 64] [--threads 1|engine] [--rounds 4] [--before DIR] [--skip-probe] [--markdown FILE]

The raster is a VRT mosaic of the sample tile (benchmarks/bench_engine.make_mosaic_vrt), the model the bundled one
with ``fast_path="int8"``, from a disk cache primed once (``EUROSAT_LANDCOVER_CACHE_DIR`` when set, else a new
folder: its first run builds the INT8 model, about a minute). Each child process imports the engine, then times
``import torch`` (what ``classify()`` would import first) and the call, with the stages measured by wrapping the
functions that do them (no engine code changed): the idle-CPU sample, releasing the GPU libraries' pages,
loading the INT8 entry (``torch.load`` + ``torch.jit.load``), the probe check, each batch, the outputs. CPU s: the
process's CPU time over import + call (all threads), steadier than wall-clock times on a shared machine; "CPU s
of the calling thread" (``time.thread_time``): the model's own work where the request runs it on 1 thread.

Variants, run in turn round after round, the order reversed every other round (before / after in one run):
- ``this``: the engine of this checkout;
- ``--before DIR``: the engine in DIR (a folder holding an ``eurosat_landcover`` package, e.g. ``git archive
  <commit> | tar -x -C DIR/eurosat_landcover``);
- ``--skip-probe``: this checkout with the probe check's comparison replaced by a pass (what caching its verdict
  would save; the module still runs the probe batch's first call inside the first real batch).
The outputs' pixel hash is printed per variant: every variant must give the same map.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = (
    ("cpu", "CPU s (import torch + call)"),
    ("total", "import torch + call"),
    ("import_torch", "import torch"),
    ("classify", "classify()"),
    ("idle_sample", "idle-CPU sample (wait)"),
    ("gpu_pages", "GPU library pages released"),
    ("int8_load", "INT8 entry load (torch.load + jit.load)"),
    ("probe", "probe check"),
    ("probe_cpu", "probe check, CPU s of the calling thread"),
    ("batches", "batches (all)"),
    ("first_batch", "first batch"),
    ("first_batch_cpu", "first batch, CPU s of the calling thread"),
    ("median_batch", "median batch"),
    ("median_batch_cpu", "median batch, CPU s of the calling thread"),
    ("prepare_input", "input prepared (GDAL)"),
    ("outputs", "rasters closed + overviews + renamed"),
)


def child(vrt: str, out: str, stride: int, threads: str, skip_probe: bool) -> dict:
    from eurosat_landcover.core import pipeline
    from eurosat_landcover.core.request import ClassificationRequest

    spent: dict = {}

    def wrap(owner, name: str, key: str) -> None:
        fn = getattr(owner, name)

        def timed(*a, **k):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                spent.setdefault(key, []).append(time.perf_counter() - t)
                spent.setdefault(key + "_cpu", []).append(time.thread_time() - c)

        setattr(owner, name, timed)

    t0, c0 = time.perf_counter(), time.process_time()
    import torch  # noqa: F401 (timed apart: classify() imports it first)

    import_torch = time.perf_counter() - t0
    from eurosat_landcover.core.stages import run_windows
    from eurosat_landcover.models import devices, int8_path

    wrap(pipeline, "prepare_input", "prepare_input")
    wrap(pipeline, "drop_unused_gpu_library_pages", "gpu_pages")
    wrap(pipeline, "commit_outputs", "outputs")
    wrap(pipeline.writers.OutputSet, "close_rasters", "outputs")
    wrap(devices, "idle_cpu_threads", "idle_sample")
    wrap(int8_path, "load", "int8_load")
    if skip_probe:
        int8_path.compare = lambda *a: {"max": 0.0, "mean": 0.0, "agreement": 1.0}
    wrap(int8_path, "compare", "probe")
    wrap(run_windows.ModelRunner, "__call__", "batches")
    n = None if threads == "engine" else int(threads)
    req = ClassificationRequest(
        Path(vrt), Path(out), stride=stride, batch_size=64, device="cpu", fast_path="int8", threads=n, mode="windows"
    )
    t1 = time.perf_counter()
    res = pipeline.classify(req)
    r = {"total": time.perf_counter() - t0, "import_torch": import_torch, "classify": time.perf_counter() - t1}
    r["cpu"] = time.process_time() - c0
    r.update({k: sum(v) for k, v in spent.items()})
    batches = sorted(spent.get("batches", [0.0]))
    r["first_batch"], r["median_batch"] = spent.get("batches", [0.0])[0], batches[len(batches) // 2]
    r["first_batch_cpu"] = spent.get("batches_cpu", [0.0])[0]
    r["median_batch_cpu"] = sorted(spent.get("batches_cpu", [0.0]))[len(batches) // 2]
    r["path"], r["device"] = res.summary["fast_path"]["path"], res.summary["device"]
    r["outputs_sha256"] = outputs_hash(res)
    return r


def outputs_hash(res) -> str:
    """sha256 of the classes and probabilities rasters' pixels (as GDAL reads them)."""
    import hashlib

    from osgeo import gdal

    h = hashlib.sha256()
    for path in (res.classes_path, res.probabilities_path):
        h.update(gdal.Open(str(path)).ReadAsArray().tobytes())
    return h.hexdigest()[:16]


def run_child(variant: str, pythonpath: str, argv: list, env: dict) -> dict:
    from bench_int8 import child_result

    env = dict(env, PYTHONPATH=pythonpath + os.pathsep + env.get("PYTHONPATH", ""))
    return child_result(Path(__file__).resolve(), argv, env, f"{variant} child")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--stride", type=int, default=64)
    ap.add_argument("--threads", default="1", help="the request's threads: N, or 'engine' (none set)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--before", help="a folder holding another version's eurosat_landcover package")
    ap.add_argument("--skip-probe", action="store_true", help="also this checkout without the probe comparison")
    ap.add_argument("--markdown")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        vrt, out, stride, threads, skip = args.child
        print("RESULT " + json.dumps(child(vrt, out, int(stride), threads, skip == "skip")), flush=True)
        return 0
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import make_mosaic_vrt
    from bench_int8 import cpu_line

    variants = {"this": (str(ROOT.parent), "run")}
    if args.before:
        variants["before"] = (str(Path(args.before).resolve()), "run")
    if args.skip_probe:
        variants["this, probe skipped"] = (str(ROOT.parent), "skip")
    lines = [f"CPU: {cpu_line()}; load average at start {os.getloadavg()[0]:.1f}; threads={args.threads}"]
    print(lines[0], flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-int8-call-") as d:
        d = Path(d)
        env = dict(os.environ)
        env.setdefault("EUROSAT_LANDCOVER_CACHE_DIR", str(d / "cache"))
        vrt = str(make_mosaic_vrt(d / f"mosaic_{args.size}.vrt", args.size))
        run_child("prime", str(ROOT.parent), [vrt, str(d / "prime"), str(args.stride), args.threads, "run"], env)
        runs: dict = {v: [] for v in variants}
        for i in range(args.rounds):  # the order reversed every other round: no variant always runs first
            for v, (pythonpath, mode) in list(variants.items())[:: 1 if i % 2 == 0 else -1]:
                out = str(d / f"out_{i}_{len(runs[v])}_{mode}_{hash(v) & 0xFFFF}")
                runs[v].append(run_child(v, pythonpath, [vrt, out, str(args.stride), args.threads, mode], env))
    lines += table(runs, args)
    lines.append(f"load average at the end {os.getloadavg()[0]:.1f}")
    print("\n".join(lines[1:]))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


def table(runs: dict, args) -> list:
    """The medians per stage and variant, then what each variant ran on and its outputs' hash."""
    windows = ((args.size - 64) // args.stride + 1) ** 2
    head = f"| {args.size}², stride {args.stride} ({windows:,} windows): median of {args.rounds} processes, s |"
    lines = ["", head + " " + " | ".join(runs) + " |", "|---|" + "---:|" * len(runs)]
    for key, label in STAGES:
        cells = [f"{statistics.median(r.get(key, 0.0) for r in rs):.3f}" for rs in runs.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for v, rs in runs.items():
        ran = sorted({f"{r['path']}, {r['device']}" for r in rs})
        lines.append(f"{v}: ran {'; '.join(ran)}; outputs {' '.join(sorted({r['outputs_sha256'] for r in rs}))}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
