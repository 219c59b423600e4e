"""What batch-norm statistics alone do under the shift of bench_finetune.py (no training, no labels).

    python benchmarks/finetune_bn_probe.py --data ZIP --out runs/finetune_recipes

The parent's batch-norm running statistics are moved towards those of scene A's 600 windows (the analyst's
image, unlabelled; models/finetune_pseudo.reestimate_bn: a mixture with ``share`` of the image) in every
batch-norm layer, or in the first one only (after the stem convolution); each variant is scored on the EuroSAT
validation patches that select epochs (100 per class), the development scene (finetune_recipes.py), scene B
and the EuroSAT test split. One JSON line per variant; one thread. Scenes and test split are
finetune_recipes.py's arrays (the same cache).
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
        }

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


if __name__ == "__main__":
    raise SystemExit(main())
