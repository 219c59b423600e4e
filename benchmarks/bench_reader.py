#!/usr/bin/env python3
"""What the engine costs besides the model: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_reader.py [--size 2048] [--strides 64 32 16] [--repeats 3]

On 2 cores the reader thread (GDAL reads, scaling, copying windows into batches) and the main
thread's aggregation run beside the model's two threads, so every CPU second they take is one the
model loses. Printed:
(1) copying a batch of 64 windows (64 x 64 px, 3 bands) into a channels_last batch from a
    band-interleaved strip (bands x rows x columns) and from a pixel-interleaved one (rows x
    columns x bands, what core/strips.StripBuffer holds): milliseconds per batch and the ratio;
(2) ``classify()`` of a VRT mosaic of the sample tile with the model replaced by a constant (reader,
    batching, aggregation, writers, overviews): windows/s and CPU seconds per 1,000 windows, and
    those CPU seconds as a share of the bare traced model's CPU seconds for the same windows.
Best of ``--repeats``; other processes on the machine add noise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import make_mosaic_vrt


def copy_ms(layout: str, repeats: int) -> float:
    import torch
    from numpy.lib.stride_tricks import sliding_window_view

    C, p, s, n = 3, 64, 32, 64
    W = p + s * (n - 1)
    strip = np.random.default_rng(0).random((C, p, W), dtype=np.float32)
    if layout == "pixel":
        strip = np.ascontiguousarray(strip.transpose(1, 2, 0)).transpose(2, 0, 1)
    view = sliding_window_view(strip, p, axis=2)[:, :, ::s, :][:, :, :n, :]
    dst = torch.empty((n, p, p, C)).numpy().transpose(0, 3, 1, 2)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(50):
            np.copyto(dst, view.transpose(2, 0, 1, 3))
        best = min(best, (time.perf_counter() - t0) / 50 * 1000)
    return best


class ConstantModel:
    """Stands in for core/stages/run_windows.ModelRunner: the same softmax for every window."""

    forward_seconds = 0.0
    amp_dtype = None

    def __init__(self, model, device, batch_size, warnings):
        self.bs = batch_size

    def __call__(self, data):
        return np.full((data.shape[0], 10), 0.1, np.float32)


def model_cpu_per_window() -> float:
    """CPU seconds per window of the bare traced model (batch 64), all threads."""
    import torch
    from eurosat_landcover.models.checkpoint import default_card_path, load_model
    from eurosat_landcover.models.fast_path import trace_for_cpu

    model, _ = load_model(default_card_path(), "cpu")
    traced, _ = trace_for_cpu(model, 64, 3, 64)
    x = (torch.rand(64, 3, 64, 64) * 255).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        traced(x)
        c0 = time.process_time()
        for _ in range(10):
            torch.softmax(traced(x).float(), 1).numpy()
    return (time.process_time() - c0) / 640


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--strides", type=int, nargs="+", default=[64, 32, 16])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} CPU cores\n")
    band, pixel = copy_ms("band", args.repeats), copy_ms("pixel", args.repeats)
    print("(1) 64 windows copied into a channels_last batch")
    print(f"    from a band-interleaved strip:  {band:.3f} ms")
    print(f"    from a pixel-interleaved strip: {pixel:.3f} ms  ({band / pixel:.1f} x faster)\n")

    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest
    from eurosat_landcover.core.stages import run_windows

    per_window = model_cpu_per_window()
    run_windows.ModelRunner = ConstantModel
    print(f"(2) classify() with the model replaced by a constant, {args.size}² px")
    print("| stride | windows | windows/s | CPU s per 1,000 windows | share of the model's CPU s |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-reader-") as d:
        d = Path(d)
        vrt = make_mosaic_vrt(d / "m.vrt", args.size)
        classify(
            ClassificationRequest(vrt, d / "warm", stride=64, fast_path="off", mode="windows")
        )  # imports, card, GDAL
        for stride in args.strides:
            best = None
            for i in range(args.repeats):
                req = ClassificationRequest(vrt, d / f"o{stride}_{i}", stride=stride, fast_path="off", mode="windows")
                t0, c0 = time.perf_counter(), time.process_time()
                res = classify(req)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if best is None or cpu < best[1]:
                    best = (wall, cpu, res.windows)
            wall, cpu, n = best
            share = cpu / (n * per_window)
            print(f"| {stride} | {n} | {n / wall:.0f} | {cpu / n * 1000:.3f} | {share * 100:.1f} % |")
    print(f"\nbare traced model: {per_window * 1000:.3f} CPU s per 1,000 windows (batch 64)")


if __name__ == "__main__":
    main()
