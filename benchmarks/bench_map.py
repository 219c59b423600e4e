#!/usr/bin/env python3
"""Map mode against windows mode, pixel by pixel at 10 m, on scenes with a known truth.

    PYTHONPATH=.pp nice -n 5 .venv/bin/python -P benchmarks/bench_map.py --markdown benchmarks/results_map.md

- Composed scenes (models/scenes.py) from EuroSAT TEST-split patches only (split seed 42, never
  seen in training): Voronoi regions about 0.8, 1.6 and 3.2 km across (80, 160, 320 px, edges
  warped), each filled with patches of its class tiled from a random offset (so no window or tile
  is aligned with a patch), ``--scenes`` scenes of ``--size`` px per region size.
- The bundled sample (sample_data/eurosat_mosaic_rgb.tif): 96 test patches side by side, truth
  from sample_data/eurosat_mosaic_rgb_truth.json.
Every scene is classified through the engine (``classify`` in a child process, one per run, so
its peak RSS is its own) in map mode and in windows mode at each ``--strides``; the classes
raster (cells of ``stride`` px in windows mode) is expanded to the 10 m grid and scored against the
truth: all pixels, pixels within 320 m of a class boundary, and the interior (the rest). Seconds
per km2 are the run's own total (prepare, model load, inference, overviews) and its inference.
Per patch: the majority class of each 64 x 64 test patch through the map model (a raster that
small is one tile: the engine's output is the model's output).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"
SAMPLE_TRUTH = ROOT / "sample_data" / "eurosat_mosaic_rgb_truth.json"
DATA = Path("/work/shared/datasets/eurosat-rgb/EuroSAT_RGB.zip")
REGIONS_KM = (0.8, 1.6, 3.2)
BOUNDARY_PX = 32  # 320 m at 10 m


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _vm_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child(argv) -> int:
    """One engine run (in its own process): prints a JSON line with the summary path and peak RSS.
    ``stop_tiles`` > 0: the run is cancelled once that many tiles are done (memory runs on rasters
    too large to finish: the peak RSS and the RSS after each progress report up to then)."""
    from eurosat_landcover.core.errors import ClassificationCancelled
    from eurosat_landcover.core.gdalutil import configure_gdal_for_batch
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    src, out, mode, stride, threads, card, stop_tiles, fast_path = (*argv, "auto")[:8]
    configure_gdal_for_batch()
    req = ClassificationRequest(
        src,
        out,
        mode=mode,
        stride=int(stride),
        threads=int(threads),
        name=f"{mode}{stride}",
        model_card=card or None,
        fast_path=fast_path,
    )
    stop, seen = int(stop_tiles), []

    def progress(p):
        if p.done is not None:
            seen.append((int(p.done), round(_vm_rss_mb())))

    try:
        res = classify(req, progress, lambda: bool(stop) and bool(seen) and seen[-1][0] >= stop)
    except ClassificationCancelled:
        print(json.dumps({"summary": None, "peak_rss_mb": _vm_hwm_mb(), "tiles_done": seen[-1][0], "rss": seen}))
        return 0
    print(json.dumps({"summary": str(res.summary_path), "peak_rss_mb": _vm_hwm_mb(), "rss": seen}))
    return 0


def run_engine(
    src: Path, out: Path, mode: str, stride: int, threads: int, card=None, stop_tiles: int = 0, fast_path: str = "auto"
) -> dict:
    """One ``classify`` in a child process (``fast_path``: the request's, e.g. "int8": bench_int8_map.py)."""
    argv = [str(src), str(out), mode, str(stride), str(threads), str(card or ""), str(stop_tiles), fast_path]
    p = subprocess.run([sys.executable, "-P", __file__, "--child", *argv], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"{mode} {stride} failed:\n{p.stderr[-3000:]}")
    info = json.loads(p.stdout.strip().splitlines()[-1])
    summary = json.loads(Path(info["summary"]).read_text()) if info["summary"] else None
    return {**info, "summary_json": summary}


def pixels(run: dict, shape) -> np.ndarray:
    """The run's classes raster on the 10 m grid (cells repeated), nodata 255 where not covered."""
    from osgeo import gdal

    s = run["summary_json"]
    arr = gdal.Open(s["outputs"]["classes"]).ReadAsArray()
    k = int(s["grid"]["stride_px"])
    full = np.repeat(np.repeat(arr, k, 0), k, 1)[: shape[0], : shape[1]]
    out = np.full(shape, 255, np.uint8)
    out[: full.shape[0], : full.shape[1]] = full
    return out


def near_boundary(truth: np.ndarray, px: int = BOUNDARY_PX) -> np.ndarray:
    from scipy.ndimage import distance_transform_edt

    edge = np.zeros(truth.shape, bool)
    dy = truth[1:] != truth[:-1]
    dx = truth[:, 1:] != truth[:, :-1]
    edge[1:] |= dy
    edge[:-1] |= dy
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    return distance_transform_edt(~edge) <= px if edge.any() else edge


def score(pred, truth, zone) -> dict:
    right = pred == truth
    return {
        "overall": float(right.mean()),
        "interior": float(right[~zone].mean()) if (~zone).any() else float("nan"),
        "boundary": float(right[zone].mean()) if zone.any() else float("nan"),
    }


def write_scene(path: Path, image: np.ndarray) -> Path:
    """A 3-band 8-bit GeoTIFF at 10 m in UTM 32N (as the bundled sample)."""
    from osgeo import gdal, osr

    ds = gdal.GetDriverByName("GTiff").Create(str(path), image.shape[2], image.shape[1], 3, gdal.GDT_Byte)
    ds.SetGeoTransform((480000.0, 10.0, 0.0, 5300000.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(image[b])
    ds = None
    return path


def sample_truth() -> np.ndarray:
    t = json.loads(SAMPLE_TRUTH.read_text())
    p = int(t["block_px"])
    truth = np.zeros((t["rows"] * p, t["columns"] * p), np.uint8)
    for b in t["blocks"]:
        truth[b["row"] * p : (b["row"] + 1) * p, b["col"] * p : (b["col"] + 1) * p] = b["class_index"]
    return truth


def bench_scene(name, tif, truth, args, tmp, rows):
    zone = near_boundary(truth)
    km2 = truth.size * 1e-4
    runs = ([("map", 32)] if args.map else []) + [("windows", s) for s in args.strides]
    for mode, stride in runs:
        card = args.map_model if mode == "map" else None
        run = run_engine(tif, tmp / f"{name}_{mode}{stride}", mode, stride, args.threads, card)
        sc = score(pixels(run, truth.shape), truth, zone)
        t = run["summary_json"]["timings_s"]
        rows.append(
            {
                "scene": name,
                "mode": mode if mode == "map" else f"windows {stride}",
                **sc,
                "s_per_km2": t["total"] / km2,
                "inference_s_per_km2": t["inference"] / km2,
                "peak_rss_mb": run["peak_rss_mb"],
                "boundary_share": float(zone.mean()),
            }
        )
        r = rows[-1]
        print(
            f"{name:14s} {r['mode']:11s} all {r['overall']:.4f} interior {r['interior']:.4f} "
            f"boundary {r['boundary']:.4f}  {r['s_per_km2']:.2f} s/km2 (inference {r['inference_s_per_km2']:.2f})  "
            f"peak {r['peak_rss_mb']:.0f} MB",
            flush=True,
        )


PHASES = (
    "prepare",
    "model_load",
    "model_prepare",
    "reading",
    "forward",
    "blend",
    "write",
    "writer_thread",
    "overviews_and_close",
)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def bench_speed(size: str, args, tmp: Path) -> dict:
    """Map mode and windows mode at stride 32 on the sample tiled to ``size`` (WxH px), in this run,
    ``--speed-repeats`` times, interleaved (the order alternates): each mode's best run in s/km2, its
    phases (the engine's timings of that run), and the ratio map / windows of each pair."""
    import shutil

    w, h = (int(v) for v in size.lower().split("x"))
    km2 = w * h * 1e-4
    vrt = bench_engine().make_mosaic_vrt(tmp / f"speed_{w}x{h}.vrt", w, height=h)
    runs: dict = {"map": [], "windows 32": []}
    for r in range(args.speed_repeats):
        order = [("map", 32), ("windows", 32)] if r % 2 == 0 else [("windows", 32), ("map", 32)]
        for mode, stride in order:
            out = tmp / f"speed_{w}x{h}_{mode}_{r}"
            load = load_average()
            run = run_engine(vrt, out, mode, stride, args.threads, args.map_model if mode == "map" else None)
            t = run["summary_json"]["timings_s"]
            label = "map" if mode == "map" else f"windows {stride}"
            mb = sum(f.stat().st_size for f in out.glob("*.tif")) / 2**20
            runs[label].append({"timings": t, "s_per_km2": t["total"] / km2, "load_before": load, "outputs_mb": mb})
            phases = " ".join(f"{k} {t[k]:.2f}" for k in PHASES if k in t)
            print(
                f"speed {size} #{r} {label:10s} {t['total'] / km2:.4f} s/km2 (total {t['total']:.1f} s: {phases}); "
                f"outputs {mb:.0f} MB; load {load}",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)
    ratios = [m["s_per_km2"] / wr["s_per_km2"] for m, wr in zip(runs["map"], runs["windows 32"])]
    best = {k: min(v, key=lambda x: x["s_per_km2"]) for k, v in runs.items()}
    return {"size": size, "megapixels": w * h / 1e6, "km2": km2, "runs": runs, "best": best, "ratios": ratios}


def patch_accuracy(images, labels, card_path=None) -> dict:
    """Majority class of each 64 x 64 patch through the map model (the whole patch is one tile)."""
    import torch
    from eurosat_landcover.models.checkpoint import default_map_card_path, load_model

    model, _card = load_model(card_path or default_map_card_path())
    right = 0
    with torch.inference_mode():
        for i in range(0, len(images), 64):
            cls = model(torch.from_numpy(images[i : i + 64]).float()).argmax(1).reshape(-1, 64 * 64).numpy()
            major = np.array([np.bincount(c, minlength=10).argmax() for c in cls])
            right += int((major == labels[i : i + 64]).sum())
    return {"patches": len(images), "majority_accuracy": right / len(images)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--scenes", type=int, default=2, help="scenes per region size")
    p.add_argument("--size", type=int, default=1024, help="scene side in px (10 m)")
    p.add_argument("--strides", type=int, nargs="*", default=[16, 32, 64], help="windows mode strides")
    p.add_argument("--no-map", dest="map", action="store_false", help="windows mode only")
    p.add_argument(
        "--merge", help="JSON of an earlier run (same scenes): its rows for runs not made now are kept, marked"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--max-patches", type=int, default=0, help="per-patch check on the first N test patches (0: all)")
    p.add_argument(
        "--memory",
        nargs="*",
        default=[],
        metavar="WxH",
        help="also run map mode on the sample tiled to these sizes (px, e.g. 1024x1024 1024x8192): peak RSS",
    )
    p.add_argument(
        "--memory-tiles",
        type=int,
        default=0,
        metavar="N",
        help="memory runs stop after N tiles (rasters too large to finish here): peak RSS up to then",
    )
    p.add_argument("--memory-only", action="store_true", help="only the --memory runs (no scenes, no per-patch check)")
    p.add_argument(
        "--speed",
        nargs="*",
        default=[],
        metavar="WxH",
        help="also time map mode against windows at stride 32 on the sample tiled to these sizes (same run)",
    )
    p.add_argument("--speed-repeats", type=int, default=3, metavar="N", help="runs per mode of each --speed size")
    p.add_argument("--speed-only", action="store_true", help="only the --speed runs")
    p.add_argument("--map-model", metavar="CARD.json", help="map mode's model card (default: the bundled map model)")
    p.add_argument("--markdown")
    p.add_argument("--record", action="store_true", help="write the figures into the map model's card (metrics)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT.parent))
    from eurosat_landcover.models.dataset import load_arrays, stratified_split
    from eurosat_landcover.models.scenes import PatchBank, fill, voronoi_layout

    torch_threads(args.threads)
    only = args.memory_only or args.speed_only
    images, labels = load_arrays(args.data, stratified_split(args.data, seed=42)["test"]) if not only else ([], [])
    bank = PatchBank(images, labels) if not only else None
    rng = np.random.default_rng(args.seed)
    rows: list = []
    memory: list = []
    speed: list = []
    print(f"CPU: {bench_engine().cpu_name()}; load average {load_average()}", flush=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="bench_map_") as tmp:
        tmp = Path(tmp)
        for size in args.speed:
            speed.append(bench_speed(size, args, tmp))
        if not only:
            bench_scene("sample", SAMPLE, sample_truth(), args, tmp, rows)
        for km in REGIONS_KM if not only else ():
            for n in range(args.scenes):
                ids = voronoi_layout(rng, args.size, args.size, km * 100, warp=0.25)
                ids = np.unique(ids, return_inverse=True)[1].reshape(ids.shape)
                classes = rng.choice(np.arange(10), size=int(ids.max()) + 1)
                image = fill(rng, bank, ids, classes, dihedral=False)
                tif = write_scene(tmp / f"scene_{km}_{n}.tif", image)
                bench_scene(f"{km} km #{n}", tif, classes[ids].astype(np.uint8), args, tmp, rows)
        for size in args.memory:
            w, h = (int(v) for v in size.lower().split("x"))
            vrt = bench_engine().make_mosaic_vrt(tmp / f"tiled_{w}x{h}.vrt", w, height=h)
            run = run_engine(vrt, tmp / f"mem_{w}x{h}", "map", 32, args.threads, args.map_model, args.memory_tiles)
            mp = w * h / 1e6
            memory.append(
                {"size": size, "megapixels": mp, "peak_rss_mb": run["peak_rss_mb"], "tiles_done": run.get("tiles_done")}
            )
            rss = run["rss"]
            head = f"memory: map mode {size} ({mp:.1f} MP): peak RSS {run['peak_rss_mb']:.0f} MB; (tiles, RSS MB)"
            print(head, end="")
            print(f" {rss[:3]} ... {rss[-3:]}" if len(rss) > 6 else f" {rss}", flush=True)
    n = args.max_patches or len(images)
    patch = (
        patch_accuracy(images[:n], labels[:n], args.map_model)
        if args.map and not only
        else {"patches": 0, "majority_accuracy": float("nan")}
    )
    if args.merge:
        made = {(r["scene"], r["mode"]) for r in rows}
        earlier = json.loads(Path(args.merge).read_text())
        rows += [{**r, "earlier_run": True} for r in earlier["rows"] if (r["scene"], r["mode"]) not in made]
    print(f"per patch (majority class in map mode): {patch['majority_accuracy']:.4f} of {patch['patches']}")
    result = {"rows": rows, "memory": memory, "speed": speed, "per_patch": patch, "cpu": bench_engine().cpu_name()}
    result.update(seconds=time.time() - t0, args=vars(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(markdown(result, argv))
    if args.record:
        record(result, argv)
    return 0


def grouped(rows) -> dict:
    """{(scene group, mode): [rows]}: the scenes of one region size together."""
    groups: dict = {}
    for r in rows:
        key = "sample mosaic" if r["scene"] == "sample" else r["scene"].split(" #")[0] + " regions"
        groups.setdefault((key, r["mode"]), []).append(r)
    return groups


def mean_of(rs, key) -> float:
    vals = [r[key] for r in rs if not math.isnan(r[key])]
    return sum(vals) / len(vals) if vals else float("nan")


def record(result: dict, argv) -> None:
    """The figures into the bundled map model's card, ``metrics.bench_map`` (the card's own file)."""
    from eurosat_landcover.models.checkpoint import default_map_card_path

    path = default_map_card_path()
    card = json.loads(path.read_text())
    table = {
        f"{scene} / {mode}": {
            k: round(mean_of(rs, k), 4) for k in ("overall", "interior", "boundary", "s_per_km2", "inference_s_per_km2")
        }
        | {"peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs))}
        for (scene, mode), rs in grouped(result["rows"]).items()
    }
    card.setdefault("metrics", {})["bench_map"] = {
        "pixel_accuracy": table,
        "per_patch_majority_accuracy": result["per_patch"],
        "cpu": result["cpu"],
        "command": "python -P benchmarks/bench_map.py " + " ".join(argv or sys.argv[1:]),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


def torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def bench_engine():
    """benchmarks/bench_engine.py (its CPU name and tiled-sample VRT)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_engine as module

    return module


def markdown(result: dict, argv) -> str:
    """The results page: one table per region size (means over its scenes), the sample, per patch."""
    groups = grouped(result["rows"])
    lines = [
        "# Map mode vs windows mode at 10 m (benchmarks/bench_map.py)",
        "",
        f"CPU: {result['cpu']}; threads {result['args']['threads']}; load average at the end "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}; {result['seconds']:.0f} s in all.",
        "",
        "Command: `PYTHONPATH=.pp python -P benchmarks/bench_map.py " + " ".join(argv or sys.argv[1:]) + "`",
        "",
        "| scene | mode | all pixels | interior | within 320 m of a boundary | s/km² (run) | s/km² (inference) |"
        " peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (scene, mode), rs in groups.items():

        def m(k, rs=rs):
            return mean_of(rs, k)

        mark = " *" if any(r.get("earlier_run") for r in rs) else ""
        lines.append(
            f"| {scene} | {mode}{mark} | {100 * m('overall'):.1f} % | {100 * m('interior'):.1f} % | "
            f"{100 * m('boundary'):.1f} % | {m('s_per_km2'):.2f} | {m('inference_s_per_km2'):.2f} | "
            f"{max(r['peak_rss_mb'] for r in rs):.0f} |"
        )
    lines += speed_markdown(result.get("speed", []))
    for m in result.get("memory", []):
        upto = f" over its first {m['tiles_done']} tiles (then cancelled)" if m.get("tiles_done") else ""
        lines.append(
            f"\nMemory: map mode on the sample tiled to {m['size']} px ({m['megapixels']:.1f} MP): "
            f"peak RSS {m['peak_rss_mb']:.0f} MB{upto}."
        )
    pp = result["per_patch"]
    lines += [
        "",
        f"Per patch: the majority class of each 64 x 64 test patch in map mode is right for "
        f"{100 * pp['majority_accuracy']:.2f} % of {pp['patches']} test patches.",
        "",
        f"Scenes: {result['args']['scenes']} per region size, {result['args']['size']} px square, composed from "
        "test-split patches (seed 42) with models/scenes.py (scene seed "
        f"{result['args']['seed']}); means over the scenes of a size; peak RSS is the largest of them.",
        "Rows marked * come from the earlier run given by --merge (same scenes, other load on the machine: "
        "compare their speed with care).",
    ]
    return "\n".join(lines) + "\n"


def speed_markdown(speed: list) -> list:
    """The --speed tables: best run of each mode, its phases, and the ratio of each interleaved pair."""
    lines = []
    for sp in speed:
        best, n = sp["best"], len(sp["ratios"])
        ratios = ", ".join(f"{r:.2f}" for r in sp["ratios"])
        lines += [
            "",
            f"Speed on the sample tiled to {sp['size']} px ({sp['megapixels']:.1f} MP, {sp['km2']:.0f} km²), "
            f"map mode and windows at stride 32 interleaved in this run, {n} runs each (best run; phases in s; "
            f"load average before each run in the JSON; writer_thread runs beside forward, so it is not part of the "
            f"total): map / windows per pair {ratios}.",
            "",
            "| mode | s/km² (best) | s/km² (all runs) | total s | " + " | ".join(PHASES) + " | outputs MB |",
            "|---|---:|---:|---:|" + "---:|" * (len(PHASES) + 1),
        ]
        for mode, b in best.items():
            t = b["timings"]
            cells = " | ".join(f"{t[k]:.2f}" if k in t else "-" for k in PHASES)
            every = " ".join(f"{r['s_per_km2']:.4f}" for r in sp["runs"][mode])
            mb = b.get("outputs_mb", float("nan"))
            lines.append(f"| {mode} | {b['s_per_km2']:.4f} | {every} | {t['total']:.1f} | {cells} | {mb:.0f} |")
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT.parent))
        raise SystemExit(child(sys.argv[2:]))
    raise SystemExit(main())
