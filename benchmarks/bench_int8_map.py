#!/usr/bin/env python3
"""INT8 vs fp32 in map mode (issue 26, models/int8_map.py): per-pixel agreement, accuracy against the truth,
and the map run's inference time. Prints figures, asserts nothing.

    EUROSAT_LANDCOVER_CALIBRATION_DATA=/work/shared/datasets/eurosat-rgb/EuroSAT_RGB.zip PYTHONPATH=.pp \\
        nice -n 10 .venv/bin/python -P benchmarks/bench_int8_map.py [--markdown FILE]

Every engine run is ``classify`` in its own process (benchmarks/bench_map.run_engine), map mode, with
``fast_path="on"`` (the fp32 traced graph) or ``"int8"``, a fresh cache folder for the whole benchmark (the
first INT8 run quantizes and caches, its build time is printed; every later one loads the entry).
- agreement and accuracy: the bundled sample (sample_data/eurosat_mosaic_rgb.tif, its truth) and bench_map's
  composed scenes (EuroSAT TEST-split patches, Voronoi regions of 0.8, 1.6, 3.2 km, ``--scenes`` each of
  ``--size`` px): the share of pixels where INT8's class is fp32's, and both against the truth (all pixels,
  interior, within 320 m of a boundary: bench_map.score);
- speed: the sample tiled to ``--speed-size`` px square, fp32 and INT8 interleaved, ``--repeats`` runs each per
  thread count (after one untimed run each: the caches), the engine's inference and forward seconds (best);
- decoder: the map network quantized with its decoder in int8 (the engine's), in fp32, and in int8 with the
  trunk's stride 16-32 blocks and head in fp32, with and without the bias correction, on the same
  calibration tiles, in this process: pixel agreement with fp32 on the composed scenes' tiles and seconds
  per batch of 4 tiles (best of 5, 1 thread).
The CPU's model and flags and the load average are printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_map  # noqa: E402
from bench_int8 import cpu_line  # noqa: E402


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def scenes(args) -> list:
    """``(name, tif, truth)``: the sample, then the composed scenes (bench_map's, same seed)."""
    from eurosat_landcover.models.dataset import load_arrays, stratified_split
    from eurosat_landcover.models.scenes import PatchBank, fill, voronoi_layout

    out = [("sample", bench_map.SAMPLE, bench_map.sample_truth())]
    images, labels = load_arrays(args.data, stratified_split(args.data, seed=42)["test"])
    bank, rng = PatchBank(images, labels), np.random.default_rng(args.seed)
    for km in bench_map.REGIONS_KM:
        for n in range(args.scenes):
            ids = voronoi_layout(rng, args.size, args.size, km * 100, warp=0.25)
            ids = np.unique(ids, return_inverse=True)[1].reshape(ids.shape)
            classes = rng.choice(np.arange(10), size=int(ids.max()) + 1)
            image = fill(rng, bank, ids, classes, dihedral=False)
            tif = bench_map.write_scene(args.tmp / f"scene_{km}_{n}.tif", image)
            out.append((f"{km} km #{n}", tif, classes[ids].astype(np.uint8)))
    return out


def agreement(args, rows: list) -> None:
    for name, tif, truth in scenes(args):
        zone = bench_map.near_boundary(truth)
        runs = {}
        for fp in ("on", "int8"):
            run = bench_map.run_engine(tif, args.tmp / f"{name}_{fp}", "map", 32, 1, fast_path=fp)
            runs[fp] = (bench_map.pixels(run, truth.shape), run["summary_json"])
        (p32, s32), (p8, s8) = runs["on"], runs["int8"]
        same = p8 == p32
        row = {
            "scene": name,
            "agreement": float(same.mean()),
            "agreement_boundary": float(same[zone].mean()) if zone.any() else float("nan"),
            "fp32": bench_map.score(p32, truth, zone),
            "int8": bench_map.score(p8, truth, zone),
            "paths": (s32["fast_path"]["path"], s8["fast_path"]["path"]),
            "int8_prepare_s": s8["timings_s"].get("model_prepare"),
            "int8_cache": s8["fast_path"].get("graph_cache"),
            "int8_reason": s8["fast_path"]["reason"],
        }
        rows.append(row)
        print(
            f"{name:12s} agreement {row['agreement']:.4f} (near a boundary {row['agreement_boundary']:.4f}); "
            f"accuracy fp32 {row['fp32']['overall']:.4f} int8 {row['int8']['overall']:.4f}; paths {row['paths']}; "
            f"int8 prepare {row['int8_prepare_s']:.2f} s",
            flush=True,
        )


def speed(args, out: list) -> None:
    vrt = bench_map.bench_engine().make_mosaic_vrt(args.tmp / "speed.vrt", args.speed_size)
    for threads in args.threads:
        runs: dict = {"on": [], "int8": []}
        for r in range(args.repeats + 1):
            for fp in ("on", "int8") if r % 2 == 0 else ("int8", "on"):
                before = load()
                run = bench_map.run_engine(
                    vrt, args.tmp / f"speed_{threads}_{fp}_{r}", "map", 32, threads, fast_path=fp
                )
                t, path = run["summary_json"]["timings_s"], run["summary_json"]["fast_path"]["path"]
                print(
                    f"speed {args.speed_size}² threads {threads} #{r} {fp:4s} ({path}): "
                    f"inference {t['inference']:.2f} s, forward {t['forward']:.2f} s, total {t['total']:.2f} s; "
                    f"load {before}" + (" (untimed: caches)" if r == 0 else ""),
                    flush=True,
                )
                if r:
                    runs[fp].append(t)
        best = {fp: {k: min(t[k] for t in ts) for k in ("inference", "forward", "total")} for fp, ts in runs.items()}
        out.append({"threads": threads, "best": best, "runs": runs})


def decoder_variants(args) -> list:
    """The decoder quantized (the engine's) and kept fp32, on the same calibration tiles, in this process."""
    import torch
    from eurosat_landcover.models import int8_map, int8_path
    from eurosat_landcover.models.checkpoint import default_map_card_path, load_model

    torch.set_num_threads(1)
    model, card = load_model(default_map_card_path())
    calib, _, _ = int8_map.calibration_tiles(card, 256)
    tiles = []
    for _, tif, _ in scenes(args)[1:]:
        from osgeo import gdal

        img = gdal.Open(str(tif)).ReadAsArray()
        tiles += [
            img[:, y : y + 256, x : x + 256]
            for y in range(0, img.shape[1] - 255, 256)
            for x in range(0, img.shape[2] - 255, 512)
        ]
    x = torch.from_numpy(np.stack(tiles))
    reference = int8_map.probabilities(model.eval(), x)
    rows = []
    late = ("blocks.4", "blocks.5", "blocks.6", "conv_head", "bn2")  # stride 16-32: cheap, and the class map's input
    variants = (
        ("decoder int8 (the engine's)", {}),
        ("decoder int8, biases not corrected", {"correct": False}),
        ("decoder fp32", {"fp32": ("decoder",)}),
        ("decoder fp32, biases not corrected", {"fp32": ("decoder",), "correct": False}),
        ("decoder int8, blocks 4-6 and head fp32", {"fp32": late}),
    )
    for label, kwargs in variants:
        t0 = time.perf_counter()
        q = int8_map.quantize(model, torch.from_numpy(calib).float(), **kwargs)
        module = int8_path.Unoptimised(int8_path.freeze(q, x[:1].float()))
        built = time.perf_counter() - t0
        stats = int8_map.compare(module, reference, x)
        secs = 1 / int8_path.windows_per_second(module, x[:4].float(), repeats=5) * 4
        rows.append({"variant": label, **stats, "seconds_per_4_tiles": secs, "built_s": built})
        print(f"{label}: {stats}, {secs:.3f} s per 4 tiles, built in {built:.1f} s", flush=True)
    fp32_secs = 1 / int8_path.windows_per_second(model, x[:4].float(), repeats=5) * 4
    rows.append({"variant": "fp32 eager", "seconds_per_4_tiles": fp32_secs})
    print(f"fp32 eager: {fp32_secs:.3f} s per 4 tiles ({len(tiles)} scene tiles compared)", flush=True)
    return rows


def agreement_table(rows: list) -> list:
    lines = [
        "",
        "| scene | pixels INT8 = fp32 | within 320 m of a boundary | accuracy fp32 | accuracy INT8 "
        "| boundary fp32 | boundary INT8 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        f, q = r["fp32"], r["int8"]
        lines.append(
            f"| {r['scene']} | {100 * r['agreement']:.2f} % | {100 * r['agreement_boundary']:.2f} % | "
            f"{100 * f['overall']:.2f} % | {100 * q['overall']:.2f} % | {100 * f['boundary']:.2f} % | "
            f"{100 * q['boundary']:.2f} % |"
        )
    r0, later = rows[0], [r["int8_prepare_s"] for r in rows[1:]] or [rows[0]["int8_prepare_s"]]
    lines += [
        "",
        f"First INT8 run (quantized and cached): model_prepare {r0['int8_prepare_s']:.1f} s; its summary's reason: "
        f'"{r0["int8_reason"]}"; the next runs loaded the entry (model_prepare {min(later):.2f}-{max(later):.2f} s, '
        "the probe check included).",
    ]
    return lines


def markdown(res: dict, argv) -> str:
    lines = [
        "",
        "## Map mode INT8 (benchmarks/bench_int8_map.py)",
        "",
        f"`{res['cpu']}`; load average {res['load_start']} at the start, {res['load_end']} at the end; "
        f"{res['seconds']:.0f} s in all.",
        "",
        "Command: `EUROSAT_LANDCOVER_CALIBRATION_DATA=/work/shared/datasets/eurosat-rgb/EuroSAT_RGB.zip PYTHONPATH=.pp "
        "nice -n 10 .venv/bin/python -P benchmarks/bench_int8_map.py " + " ".join(argv) + "`",
    ]
    if res["agreement"]:
        lines += agreement_table(res["agreement"])
    for sp in res["speed"]:
        b = sp["best"]
        lines += [
            "",
            f"Speed, {res['args']['speed_size']}² px, {sp['threads']} thread(s), best of {len(sp['runs']['on'])} "
            f"interleaved runs: inference fp32 {b['on']['inference']:.2f} s, INT8 {b['int8']['inference']:.2f} s "
            f"({b['on']['inference'] / b['int8']['inference']:.2f} x); forward {b['on']['forward']:.2f} vs "
            f"{b['int8']['forward']:.2f} s ({b['on']['forward'] / b['int8']['forward']:.2f} x); whole run "
            f"{b['on']['total']:.2f} vs {b['int8']['total']:.2f} s.",
        ]
    for v in res["decoder"]:
        agree = (
            f"pixel agreement {100 * v['agreement']:.2f} %, mean |softmax diff| {v['mean']:.4f}, "
            if "mean" in v
            else ""
        )
        lines.append(f"- {v['variant']}: {agree}{v['seconds_per_4_tiles']:.3f} s per 4 tiles (1 thread)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(bench_map.DATA))
    p.add_argument("--scenes", type=int, default=1, help="composed scenes per region size")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--speed-size", type=int, default=2048)
    p.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip", nargs="*", default=[], choices=["agreement", "speed", "decoder"])
    p.add_argument("--markdown", help="append the results to this file")
    p.add_argument("--json")
    args = p.parse_args(argv)
    sys.path.insert(0, str(bench_map.ROOT.parent))
    res = {"cpu": cpu_line(), "load_start": load(), "agreement": [], "speed": [], "decoder": []}
    print(f"CPU: {res['cpu']}; load average {res['load_start']}", flush=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="bench_int8_map_") as tmp:
        args.tmp = Path(tmp)
        os.environ["EUROSAT_LANDCOVER_CACHE_DIR"] = str(args.tmp / "cache")  # the children's: built once here
        if "agreement" not in args.skip:
            agreement(args, res["agreement"])
        if "speed" not in args.skip:
            speed(args, res["speed"])
        if "decoder" not in args.skip:
            res["decoder"] = decoder_variants(args)
    res.update(seconds=time.time() - t0, load_end=load(), args={k: str(v) for k, v in vars(args).items()})
    res["args"]["speed_size"] = args.speed_size
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as fh:
            fh.write(markdown(res, argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
