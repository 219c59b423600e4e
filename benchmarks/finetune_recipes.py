"""Compare fine-tuning recipes quickly, in memory, on the scenes of bench_finetune.py.

    python benchmarks/finetune_recipes.py --data ZIP --out runs/finetune_recipes --n 100 \
        [--interpolate 0.5 0.75 --] '{"trainable": "norm", "lr": 2e-3}' '{"look_share": 0}' ...

Each argument is a JSON object of :class:`models.finetune.Recipe` fields (``{}``: the shipped defaults).
The scenes are bench_finetune.py's (the same seed, the same EuroSAT TEST-split patches under
``sensor_crosstalk``) but kept as arrays: with ``radiometry="8bit"`` and stride 64 the engine reads exactly
these patches (checked: the engine's and the direct model's accuracy on scene B agree to the patch), so a
recipe is measured without writing and classifying GeoTIFFs. The N least sure patches of scene A are the
analyst's labels; the fine-tuned model is scored on the other patches of A, on scene B and on the whole
EuroSAT test split (also which test patches it lost). Every recipe also gets all windows of scene A as
``unlabelled`` (the analyst's image, for the semi-supervised fields: models/finetune_pseudo.py), and is scored
on a development scene (EuroSAT VALIDATION patches under the same shift, none of them a selection patch):
choose recipes on it and on the validation patches, never on scene B or the test split. ``--interpolate A ...``
(before ``--``) also scores the weights (1 - A) x parent + A x fine-tuned. ``--seeds S ...`` (before ``--``)
runs every recipe with each seed and ends with one line of their means (a single seed moves the development
scene by a patch or two). One JSON line per recipe; one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def scenes(data: str, out: Path, blocks: int, seed: int) -> dict:
    """The arrays (cached in ``out``): scenes A and B shifted, B unshifted, the test split, the val patches."""
    from bench_finetune import sensor_crosstalk
    from eurosat_landcover.models.dataset import load_arrays, stratified_split

    cache = out / "arrays.npz"
    if cache.is_file():
        return dict(np.load(cache))
    test = stratified_split(data)["test"]
    order = np.random.default_rng(seed).permutation(len(test))
    xa, ya = load_arrays(data, [test[i] for i in order[:blocks]], threads=2)
    xb, yb = load_arrays(data, [test[i] for i in order[blocks : 2 * blocks]], threads=2)
    xt, yt = load_arrays(data, test, threads=2)
    out.mkdir(parents=True, exist_ok=True)
    arrays = dict(xa=sensor_crosstalk(xa), ya=ya, xb=sensor_crosstalk(xb), xbc=xb, yb=yb, xt=xt, yt=yt)
    np.savez(cache, **arrays)
    return arrays


def dev_scene(data: str, out: Path, blocks: int, seed: int, selection_per_class: int) -> dict:
    """A development scene to choose recipes on (never scene B, never the test split): ``blocks`` EuroSAT
    VALIDATION-split patches that are not among the recipe's selection patches, under the same shift."""
    from bench_finetune import sensor_crosstalk
    from eurosat_landcover.models import finetune as ft
    from eurosat_landcover.models.dataset import load_arrays, stratified_split

    cache = out / f"dev_{selection_per_class}.npz"
    if cache.is_file():
        return dict(np.load(cache))
    val = stratified_split(data)["val"]
    used = {m for m, _c in ft._per_class(val, selection_per_class, 0)}
    rest = [item for item in val if item[0] not in used]
    order = np.random.default_rng(seed + 1).permutation(len(rest))
    x, y = load_arrays(data, [rest[i] for i in order[:blocks]], threads=2)
    arrays = dict(xd=sensor_crosstalk(x), xdc=x, yd=y)
    np.savez(cache, **arrays)
    return arrays


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="EuroSAT RGB zip")
    ap.add_argument("--out", default="runs/finetune_recipes")
    ap.add_argument("--n", type=int, default=100, help="labels (the least sure patches of scene A)")
    ap.add_argument("--blocks", type=int, default=600)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--interpolate",
        type=float,
        nargs="*",
        default=[],
        help="also score the weights (1 - a) x parent + a x fine-tuned for each a (WiSE-FT)",
    )
    ap.add_argument("--model", default=None, help="the parent's card (default: the bundled model)")
    ap.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="run every recipe with each of these Recipe seeds (held-out split, replay and pixel draws), then "
        "print the mean of each recipe's rows (end the list with --)",
    )
    ap.add_argument("recipes", nargs="+", help="JSON objects of Recipe fields")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from eurosat_landcover.models import finetune as ft
    from eurosat_landcover.models.checkpoint import load_model

    out = Path(args.out)
    d = scenes(args.data, out, args.blocks, args.seed)
    parent, _card = load_model(args.model)
    d.update(dev_scene(args.data, out, args.blocks, args.seed, 100))
    f32 = {k: d[k].astype(np.float32) for k in ("xa", "xb", "xbc", "xt", "xd", "xdc")}
    pa = ft.predict(parent, f32["xa"])
    base = {
        "scene_b": ft.accuracy(parent, f32["xb"], d["yb"]),
        "scene_b_unshifted": ft.accuracy(parent, f32["xbc"], d["yb"]),
        "test": ft.accuracy(parent, f32["xt"], d["yt"]),
        "dev": ft.accuracy(parent, f32["xd"], d["yd"]),
        "dev_unshifted": ft.accuracy(parent, f32["xdc"], d["yd"]),
    }
    test0 = ft.predict(parent, f32["xt"]).argmax(1)
    print(json.dumps({"parent": base}), flush=True)
    chosen = np.argsort(pa.max(1), kind="stable")[: args.n]
    other = np.setdiff1d(np.arange(len(d["ya"])), chosen)
    runs = [(text, {**json.loads(text), **({} if s is None else {"seed": s})})
            for text in args.recipes for s in (args.seeds or [None])]  # fmt: skip
    rows_of: dict = {}
    for text, kw in runs:
        recipe = ft.Recipe(threads=1, time_limit_s=1e9, **kw)
        replay = ft.replay_arrays(args.data, recipe.replay_per_class, recipe.seed)
        selection = ft.selection_arrays(args.data, recipe.selection_per_class, recipe.seed)
        t0, c0 = time.perf_counter(), time.process_time()
        unlabelled = f32["xa"]  # the analyst's image: every window the engine reads (stride 64), labelled or not
        res = ft.finetune(parent, f32["xa"][chosen], d["ya"][chosen], replay, recipe, selection=selection,
                          unlabelled=unlabelled)  # fmt: skip
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        plain = res.model.without_calibration()  # the test split as the network sees EuroSAT (no calibration)
        test1 = ft.predict(plain, f32["xt"]).argmax(1)
        test_cal = ft.accuracy(res.model, f32["xt"], d["yt"]) if res.calibration else None
        lost = (test0 == d["yt"]) & (test1 != d["yt"])
        acc_b = ft.accuracy(res.model, f32["xb"], d["yb"])
        acc_d = ft.accuracy(res.model, f32["xd"], d["yd"])
        row = {
            "recipe": kw,
            "n": args.n,
            "scene_a_other": ft.accuracy(res.model, f32["xa"][other], d["ya"][other]),
            "dev": acc_d,
            "recovered_dev": (acc_d - base["dev"]) / (base["dev_unshifted"] - base["dev"]),
            "val_before_after": [res.val_before, res.val_after],
            "scene_b": acc_b,
            "recovered_b": (acc_b - base["scene_b"]) / (base["scene_b_unshifted"] - base["scene_b"]),
            "test": float((test1 == d["yt"]).mean()),
            "test_through_calibration": test_cal,
            "calibration": res.calibration,
            "calibration_fit": res.calibration_fit,
            "test_lost_true_to_pred": Counter(f"{a}->{b}" for a, b in zip(d["yt"][lost], test1[lost])).most_common(5),
            "test_gained": int(((test0 != d["yt"]) & (test1 == d["yt"])).sum()),
            "pseudo_labelled": res.pseudo_labelled,
            "history": [{k: v for k, v in h.items() if k != "seconds"} for h in res.history],
            "best_epoch": res.best_epoch,
            "stopped": res.stopped,
            "finetune_wall_s": round(wall, 1),
            "finetune_cpu_s": round(cpu, 1),
        }
        print(json.dumps(row), flush=True)
        rows_of.setdefault(text, []).append(row)
        if args.interpolate:
            sel_x, sel_y = selection
            for a in args.interpolate:
                m = interpolated(parent, res.model, a)
                acc_d, acc_b = ft.accuracy(m, f32["xd"], d["yd"]), ft.accuracy(m, f32["xb"], d["yb"])
                print(json.dumps({"recipe": kw, "interpolate": a, "val": ft.accuracy(m, sel_x, sel_y), "dev": acc_d,
                                  "recovered_dev": recovered(acc_d, base, "dev"), "scene_b": acc_b,
                                  "recovered_b": recovered(acc_b, base, "scene_b"),
                                  "test": ft.accuracy(m, f32["xt"], d["yt"])}), flush=True)  # fmt: skip
    for text, rows in rows_of.items() if args.seeds else ():
        keys = ("dev", "recovered_dev", "scene_b", "recovered_b", "scene_a_other", "test", "finetune_cpu_s")
        mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}
        print(json.dumps({"recipe": json.loads(text), "n": args.n, "seeds": args.seeds, "mean": mean}), flush=True)
    return 0


def recovered(acc: float, base: dict, scene: str) -> float:
    """The share of what the shift took on ``scene`` that ``acc`` wins back."""
    return (acc - base[scene]) / (base[f"{scene}_unshifted"] - base[scene])


def interpolated(parent, tuned, a: float):
    """A copy of ``parent`` whose floating-point weights and statistics are (1 - a) x its own + a x ``tuned``'s."""
    import copy

    p0, p1 = parent.state_dict(), tuned.state_dict()
    m = copy.deepcopy(parent)
    m.load_state_dict({k: (1 - a) * v + a * p1[k] if v.is_floating_point() else p1[k] for k, v in p0.items()})
    return m


if __name__ == "__main__":
    raise SystemExit(main())
