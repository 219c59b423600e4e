#!/usr/bin/env python3
"""Dense mode (models/dense.py, experimental) against exact windows: speed and agreement. Prints
figures, asserts nothing.

    nice -n 5 .venv/bin/python benchmarks/bench_dense.py [--strides 32 16 8] [--markdown FILE]

Two images, classified by the bundled model at each stride, exact windows (every window cut out
and run on its own: the eager model and the traced CPU fast path) and dense:
- the bundled mosaic sample_data/eurosat_mosaic_rgb.tif (768 x 512 px, 8-bit RGB);
- real Sentinel-2: the 50 tiles of ../shared/datasets/eurosat-ms-sample (64 x 64 px, uint16 L1C
  digital numbers) side by side in a 10 x 5 grid (640 x 320 px), bands B04 B03 B02 scaled as the
  EuroSAT RGB set was: clip(DN / 2750 * 255, 0, 255) (the datasets' README).
Agreement: the share of windows with the same class, and the share of output cells (stride x
stride px; each cell's softmax averaged over the windows covering it, as the engine does) with
the same class; on the mosaic also the share of cells whose class is the true one (each 64 px
block of the mosaic is one EuroSAT test patch: sample_data/eurosat_mosaic_rgb_truth.json).
Times are seconds of the model work only (no GDAL), best of ``--repeat``: the machine may be
shared (the load average is printed).
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MOSAIC = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"
MS_ZIP = ROOT.parent / "shared" / "datasets" / "eurosat-ms-sample" / "EuroSAT_MS_sample.zip"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def mosaic_image() -> np.ndarray:
    from osgeo import gdal

    return gdal.Open(str(MOSAIC)).ReadAsArray().astype(np.float32)


def sentinel2_image(zip_path: Path = MS_ZIP, per_row: int = 10) -> np.ndarray:
    from osgeo import gdal

    tiles = []
    with zipfile.ZipFile(zip_path) as z:
        names = sorted(n for n in z.namelist() if n.lower().endswith(".tif"))
        for i, name in enumerate(names):
            vsi = f"/vsimem/bench_dense_{i}.tif"
            gdal.FileFromMemBuffer(vsi, z.read(name))
            ds = gdal.Open(vsi)
            rgb = np.stack([ds.GetRasterBand(b).ReadAsArray().astype(np.float32) for b in (4, 3, 2)])
            ds = None
            gdal.Unlink(vsi)
            tiles.append(np.clip(rgb / 2750.0 * 255.0, 0, 255))
    rows = [np.concatenate(tiles[i : i + per_row], axis=2) for i in range(0, len(tiles) - per_row + 1, per_row)]
    return np.concatenate(rows, axis=1)


def cells(probs: np.ndarray, stride: int, patch: int = 64) -> np.ndarray:
    """Per-window softmax K x rows x cols -> per-cell class (softmax averaged over covering windows)."""
    k, rows, cols = probs.shape
    n = patch // stride
    acc = np.zeros((k, rows + n - 1, cols + n - 1), np.float64)
    cnt = np.zeros((rows + n - 1, cols + n - 1), np.float64)
    for dy in range(n):
        for dx in range(n):
            acc[:, dy : dy + rows, dx : dx + cols] += probs
            cnt[dy : dy + rows, dx : dx + cols] += 1
    return (acc / cnt).argmax(0)


def truth_cells(stride: int) -> np.ndarray:
    """The mosaic's true class per stride x stride cell (each 64 px block is one EuroSAT patch)."""
    import json

    t = json.loads(MOSAIC.with_name("eurosat_mosaic_rgb_truth.json").read_text())
    blocks = np.zeros((t["rows"], t["columns"]), int)
    for b in t["blocks"]:
        blocks[b["row"], b["col"]] = b["class_index"]
    n = t["block_px"] // stride
    return np.repeat(np.repeat(blocks, n, 0), n, 1)


def timed(repeat: int, fn, *args):
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*args)
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return out, best, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strides", nargs="+", type=int, default=[32, 16, 8])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument(
        "--shared-stages",
        nargs="*",
        type=int,
        default=[],
        help="also the hybrid: this many stages over the tile, the rest per window (models/dense.py)",
    )
    ap.add_argument("--no-traced", action="store_true", help="skip the traced exact-window reference")
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT.parent))
    import torch
    from eurosat_landcover.models.card import ModelCard
    from eurosat_landcover.models.checkpoint import default_card_path, load_weights
    from eurosat_landcover.models.dense import DenseClassifier, exact_windows
    from eurosat_landcover.models.fast_path import trace_for_cpu

    card = ModelCard.load(default_card_path())
    eager = load_weights(card, "cpu")
    images = {"bundled mosaic (768 x 512 px)": mosaic_image()}
    if MS_ZIP.is_file():
        images["Sentinel-2 L1C tiles (640 x 320 px)"] = sentinel2_image()
    traced = None
    if not args.no_traced:
        traced, rep = trace_for_cpu(eager, 64, 3, 64)
        traced = traced if rep.used else None
    lines = [
        f"load average before: {load_average()}; torch threads: {torch.get_num_threads()}",
        "",
        "| image | stride | windows | dense variant | exact eager s | exact traced s | dense s | speed-up vs eager "
        "| speed-up vs traced | same class: windows | same class: cells | cells right: exact | cells right: dense |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for label, image in images.items():
        for stride in args.strides:
            ref, t_exact, _ = timed(args.repeat, exact_windows, eager, image, stride)
            t_traced = float("nan")
            if traced is not None:
                _, t_traced, _ = timed(args.repeat, exact_windows, traced, image, stride)
            for shared in [None, *args.shared_stages]:
                variant = "whole trunk" if shared is None else f"hybrid, {shared} stage(s) shared"
                try:
                    dense = DenseClassifier(card, stride, shared_stages=shared)
                except ValueError as exc:
                    print(f"{label}, stride {stride}, {variant}: {exc}", flush=True)
                    continue
                got, t_dense, _ = timed(args.repeat, dense.classify, image)
                same_w = float((ref.argmax(0) == got.argmax(0)).mean())
                c_ref, c_got = cells(ref, stride), cells(got, stride)
                same_c = float((c_ref == c_got).mean())
                right = ("", "")
                if label.startswith("bundled"):
                    truth = truth_cells(stride)
                    right = tuple(f"{float((c == truth).mean()) * 100:.1f} %" for c in (c_ref, c_got))
                row = (
                    f"| {label} | {stride} | {ref.shape[1] * ref.shape[2]} | {variant} | "
                    f"{t_exact:.2f} | {t_traced:.2f} | "
                    f"{t_dense:.2f} | {t_exact / t_dense:.1f} x | {t_traced / t_dense:.1f} x | "
                    f"{same_w * 100:.1f} % | {same_c * 100:.1f} % | {right[0]} | {right[1]} |"
                )
                lines.append(row)
                print(row, flush=True)
    tail = f"\nload average after: {load_average()}"
    lines.append(tail)
    print(tail)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
