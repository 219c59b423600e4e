"""What batch-norm statistics alone do under the shift of bench_finetune.py (no training, no labels).

    python benchmarks/finetune_bn_probe.py --data ZIP --out runs/finetune_recipes

The parent's batch-norm running statistics are moved towards those of scene A's 600 windows (the analyst's
image, unlabelled; models/finetune_pseudo.reestimate_bn: a mixture with ``share`` of the image) in every
batch-norm layer, or in the first one only (after the stem convolution); each variant is scored on the EuroSAT
validation patches that select epochs (100 per class), the development scene (finetune_recipes.py), scene B
and the EuroSAT test split (and scene A); then how many of scene A's windows the parent and the ``image_bn``
teacher label at a probability >= 0.8, and how many of those are right. One JSON line each; one thread.
Scenes and test split are finetune_recipes.py's arrays (the same cache).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="EuroSAT RGB zip")
    ap.add_argument("--out", default="runs/finetune_recipes")
    ap.add_argument("--shares", type=float, nargs="+", default=[0.3, 0.5, 0.7, 1.0])
    args = ap.parse_args(argv)
    import torch
    from finetune_recipes import dev_scene, scenes
    from torch import nn

    torch.set_num_threads(1)
    from eurosat_landcover.models import finetune as ft
    from eurosat_landcover.models.checkpoint import load_model
    from eurosat_landcover.models.finetune_pseudo import reestimate_bn

    out = Path(args.out)
    d = scenes(args.data, out, 600, 7)
    d.update(dev_scene(args.data, out, 600, 7, 100))
    f32 = {k: d[k].astype(np.float32) for k in ("xa", "xb", "xt", "xd")}
    sel = ft.selection_arrays(args.data, 100, 0)
    parent, _card = load_model(None)

    def score(m) -> dict:
        return {
            "val": ft.accuracy(m, *sel),
            "dev": ft.accuracy(m, f32["xd"], d["yd"]),
            "scene_b": ft.accuracy(m, f32["xb"], d["yb"]),
            "test": ft.accuracy(m, f32["xt"], d["yt"]),
            "scene_a": ft.accuracy(m, f32["xa"], d["ya"]),
        }

    for name, teacher in (("parent", parent), ("image_bn", _own_statistics(parent, f32["xa"]))):
        p = ft.predict(teacher, f32["xa"])
        sure = p.max(1) >= 0.8
        right = p.argmax(1) == d["ya"]
        print(json.dumps({"pseudo_labels_of_scene_a": name, "at_0.8": int(sure.sum()),
                          "right_at_0.8": float(right[sure].mean()), "all_right": float(right.mean())}))  # fmt: skip

    print(json.dumps({"parent": score(parent)}), flush=True)
    for share in args.shares:
        moved = copy.deepcopy(parent)
        reestimate_bn(moved, f32["xa"], share, np.random.default_rng(0))
        print(json.dumps({"layers": "all", "share": share, **score(moved)}), flush=True)
        first = copy.deepcopy(parent)
        src = next(m for m in moved.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
        dst = next(m for m in first.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
        dst.running_mean.copy_(src.running_mean)
        dst.running_var.copy_(src.running_var)
        print(json.dumps({"layers": "first", "share": share, **score(first)}), flush=True)
    return 0


def _own_statistics(parent, x):
    from eurosat_landcover.models.finetune_pseudo import reestimate_bn

    teacher = copy.deepcopy(parent)
    reestimate_bn(teacher, x, 1.0, np.random.default_rng(0))
    return teacher


if __name__ == "__main__":
    raise SystemExit(main())
