"""The model card a training writes: recipe, split fingerprint, history, versions, licence."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from .card import ModelCard, class_infos, recipe_of
from .dataset import EUROSAT_CLASSES
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


def make_card(args, name, spec, pretrained, fingerprint, state, command, classes, parent=None) -> ModelCard:
    """The card of a training; ``classes``: the class names it learnt, in the model's output order."""
    data = Path(args.data)
    dataset = {"source": str(args.data), "name": data.name}
    if data.is_file():
        dataset["sha256"] = sha256_file(data)
    if parent:
        init = f"fine-tuned from {parent['card']} (weights sha256 {parent['weights_sha256']})"
    elif pretrained:
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
        **({"parent": parent} if parent else {}),
        "recipe": recipe_of(args, leave_out=("data", "out", "resume")),
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "history": state["history"],
        "versions": versions(),
        "model_selection": (
            "best mean validation accuracy over the clean and the radiometrically shifted validation split"
            if getattr(args, "val_shifts", False)
            else "best validation accuracy"
        )
        + " (test split used once, after training)",
    }
    val = {"accuracy": state["best_acc"], "loss": state["best_loss"], "epoch": state["best_epoch"]}
    if state.get("best_val_shifts"):
        val["shifts"] = state["best_val_shifts"]
    return eurosat_rgb_card(
        args.arch,
        name,
        title=args.title or f"EuroSAT RGB land cover ({args.arch}, {args.patch_size} px)",
        classes=class_infos(classes),
        patch_size=args.patch_size,
        gsd_m=10.0,
        sentinel2_dn_divisor=2750.0,
        metrics={"val": val},
        training=training,
        description=(
            "Classifies 64x64 Sentinel-2 RGB windows (B04, B03, B02 scaled as clip(DN/2750*255, 0, 255)) "
            + (
                "into the ten EuroSAT land-cover classes."
                if list(classes) == list(EUROSAT_CLASSES)
                else f"into {len(classes)} classes: {', '.join(classes)}."
            )
        ),
        license=_license(spec, pretrained, parent),
    )


def _license(spec, pretrained: bool, parent) -> str:
    text = "Weights: trained on EuroSAT (MIT licence)"
    if parent:
        return (
            text
            + f"; fine-tuned from {parent['card']}, itself initialised from ImageNet weights of "
            + (f"{spec.weights_package} (Apache-2.0)" if spec.weights_package else "its architecture")
        )
    if pretrained and spec.weights_package:
        return text + f"; ImageNet initialisation from {spec.weights_package} (Apache-2.0)"
    return text
