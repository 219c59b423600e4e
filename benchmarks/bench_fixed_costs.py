#!/usr/bin/env python3
"""Fixed costs of a classification: whole process, whole call and stage by stage. Prints figures,
asserts nothing.

    nice -n 5 .venv/bin/python benchmarks/bench_fixed_costs.py [--sizes 2048:64 4096:64 4096:32]
        [--threads N] [--fast-path auto] [--markdown FILE]

For each raster (a VRT mosaic of the bundled sample tile, benchmarks/bench_engine.make_mosaic_vrt)
and stride, two fresh Python processes run, one after the other, on the same on-disk cache folder
(EUROSAT_LANDCOVER_CACHE_DIR, a new temporary folder per raster, so earlier runs never help):
- "first": the cache folder is empty (a first run on a new machine or after an upgrade);
- "cached": the cache folder holds what the first process left (every later run of the CLI or of
  a new QGIS session).
The CPU seconds (all threads of the process: time.process_time) vary less than wall-clock times
when other jobs share the machine. Each process runs ``classify()`` twice: "cold" (the process's
first call) and "warm" (a second call in the same process: what QGIS sees on the next press of
Run). Stages, each measured by wrapping the function that does it (no engine code is changed):
- python start: process spawn -> the child's first line; imports: torch + the engine;
- card + weights check: reading the model card and verifying the weights' SHA-256;
- network build: the timm/torchvision network built and its weights loaded (timm imported then);
- tracing: torch.jit.trace + freeze (or torch.jit.load of a cached graph);
- warm-up + check: the rest of the fast path's preparation (warm-up calls, probe check, writing
  the graph cache), the network build excluded;
- first batch: the first batch through the model inside the window loop;
- call: the whole ``classify()``; process: spawn -> first call done.
CPU figures are noisy on a shared machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = (
    ("python_start", "python start"),
    ("imports", "imports"),
    ("card_weights", "card + weights check"),
    ("network", "network build"),
    ("tracing", "tracing / graph load"),
    ("warmup", "warm-up + check"),
    ("first_batch", "first batch"),
    ("call", "whole call"),
    ("process", "whole process"),
    ("call_cpu", "call CPU s"),
    ("process_cpu", "process CPU s"),
)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# ----------------------------------------------------------------------------- child process
class _Timers:
    def __init__(self):
        self.t: dict[str, float] = {}
        self.first_batch = None

    def add(self, key: str, dt: float) -> None:
        self.t[key] = self.t.get(key, 0.0) + dt

    def wrap(self, owner, name: str, key: str) -> None:
        fn = getattr(owner, name)
        timers = self

        def wrapped(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers.add(key, time.perf_counter() - t0)

        setattr(owner, name, wrapped)


def child(args) -> None:
    t_child = time.time()
    spawn = float(args.spawn)
    out = {"python_start": t_child - spawn}
    t0 = time.perf_counter()
    import torch
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    out["imports"] = time.perf_counter() - t0
    timers = _Timers()
    from eurosat_landcover.core.stages import run_windows
    from eurosat_landcover.models import card as card_mod
    from eurosat_landcover.models import checkpoint, hashing, registry

    timers.wrap(card_mod.ModelCard, "load", "card_weights")  # the bound classmethod, wrapped
    timers.wrap(hashing, "sha256_file", "card_weights")
    timers.wrap(registry, "build_model", "network")
    timers.wrap(checkpoint, "_read_state_dict", "network")
    timers.wrap(torch.jit, "trace", "tracing")
    timers.wrap(torch.jit, "freeze", "tracing")
    timers.wrap(torch.jit, "load", "tracing")
    runner_call = run_windows.ModelRunner.__call__

    def first_batch_timer(self, data):
        t = time.perf_counter()
        r = runner_call(self, data)
        if timers.first_batch is None:
            timers.first_batch = time.perf_counter() - t
        return r

    run_windows.ModelRunner.__call__ = first_batch_timer
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = []
    for i, label in enumerate(("cold", "warm")):
        timers.t, timers.first_batch = {}, None
        timm_before = "timm" in sys.modules
        req = ClassificationRequest(
            args.vrt,
            Path(args.out) / label,
            stride=args.stride,
            batch_size=64,
            device="cpu",
            fast_path=args.fast_path,
            mode="windows",
        )
        t0, c0 = time.perf_counter(), time.process_time()
        res = classify(req)
        call, call_cpu = time.perf_counter() - t0, time.process_time() - c0
        r = {
            "run": label,
            "call": call,
            "call_cpu": call_cpu,
            "windows": res.windows,
            "fast_path": res.summary["fast_path"],
            "engine_timings": res.timings,
            "card_weights": timers.t.get("card_weights", 0.0),
            "network": timers.t.get("network", 0.0),
            "tracing": timers.t.get("tracing", 0.0),
            "first_batch": timers.first_batch or 0.0,
            "timm_imported": ("timm" in sys.modules) and not timm_before,
            "timm_loaded": "timm" in sys.modules,
        }
        prep = res.timings.get("model_prepare", 0.0)
        # a lazily built network (models/lazy_model.py) is built inside the fast path's preparation
        inside = r["network"] if res.timings.get("model_load", 0.0) < r["network"] else 0.0
        r["warmup"] = max(0.0, prep - r["tracing"] - inside) if prep else 0.0
        if i == 0:
            r["process"] = time.time() - spawn
            r["process_cpu"] = time.process_time()  # this process's CPU seconds (all threads) so far
            r["python_start"] = out["python_start"]
            r["imports"] = out["imports"]
        runs.append(r)
    print("RESULT " + json.dumps(runs))


# ----------------------------------------------------------------------------- parent
def run_process(vrt: Path, stride: int, cache_dir: Path, out: Path, args) -> list:
    from bench_int8 import child_result

    env = dict(os.environ, EUROSAT_LANDCOVER_CACHE_DIR=str(cache_dir))
    env["PYTHONPATH"] = str(ROOT.parent) + os.pathsep + env.get("PYTHONPATH", "")
    options = ["--fast-path", args.fast_path] + (["--threads", str(args.threads)] if args.threads else [])
    argv = [str(vrt), str(out), str(stride), repr(time.time()), *options]  # the spawn's time, as late as possible
    return child_result(Path(__file__).resolve(), argv, env)


def fmt_row(label: str, r: dict) -> str:
    cells = [f"{r[k]:.2f}" if isinstance(r.get(k), float) else "" for k, _ in STAGES]
    fp = r["fast_path"]["path"]
    return f"| {label} | {r['windows']} | " + " | ".join(cells) + f" | {fp} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["2048:64", "4096:64", "4096:32"], help="SIZE:STRIDE pairs")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--fast-path", default="auto", choices=("auto", "on", "off", "int8"))
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--child", nargs=4, metavar=("VRT", "OUT", "STRIDE", "SPAWN"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        vrt, out, stride, spawn = args.child
        args.vrt, args.out, args.stride, args.spawn = vrt, out, int(stride), spawn
        child(args)
        return
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import cpu_name, make_mosaic_vrt

    head = ["raster, stride: process, run", "windows"] + [label for _, label in STAGES] + ["model path"]
    lines = [
        f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average before: {load_average()} "
        "(other jobs make CPU figures noisy; re-run idle if they matter)",
        "",
        "Seconds. fast_path=" + args.fast_path,
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-fixed-") as d:
        d = Path(d)
        for spec in args.sizes:
            size, stride = (int(v) for v in spec.split(":"))
            vrt = make_mosaic_vrt(d / f"mosaic_{size}.vrt", size)
            cache = d / f"cache_{size}_{stride}"
            for proc in ("first", "cached"):
                runs = run_process(vrt, stride, cache, d / f"out_{size}_{stride}_{proc}", args)
                for r in runs:
                    row = fmt_row(f"{size}² px, {stride}: {proc}, {r['run']}", r)
                    lines.append(row)
                    print(row, flush=True)
                    if r["run"] == "cold":
                        note = f"    fast path: {r['fast_path']['reason']}; timm imported: {r['timm_imported']}"
                        print(note, flush=True)
    tail = f"\nload average after: {load_average()}"
    lines.append(tail)
    print(tail)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
