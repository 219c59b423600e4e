#!/usr/bin/env python3
"""Engine benchmark: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_engine.py [--model CARD] [--markdown benchmarks/results.md] [--quick]

(a) end-to-end windows/s of classify() vs the bare model forward pass at the same batch size;
(b) end-to-end vs a naive loop (GDAL read of each window + model at batch size 1);
(c) peak RSS and time for synthetic 1k^2, 5k^2 and 20k^2 px rasters, each in a subprocess
    (stride 64; the big rasters are VRT mosaics of the bundled sample tile, never arrays in RAM);
(d) km^2/s at strides 64, 32 and 16.
Without --model the trained default model is used when present, else random weights of the same
architecture (speed does not depend on the weights). CPU figures are noisy when other jobs run:
each timing is the best of a few interleaved repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TILE = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def make_mosaic_vrt(path: Path, size: int, tile: Path = TILE) -> Path:
    """A size x size px VRT tiling ``tile`` (10 m, EPSG:32632): no pixel array is ever built."""
    from osgeo import gdal

    t = gdal.Open(str(tile))
    tw, th, nb = t.RasterXSize, t.RasterYSize, 3
    wkt = t.GetProjection()
    gt = t.GetGeoTransform()
    t = None
    parts = [
        f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}">',
        f"<SRS>{wkt.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</SRS>",
        f"<GeoTransform>{gt[0]}, 10, 0, {gt[3]}, 0, -10</GeoTransform>",
    ]
    ci = ["Red", "Green", "Blue"]
    for b in range(1, nb + 1):
        parts.append(f'<VRTRasterBand dataType="Byte" band="{b}"><ColorInterp>{ci[b - 1]}</ColorInterp>')
        for y in range(0, size, th):
            for x in range(0, size, tw):
                w, h = min(tw, size - x), min(th, size - y)
                parts.append(
                    f'<SimpleSource><SourceFilename relativeToVRT="0">{tile}</SourceFilename>'
                    f"<SourceBand>{b}</SourceBand>"
                    f'<SourceProperties RasterXSize="{tw}" RasterYSize="{th}" DataType="Byte" '
                    'BlockXSize="256" BlockYSize="256"/>'
                    f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
                    f'<DstRect xOff="{x}" yOff="{y}" xSize="{w}" ySize="{h}"/>'
                    "</SimpleSource>"
                )
        parts.append("</VRTRasterBand>")
    parts.append("</VRTDataset>")
    path.write_text("\n".join(parts))
    return path


def load(model_card):
    from eurosat_landcover.models.checkpoint import default_card_path, load_model

    if model_card:
        return load_model(model_card, "cpu"), f"{model_card}"
    if default_card_path().exists():
        return load_model(default_card_path(), "cpu"), "trained default model"
    import torch
    from eurosat_landcover.models.checkpoint import save_checkpoint
    from eurosat_landcover.models.registry import build_model, eurosat_rgb_card

    d = Path(tempfile.mkdtemp(prefix="bench-model-"))
    card = eurosat_rgb_card("tf_efficientnet_lite0", "bench_random_lite0", title="random weights")
    torch.manual_seed(0)
    save_checkpoint(build_model("tf_efficientnet_lite0"), card, d / "m.json")
    return load_model(d / "m.json", "cpu"), "random-weight tf_efficientnet_lite0 (trained model absent)"


def bare_forward(model, n_windows: int, batch: int) -> float:
    import torch

    x = (torch.rand(batch, 3, 64, 64) * 255).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(x)
        t0 = time.perf_counter()
        done = 0
        while done < n_windows:
            b = min(batch, n_windows - done)
            torch.softmax(model(x[:b]).float(), 1).numpy()
            done += b
    return n_windows / (time.perf_counter() - t0)


def naive_loop(model, raster: Path, n: int) -> float:
    import numpy as np
    import torch
    from osgeo import gdal

    ds = gdal.Open(str(raster))
    W = ds.RasterXSize
    per_row = (W - 64) // 32 + 1
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(n):
            r, c = divmod(i, per_row)
            a = ds.ReadAsArray(c * 32, r * 32, 64, 64).astype(np.float32)
            p = torch.softmax(model(torch.from_numpy(a)[None]).float(), 1)
            int(p.argmax())
    return n / (time.perf_counter() - t0)


def e2e(model_card_pair, raster: Path, stride: int, batch: int, out: Path) -> dict:
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    t0 = time.perf_counter()
    res = classify(
        ClassificationRequest(raster, out, stride=stride, batch_size=batch, device="cpu"), model=model_card_pair
    )
    wall = time.perf_counter() - t0
    km2 = res.summary["area_km2_total"]
    return {
        "wps": res.windows_per_second,
        "windows": res.windows,
        "wall": wall,
        "km2": km2,
        "km2_per_s": km2 / wall,
        "timings": res.timings,
    }


def rss_child(size: int, stride: int, batch: int, model_card: str | None) -> None:
    """Runs in a subprocess: one classification of a size^2 VRT; prints a JSON line."""
    from eurosat_landcover.core.cli import configure_gdal_for_batch

    configure_gdal_for_batch()
    (pair, _) = load(model_card)
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as d:
        d = Path(d)
        vrt = make_mosaic_vrt(d / "big.vrt", size)
        import torch

        with torch.inference_mode():  # warm the model so the baseline includes its buffers
            pair[0](torch.zeros(batch, 3, 64, 64))
        base = _current_rss_mb()
        peak_before = _rss_mb()
        r = e2e(pair, vrt, stride, batch, d / "out")
        print(
            json.dumps(
                {
                    "size": size,
                    "stride": stride,
                    "rss_before_mb": base,
                    "peak_before_mb": peak_before,
                    "peak_rss_mb": _rss_mb(),
                    "seconds": r["wall"],
                    "windows": r["windows"],
                    "wps": r["wps"],
                }
            )
        )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="engine benchmark")
    p.add_argument("--model", help="model card (default: trained default model, else random weights)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--markdown", type=Path, help="also write the results as Markdown here")
    p.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rss-child", type=int, nargs=2, metavar=("SIZE", "STRIDE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child[0], args.rss_child[1], args.batch_size, args.model)
        return 0

    import torch

    threads = torch.get_num_threads()  # what the engine uses unless a request sets `threads`
    (pair, model_desc) = load(args.model)
    model = pair[0]
    B = args.batch_size
    lines: list[str] = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    load_avg = os.getloadavg()
    say("# Engine benchmark")
    say()
    say(
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"host: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, torch {torch.__version__}, device cpu; model threads: {threads} "
        "(PyTorch's default) for the engine and for the bare and naive loops alike"
    )
    say(f"- model: {model_desc}; batch size {B}")
    say(
        f"- load average at start: {load_avg[0]:.1f} (figures are best-of-{args.repeats}; other processes on "
        "the machine add noise)"
    )
    say("- command: `.venv/bin/python benchmarks/bench_engine.py " + " ".join(sys.argv[1:]) + "`")
    say()

    with tempfile.TemporaryDirectory(prefix="bench-") as d:
        d = Path(d)
        size_a = 512 if args.quick else 1024
        raster = make_mosaic_vrt(d / "a.vrt", size_a)
        # (a) + (b): interleaved repeats, best of each
        e2e_best, bare_best, naive_best = None, 0.0, 0.0
        n_naive = 100 if args.quick else 300
        for i in range(args.repeats):
            r = e2e(pair, raster, 32, B, d / f"o{i}")
            if e2e_best is None or r["wps"] > e2e_best["wps"]:
                e2e_best = r
            bare_best = max(bare_best, bare_forward(model, r["windows"], B))
            naive_best = max(naive_best, naive_loop(model, raster, n_naive))
        say("## (a)(b) Throughput, CPU")
        say()
        say(
            f"{size_a} x {size_a} px RGB (VRT of the sample mosaic), stride 32 -> "
            f"{e2e_best['windows']} windows, batch {B}."
        )
        say()
        say("| measure | windows/s | ratio (end-to-end / this) |")
        say("|---|---:|---:|")
        say(f"| end-to-end `classify()` (read, scale, batch, model, aggregate, write) | {e2e_best['wps']:.0f} | 1.00 |")
        say(
            f"| bare model forward + softmax, batch {B}, {threads} thread(s) | {bare_best:.0f} | "
            f"{e2e_best['wps'] / bare_best:.2f} |"
        )
        say(
            f"| naive loop: GDAL read per window, batch 1, {threads} thread(s) ({n_naive} windows) | "
            f"{naive_best:.0f} | {e2e_best['wps'] / naive_best:.1f} |"
        )
        t = e2e_best["timings"]
        say()
        say(
            f"End-to-end breakdown of the best run: inference loop {t['inference']:.2f} s, of which model forward "
            f"{t['forward']:.2f} s and reader thread (GDAL + scaling, overlapped) {t['reading']:.2f} s; "
            f"model load {t['model_load']:.2f} s; overviews+close {t['overviews_and_close']:.2f} s; "
            f"whole call {e2e_best['wall']:.2f} s."
        )
        say()

        # (d) km2/s per stride
        say("## (d) Area throughput per stride, CPU")
        say()
        say("| stride (px) | output cell | windows | windows/s | km²/s (whole call) |")
        say("|---:|---:|---:|---:|---:|")
        for stride in (64, 32, 16):
            best = None
            for i in range(max(1, args.repeats - 1)):
                r = e2e(pair, raster, stride, B, d / f"s{stride}_{i}")
                if best is None or r["km2_per_s"] > best["km2_per_s"]:
                    best = r
            say(f"| {stride} | {stride * 10} m | {best['windows']} | {best['wps']:.0f} | {best['km2_per_s']:.2f} |")
        say()

    # (c) RSS in subprocesses
    say("## (c) Peak memory, CPU (each size in its own process, stride 64)")
    say()
    say("| raster | windows | time (s) | windows/s | RSS before run (MB) | peak RSS (MB) |")
    say("|---|---:|---:|---:|---:|---:|")
    sizes = [s for s in args.sizes if not args.quick or s <= 2000]
    peaks = []
    for size in sizes:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child", str(size), "64", "--batch-size", str(B)]
        if args.model:
            cmd += ["--model", args.model]
        pr = subprocess.run(cmd, capture_output=True, text=True)
        if pr.returncode != 0:
            say(
                f"| {size} x {size} | failed: "
                f"{pr.stderr.strip().splitlines()[-1] if pr.stderr.strip() else pr.returncode} |"
            )
            continue
        r = json.loads(pr.stdout.strip().splitlines()[-1])
        peaks.append(r["peak_rss_mb"])
        say(
            f"| {size} x {size} px ({size * size / 1e6:.0f} Mpx) | {r['windows']} | {r['seconds']:.1f} | "
            f"{r['wps']:.0f} | "
            f"{r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    if len(peaks) >= 2:
        say()
        say(
            f"Peak RSS spread from the smallest to the largest raster: {(max(peaks) / min(peaks) - 1) * 100:.1f} % "
            f"(target: flat within 20 %, <= 1.5 GB). The CLI bounds GDAL's block cache to 128 MB "
            "(`configure_gdal_for_batch`); the benchmark children do the same."
        )
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"\nwrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
