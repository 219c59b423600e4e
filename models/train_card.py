"""The model card a training writes: recipe, split fingerprint, history, versions, licence."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from .card import ModelCard, eurosat_classes
from .hashing import sha256_file
from .registry import eurosat_rgb_card


def versions() -> dict:
    import timm
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
    }


def make_card(args, name, spec, pretrained, fingerprint, state, command, num_classes) -> ModelCard:
    data = Path(args.data)
    dataset = {"source": str(args.data), "name": data.name}
    if data.is_file():
        dataset["sha256"] = sha256_file(data)
    if pretrained:
        init = f"ImageNet (offline weights from {spec.weights_package})" if spec.weights_package else "ImageNet"
    else:
        init = "random (from scratch)"
    commands = state.get("commands") or [command]
    training = {
        "command": commands[0],
        "resumed_with": commands[1:],
        "dataset": dataset,
        "split": {"seed": args.split_seed, "fractions": list(args.fractions), **fingerprint},
        "init": init,
        "recipe": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vars(args).items()
            if k not in ("data", "out", "resume")
        },
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "history": state["history"],
        "versions": versions(),
        "model_selection": "best validation accuracy (test split used once, after training)",
    }
    return eurosat_rgb_card(
        args.arch,
        name,
        title=args.title or f"EuroSAT RGB land cover ({args.arch}, {args.patch_size} px)",
        classes=eurosat_classes()[:num_classes],
        patch_size=args.patch_size,
        gsd_m=10.0,
        sentinel2_dn_divisor=2750.0,
        metrics={"val": {"accuracy": state["best_acc"], "loss": state["best_loss"], "epoch": state["best_epoch"]}},
        training=training,
        description=(
            "Classifies 64x64 Sentinel-2 RGB windows (B04, B03, B02 scaled as clip(DN/2750*255, 0, 255)) "
            "into the ten EuroSAT land-cover classes."
        ),
        license="Weights: trained on EuroSAT (MIT licence)"
        + (
            f"; ImageNet initialisation from {spec.weights_package} (Apache-2.0)"
            if pretrained and spec.weights_package
            else ""
        ),
    )
