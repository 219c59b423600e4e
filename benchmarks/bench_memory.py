#!/usr/bin/env python3
"""Where a classify() call's resident memory goes, stage by stage (issue 26). Prints figures, asserts nothing.

    nice -n 10 .venv/bin/python benchmarks/bench_memory.py [--sizes 2048:64 2048:32] [--fast-path int8]
        [--markdown FILE]

Each size runs in a fresh process (as the CLI does) on a VRT mosaic of the sample tile
(benchmarks/bench_engine.make_mosaic_vrt), after one priming process that fills the disk cache (fp32
graph, INT8 model), so the figures are a user's second run. At each point -- interpreter start,
``import torch``, the engine's imports, then every stage ``classify()`` reports (core/progress.STAGES)
and the end -- the process's /proc/self/smaps_rollup is read: RSS, its anonymous part (heap, arenas,
tensors) and its file-backed part (mapped libraries), and the peak so far (VmHWM). The modules that
are imported by the end (timm, torchvision, triton) are listed, and the largest resident mappings.
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
HEAVY = ("timm", "torchvision", "triton", "torch._dynamo", "onnx", "scipy")


def rollup() -> dict:
    """MB from /proc/self/smaps_rollup (Rss, Anonymous) and /proc/self/status (VmHWM)."""
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in ("Rss:", "Anonymous:"):
            out[parts[0][:-1].lower()] = int(parts[1]) / 1024
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            out["peak"] = int(line.split()[1]) / 1024
    out["file"] = out["rss"] - out["anonymous"]
    return out


def child(vrt: str, out: str, stride: int, fast_path: str) -> dict:
    points = [("python start", rollup())]
    import torch

    points.append(("import torch", rollup()))
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    points.append(("engine imported", rollup()))
    seen: set = set()

    def progress(p) -> None:
        if p.stage not in seen:
            seen.add(p.stage)
            points.append((f"stage {p.stage} starts", rollup()))

    t0 = time.perf_counter()
    req = ClassificationRequest(
        Path(vrt), Path(out), stride=stride, batch_size=64, device="cpu", fast_path=fast_path, mode="windows"
    )
    res = classify(req, progress=progress)
    call = time.perf_counter() - t0
    points.append(("end", rollup()))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_int8 import rss_by_mapping

    return {
        "points": points,
        "call": call,
        "windows": res.windows,
        "path": res.summary["fast_path"]["path"],
        "reason": res.summary["fast_path"]["reason"],
        "heavy": [m for m in HEAVY if m in sys.modules],
        "mappings": [(name, round(mb)) for name, mb in rss_by_mapping(top=6)],
        "threads": torch.get_num_threads(),
    }


def run_child(argv: list, env: dict) -> dict:
    from bench_int8 import child_result

    return child_result(Path(__file__).resolve(), argv, env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["2048:64", "2048:32"])
    ap.add_argument("--fast-path", default="int8", choices=("auto", "on", "off", "int8"))
    ap.add_argument("--markdown")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        vrt, out, stride, mode = args.child
        print("RESULT " + json.dumps(child(vrt, out, int(stride), mode)), flush=True)
        return 0
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import make_mosaic_vrt
    from bench_int8 import cpu_line

    lines: list = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    env = dict(os.environ, PYTHONPATH=str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    say(f"CPU: {cpu_line()}; load average at start {os.getloadavg()[0]:.1f}; fast_path={args.fast_path}")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as d:
        d = Path(d)
        env.setdefault("EUROSAT_LANDCOVER_CACHE_DIR", str(d / "cache"))
        prime = make_mosaic_vrt(d / "prime.vrt", 512)
        first = run_child([str(prime), str(d / "prime"), "64", args.fast_path], env)
        say(f"cache primed: {first['path']}")
        for spec in args.sizes:
            size, stride = (int(v) for v in spec.split(":"))
            vrt = make_mosaic_vrt(d / f"mosaic_{size}.vrt", size)
            r = run_child([str(vrt), str(d / f"out_{spec}"), str(stride), args.fast_path], env)
            say()
            say(
                f"{size}², stride {stride}: {r['windows']:,} windows, path {r['path']}, call {r['call']:.2f} s, "
                f"{r['threads']} threads, load average {os.getloadavg()[0]:.1f}; heavy modules imported: "
                f"{', '.join(r['heavy']) or 'none'}"
            )
            say()
            say("| point | RSS MB | anonymous MB | file-backed MB | peak so far MB |")
            say("|---|---:|---:|---:|---:|")
            for name, m in r["points"]:
                say(f"| {name} | {m['rss']:.0f} | {m['anonymous']:.0f} | {m['file']:.0f} | {m['peak']:.0f} |")
            say()
            say("Largest resident mappings at the end: " + ", ".join(f"{n} {mb} MB" for n, mb in r["mappings"]))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
