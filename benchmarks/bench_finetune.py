"""Benchmark: the analyst fine-tunes the model on N labels from a scene under an unseen radiometric shift.

    python benchmarks/bench_finetune.py --data ZIP --out runs/bench_finetune --blocks 600 \
        --ns 25 50 100 200 --threads 1 [--model CARD] --table benchmarks/results_finetune.md

``--model`` pins the parent (default: the bundled card): a copy of the card and its weights keeps the figures
comparable when the bundled weights change.

Scenes: two disjoint sets of ``--blocks`` EuroSAT TEST-split patches (seeded), each laid out as a GeoTIFF
mosaic of 64 px blocks (EPSG:32632, 10 m), under the shift :func:`sensor_crosstalk` (below); a third
mosaic holds scene B unshifted, for what the shift took. For every N: the parent model classifies scene A
(engine, stride 64: one window per block); the N blocks where it is least sure (lowest confidence) are
labelled with their true class (a point layer at the block centres); ``finetune_from_labels`` (the CLI's
code path, default recipe: an input calibration, models/input_calibration.py) adapts the model; the new card
classifies scene A (scored on the blocks not labelled) and scene B (all blocks) through the engine, which
applies its calibration; its EuroSAT test-split accuracy (as the network sees EuroSAT, and through the
calibration) and the fine-tuning time come from its card.

The shift, chosen to be unlike the bundled model's training augmentation and the fixed evaluation shifts
of models/radiometric_shifts.py (haze, surface_reflectance, season): a different sensor's spectral
response, i.e. channel crosstalk (each output band mixes its neighbours: the 3 x 3 matrix ``CROSSTALK``),
then a per-band non-linear response (gamma 0.80 / 0.85 / 0.90) and per-band gains (1.00 / 0.97 / 1.05).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

CROSSTALK = np.array([[0.82, 0.14, 0.04], [0.10, 0.80, 0.10], [0.04, 0.16, 0.80]], np.float32)
GAMMA = np.array([0.80, 0.85, 0.90], np.float32)
GAIN = np.array([1.00, 0.97, 1.05], np.float32)
# the exact inverse of sensor_crosstalk (but for its clipping and rounding) as a card's input_calibration
# (models/input_calibration.py): what a perfect calibration fitted on this benchmark would be; tests use it
INVERSE_CALIBRATION = {
    "matrix": (np.linalg.inv(CROSSTALK) @ np.diag(GAIN ** (-1 / GAMMA))).round(5).tolist(),
    "gamma": (1 / GAMMA).round(5).tolist(),
    "offset": [0.0, 0.0, 0.0],
}


def sensor_crosstalk(x: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) 0-255 -> the same under another sensor's response (module docstring), uint8."""
    y = np.einsum("ij,njhw->nihw", CROSSTALK, x.astype(np.float32) / 255.0)
    y = np.clip(y, 0, 1) ** GAMMA[None, :, None, None]
    return np.clip(np.round(y * 255.0 * GAIN[None, :, None, None]), 0, 255).astype(np.uint8)


