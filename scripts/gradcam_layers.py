"""Which layer should Grad-CAM use? Measured on patches made of half a real Forest and half a real
SeaLake image (EuroSAT RGB, both orders), with the bundled model: a layer "localises" a patch when the
Forest map is brighter on the forest half and the SeaLake map on the water half.

    .venv/bin/python scripts/gradcam_layers.py [--pairs 20] [--model CARD]

Prints one line per candidate layer (its grid at 64 px and the patches it localises). The registry's
``cam_layer`` (models/registry.py) is the choice this measurement supports.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ZIP = REPO.parent / "shared" / "datasets" / "eurosat-rgb" / "EuroSAT_RGB.zip"
CANDIDATES = {
    "tf_efficientnet_lite0": ["bn2", "blocks.5", "blocks.4", "blocks.3"],
    "tf_efficientnet_lite1": ["bn2", "blocks.5", "blocks.4", "blocks.3"],
    "tf_efficientnet_lite2": ["bn2", "blocks.5", "blocks.4", "blocks.3"],
}


def main() -> int:
    import torch
    from eurosat_landcover.models import gradcam
    from eurosat_landcover.models.checkpoint import load_model
    from eurosat_landcover.models.registry import get_spec
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--model", default=None, help="model card (default: the bundled model)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, card = load_model(args.model)
    forest, water = card.class_names.index("Forest"), card.class_names.index("SeaLake")
    with zipfile.ZipFile(ZIP) as zf:
        names = zf.namelist()

        def images(cls):
            members = sorted(n for n in names if f"/{cls}/" in n and n.endswith(".jpg"))[: args.pairs]
            return [np.asarray(Image.open(io.BytesIO(zf.read(m))).convert("RGB")) for m in members]

        fs, ss = images("Forest"), images("SeaLake")
    patches, forest_left = [], []
    for f, s in zip(fs, ss):
        patches += [np.concatenate([f[:, :32], s[:, 32:]], 1), np.concatenate([s[:, :32], f[:, 32:]], 1)]
        forest_left += [True, False]
    x = np.stack([p.transpose(2, 0, 1) for p in patches]).astype(np.float32)
    left = np.array(forest_left)
    print(f"model: {card.name} ({card.architecture}); {len(patches)} half Forest / half SeaLake patches")
    print(f"registry cam_layer: {get_spec(card.architecture).cam_layer}")
    for layer in CANDIDATES.get(card.architecture, [get_spec(card.architecture).cam_layer]):
        ok = np.ones(len(patches), bool)
        margins = []
        grid = None
        for target, on_forest in ((forest, True), (water, False)):
            res = gradcam.grad_cam(model, x, target, layer=layer)
            grid = res.raw.shape[1:]
            lmean, rmean = res.heatmaps[:, :, :32].mean((1, 2)), res.heatmaps[:, :, 32:].mean((1, 2))
            forest_half = np.where(left, lmean, rmean)
            water_half = np.where(left, rmean, lmean)
            margin = forest_half - water_half if on_forest else water_half - forest_half
            ok &= margin > 0
            margins.append(margin.mean())
        print(
            f"  {layer:<10} grid {grid[0]} x {grid[1]}: localises {ok.sum()} of {len(patches)} patches "
            f"(mean margin Forest map {margins[0]:+.3f}, SeaLake map {margins[1]:+.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