def write_mosaic(path: Path, images: np.ndarray, labels, names, columns: int = 25) -> dict:
    """Blocks row by row (EPSG:32632, 10 m); -> the truth dict of tests/core/mosaic_testlib.build_mosaic."""
    from osgeo import gdal, osr

    n, p = len(images), images.shape[-1]
    rows = -(-n // columns)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), columns * p, rows * p, 3, gdal.GDT_Byte, ["TILED=YES"])
    x0, y0 = 480000.0, 5300000.0
    ds.SetGeoTransform((x0, 10.0, 0.0, y0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    canvas = np.zeros((3, rows * p, columns * p), np.uint8)
    blocks = []
    for i in range(n):
        r, c = divmod(i, columns)
        canvas[:, r * p : (r + 1) * p, c * p : (c + 1) * p] = images[i]
        bx, by = x0 + c * p * 10, y0 - r * p * 10
        blocks.append({"row": r, "col": c, "class_index": int(labels[i]), "class": names[labels[i]],
                       "bounds": [bx, by - p * 10, bx + p * 10, by]})  # fmt: skip
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(canvas[b])
        ds.GetRasterBand(b + 1).SetColorInterpretation(gdal.GCI_RedBand + b)
    ds = None
    return {"blocks": blocks}


def classify(image: Path, out: Path, card, threads):
    from eurosat_landcover.core.pipeline import classify as run
    from eurosat_landcover.core.request import ClassificationRequest

    req = ClassificationRequest(image, out, model_card=card, stride=64, radiometry="8bit", threads=threads,
                                write_probabilities=False, overwrite=True, fast_path="off", mode="windows")  # fmt: skip
    return run(req)


def scores(run_dir: Path, name: str, truth: dict, skip=()):
    """(accuracy on the blocks not in ``skip``, confidence per block) of a stride-64 run of a mosaic."""
    from osgeo import gdal

    def per_block(kind):
        ds = gdal.Open(str(run_dir / f"{name}_{kind}.tif"))
        a = ds.GetRasterBand(1).ReadAsArray()
        ds = None
        return np.array([a[b["row"], b["col"]] for b in truth["blocks"]])

    pred, confidence = per_block("classes"), per_block("confidence").astype(float)
    true = np.array([b["class_index"] for b in truth["blocks"]])
    keep = np.setdiff1d(np.arange(len(true)), np.asarray(list(skip), int))
    return float((pred[keep] == true[keep]).mean()), confidence


def write_labels(path: Path, truth: dict, chosen) -> Path:
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("labels", srs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("landcover", ogr.OFTString))
    for i in chosen:
        b = truth["blocks"][i]
        x0, y0, x1, y1 = b["bounds"]
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({(x0 + x1) / 2} {(y0 + y1) / 2})"))
        f.SetField("landcover", b["class"])
        lyr.CreateFeature(f)
    ds = None
    return path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="EuroSAT RGB zip")
    ap.add_argument("--out", default="runs/bench_finetune")
    ap.add_argument("--blocks", type=int, default=600, help="patches per scene")
    ap.add_argument("--ns", type=int, nargs="+", default=[25, 50, 100, 200])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--model", default=None, help="the parent's card (default: the bundled model)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--reuse", action="store_true", help="keep the parent's runs of the scenes when present")
    ap.add_argument("--time-limit", type=float, default=1800.0, help="fine-tuning wall-clock guard (s)")
    ap.add_argument("--table", help="write the results as Markdown here")
    ap.add_argument("--smoke", action="store_true", help="a tiny recipe, to check the script runs (no figures)")
    ap.add_argument("--table-from", metavar="RESULTS_JSON", help="only rewrite --table from an earlier results.json")
    args = ap.parse_args(argv)
    if args.table_from:
        Path(args.table).write_text(table(json.loads(Path(args.table_from).read_text())), encoding="utf-8")
        return 0
    import os

    from eurosat_landcover.core.finetune.run import finetune_from_labels
    from eurosat_landcover.models.card import eurosat_classes
    from eurosat_landcover.models.checkpoint import default_card_path
    from eurosat_landcover.models.dataset import load_arrays, stratified_split
    from eurosat_landcover.models.finetune import Recipe

    os.environ.setdefault("EUROSAT_LANDCOVER_CACHE_DIR", "")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in eurosat_classes()]
    test = stratified_split(args.data)["test"]
    order = np.random.default_rng(args.seed).permutation(len(test))
    items_a = [test[i] for i in order[: args.blocks]]
    items_b = [test[i] for i in order[args.blocks : 2 * args.blocks]]
    xa, ya = load_arrays(args.data, items_a, threads=2)
    xb, yb = load_arrays(args.data, items_b, threads=2)
    truth_a = write_mosaic(out / "sceneA.tif", sensor_crosstalk(xa), ya, names)
    truth_b = write_mosaic(out / "sceneB.tif", sensor_crosstalk(xb), yb, names)
    write_mosaic(out / "sceneB_clean.tif", xb, yb, names)
    parent = str(args.model or default_card_path())
    for scene in ("sceneA", "sceneB", "sceneB_clean"):
        if not (args.reuse and (out / "parent" / f"{scene}_summary.json").is_file()):
            classify(out / f"{scene}.tif", out / "parent", parent, args.threads)
    base_a, conf_a = scores(out / "parent", "sceneA", truth_a)
    base_b, _ = scores(out / "parent", "sceneB", truth_b)
    clean_b, _ = scores(out / "parent", "sceneB_clean", truth_b)
    rows = []
    print(f"parent: scene A {base_a:.4f}, scene B {base_b:.4f}, scene B unshifted {clean_b:.4f}", flush=True)
    least_sure = np.argsort(conf_a, kind="stable")
    # the default recipe; only the wall-clock guard is lifted, so that a loaded shared CPU does not cut
    # training short (what a run costs is reported as wall and CPU seconds)
    recipe = Recipe(threads=args.threads, time_limit_s=args.time_limit)
    if args.smoke:
        recipe = Recipe(threads=args.threads, epochs=1, replay_per_class=5, selection_per_class=3, test_every=60)
    for n in args.ns:
        chosen = least_sure[:n]
        labels = write_labels(out / f"labels_{n}.gpkg", truth_a, chosen)
        card = out / f"finetuned_{n}.json"
        t0, c0 = time.perf_counter(), time.process_time()
        rec = finetune_from_labels(out / "sceneA.tif", labels, card, class_field="landcover", model=parent,
                                   replay_data=args.data, recipe=recipe, overwrite=True)  # fmt: skip
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        for scene in ("sceneA", "sceneB"):
            classify(out / f"{scene}.tif", out / f"ft{n}", str(card), args.threads)
        acc_a, _ = scores(out / f"ft{n}", "sceneA", truth_a, skip=chosen)
        before_a, _ = scores(out / "parent", "sceneA", truth_a, skip=chosen)
        acc_b, _ = scores(out / f"ft{n}", "sceneB", truth_b)
        m = rec["metrics"]
        row = {
            "n": n,
            "per_class": rec["examples"]["per_class"],
            "scene_a_other_before": before_a,
            "scene_a_other_after": acc_a,
            "scene_b_before": base_b,
            "scene_b_after": acc_b,
            "recovered_fraction_b": (acc_b - base_b) / (clean_b - base_b) if clean_b > base_b else None,
            "eurosat_test_before": m["eurosat_test"]["before"],
            "eurosat_test_after": m["eurosat_test"]["after"],
            "eurosat_test_through_calibration": m["eurosat_test"].get("after_through_calibration"),
            "input_calibration": rec.get("input_calibration_fit"),
            "holdout_before": m["holdout"]["before"],
            "holdout_after": m["holdout"]["after"],
            "finetune_seconds": rec["seconds_finetuning"],
            "finetune_cpu_seconds": rec.get("cpu_seconds_finetuning"),
            "whole_command_seconds": round(wall, 1),
            "whole_command_cpu_seconds": round(cpu, 1),
            "best_epoch": rec["best_epoch"],
            "stopped": rec["stopped"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        write_results(args, out, base_a, base_b, clean_b, rows, argv)  # after every N: a partial run still reports
    return 0


def write_results(args, out, base_a, base_b, clean_b, rows, argv) -> None:
    import os

    result = {
        "command": "python benchmarks/bench_finetune.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "blocks_per_scene": args.blocks,
        "parent": {"scene_a": base_a, "scene_b": base_b, "scene_b_unshifted": clean_b},
        "parent_card": str(args.model or "the bundled model"),
        "rows": rows,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    if args.table:
        Path(args.table).write_text(table(result), encoding="utf-8")


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def table(r: dict) -> str:
    p = r["parent"]
    lines = [
        "# Fine-tuning from the analyst's labels (benchmarks/bench_finetune.py)",
        "",
        f"Command: `{r['command']}`  ",
        f"CPU: {r['cpu']}, {r['cores']} cores, shared (load average at the end: "
        f"{', '.join(f'{v:.1f}' for v in r['load_average_at_end'])}).",
        "",
        f"Scenes of {r['blocks_per_scene']} EuroSAT test patches each under `sensor_crosstalk`. Parent model: "
        f"scene B unshifted {pct(p['scene_b_unshifted'])}, under the shift {pct(p['scene_b'])} "
        f"(scene A {pct(p['scene_a'])}); its card: {r.get('parent_card', 'the bundled model')}. Recipe: the shipped "
        "default (models/finetune_recipe.py), only its wall-clock guard lifted; the recipes tried before choosing "
        "it: results_finetune_recipes.md. The new card's input calibration (models/input_calibration.py) is applied "
        "to every window of scenes A and B by the engine. EuroSAT test split: the target (>= 98.0 %) is judged on the "
        "network as it sees EuroSAT imagery, without the calibration (EuroSAT imagery is the training look; the "
        "calibration maps the analyst's sensor into it); the column through the calibration shows what the new card "
        "would do to EuroSAT imagery, which is not the imagery it is made for.",
        "",
        "| N labels | scene A, other blocks: before → after | scene B: before → after | share of the loss "
        "recovered (B) | EuroSAT test: before → after (the network, no calibration) | EuroSAT test through the "
        "calibration | held-out labels: before → after | fine-tuning s (wall / CPU) | whole command s (wall / CPU) "
        "| best epoch, stop |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        rec = row["recovered_fraction_b"]
        lines.append(
            f"| {row['n']} | {pct(row['scene_a_other_before'])} → {pct(row['scene_a_other_after'])} | "
            f"{pct(row['scene_b_before'])} → {pct(row['scene_b_after'])} | "
            f"{'-' if rec is None else f'{100 * rec:.0f} %'} | "
            f"{pct(row['eurosat_test_before'])} → {pct(row['eurosat_test_after'])} | "
            f"{pct(row.get('eurosat_test_through_calibration'))} | "
            f"{pct(row['holdout_before'])} → {pct(row['holdout_after'])} | "
            f"{row['finetune_seconds']} / {row['finetune_cpu_seconds']} | "
            f"{row['whole_command_seconds']} / {row['whole_command_cpu_seconds']} | "
            f"{row['best_epoch']}, {row['stopped']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
