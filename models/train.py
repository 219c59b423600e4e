"""Train a EuroSAT RGB classifier.

    python -m eurosat_landcover.models.train [DATA] --arch tf_efficientnet_lite0 --out runs/lite0

DATA: zip or folder in the EuroSAT layout (default: the shared EuroSAT_RGB.zip).  Images
are decoded once into memory (uint8), split by a seeded stratified split (recorded in the
card), augmented on the fly (dihedral flips/rotations, mild zoom, brightness/contrast)
and fed to the network through :class:`LandCoverClassifier` (normalisation included).
The best epoch on the *validation* split is written as ``<out>/<name>.safetensors`` +
``<out>/<name>.json``; only then is the test split evaluated, once, and recorded in the
card with the exact command.  ``<out>/last.pt`` holds the full training state for
``--resume``.  Runs unchanged on CUDA (AMP, data on the device) and on CPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .card import ModelCard, eurosat_classes
from .checkpoint import LandCoverClassifier, load_model, save_checkpoint
from .dataset import (
    DEFAULT_DATASET,
    EUROSAT_CLASSES,
    file_sha256,
    list_eurosat,
    load_arrays,
    split_fingerprint,
    stratified_split,
)
from .evaluate import amp_dtype, evaluate_arrays, predict_logits, resolve_device
from .metrics import record_in_card
from .registry import build_model, count_parameters, eurosat_rgb_card, get_head, get_spec

LOG = logging.getLogger("eurosat_landcover.models.train")

SHORT_NAMES = {
    "tf_efficientnet_lite0": "lite0",
    "tf_efficientnet_lite1": "lite1",
    "tf_efficientnet_lite2": "lite2",
}


# --------------------------------------------------------------------------- augmentation
_COS = torch.tensor([1.0, 0.0, -1.0, 0.0])
_SIN = torch.tensor([0.0, 1.0, 0.0, -1.0])


def augment_batch(
    x: torch.Tensor,
    zoom: tuple[float, float] = (0.85, 1.0),
    zoom_p: float = 0.5,
    jitter: float = 0.1,
) -> torch.Tensor:
    """Augment a float batch N x C x H x W on the 0-255 scale (any device).

    Overhead imagery has no "up": each sample gets one of the 8 dihedral transforms
    (90 degree rotations x flip), with probability ``zoom_p`` a mild zoom-in (sampling a
    ``zoom`` fraction of the side, randomly placed), and brightness/contrast factors in
    ``1 +- jitter``.  One ``grid_sample`` for the geometry: exact for pure rotations/flips.
    """
    n = x.shape[0]
    dev = x.device
    k = torch.randint(0, 4, (n,), device=dev)
    cos, sin = _COS.to(dev)[k], _SIN.to(dev)[k]
    flip = torch.randint(0, 2, (n,), device=dev).float() * 2 - 1
    scale = torch.ones(n, device=dev)
    if zoom_p > 0 and zoom[0] < 1:
        use = torch.rand(n, device=dev) < zoom_p
        scale = torch.where(use, torch.empty(n, device=dev).uniform_(*zoom), scale)
    shift = 1 - scale
    tx = (torch.rand(n, device=dev) * 2 - 1) * shift
    ty = (torch.rand(n, device=dev) * 2 - 1) * shift
    theta = torch.stack(
        [
            torch.stack([scale * cos * flip, -scale * sin, tx], 1),
            torch.stack([scale * sin * flip, scale * cos, ty], 1),
        ],
        1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if jitter > 0:
        b = 1 + (torch.rand(n, 1, 1, 1, device=dev, dtype=x.dtype) * 2 - 1) * jitter
        ct = 1 + (torch.rand(n, 1, 1, 1, device=dev, dtype=x.dtype) * 2 - 1) * jitter
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * ct + mean) * b
    return x.clamp_(0, 255)


# --------------------------------------------------------------------------- CLI
DESCRIPTION = "Train a EuroSAT land-cover classifier and write safetensors + model card."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eurosat_landcover.models.train",
        description=DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="?", default=str(DEFAULT_DATASET), help="EuroSAT-layout zip or folder")
    p.add_argument("--arch", default="tf_efficientnet_lite0", help="architecture (see registry)")
    p.add_argument("--out", default="runs/train", help="output folder (card, weights, log, last.pt)")
    p.add_argument("--name", default=None, help="card/weights file stem (default eurosat_rgb_<arch>)")
    p.add_argument("--title", default=None, help="human title in the card")
    p.add_argument(
        "--pretrained",
        choices=("auto", "yes", "no"),
        default="auto",
        help="offline ImageNet init: auto = when available for the architecture",
    )
    p.add_argument("--freeze-backbone", action="store_true", help="train the classifier head only")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the head")
    p.add_argument("--backbone-lr-mult", type=float, default=1.0, help="backbone LR = lr x this (pretrained backbones)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", choices=("onecycle", "cosine", "plateau"), default="onecycle")
    p.add_argument("--warmup-epochs", type=float, default=1.0, help="warm-up (onecycle/cosine)")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--clip-grad", type=float, default=2.0, help="max gradient norm (0 = off)")
    p.add_argument("--patience", type=int, default=3, help="early stopping on val accuracy (0 = off)")
    p.add_argument("--zoom", type=float, nargs=2, default=(0.85, 1.0), metavar=("MIN", "MAX"))
    p.add_argument("--jitter", type=float, default=0.1, help="brightness/contrast jitter")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--seed", type=int, default=42, help="training seed (init, order, augmentation)")
    p.add_argument("--split-seed", type=int, default=42, help="seed of the train/val/test split")
    p.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--patch-size", type=int, default=64)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--max-train-batches", type=int, default=None, help="per epoch (short runs)")
    p.add_argument("--max-eval-batches", type=int, default=None, help="val/test batches (short runs)")
    p.add_argument("--log-every", type=int, default=50, help="batches between log lines")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--skip-test", action="store_true", help="do not evaluate the test split")


# --------------------------------------------------------------------------- helpers
def _setup_logging(out: Path) -> logging.Handler:
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    LOG.addHandler(handler)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) for h in LOG.handlers):
        sh = logging.StreamHandler(sys.stdout)
        sh.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(sh)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    return handler


def _param_groups(net: nn.Module, lr: float, backbone_mult: float, weight_decay: float, freeze: bool):
    head_ids = {id(p) for p in get_head(net).parameters()}
    groups = {}
    for p in net.parameters():
        is_head = id(p) in head_ids
        if freeze and not is_head:
            p.requires_grad_(False)
            continue
        decay = p.ndim > 1
        key = ("head" if is_head else "backbone", decay)
        groups.setdefault(key, []).append(p)
    out = []
    for (part, decay), params in sorted(groups.items()):
        out.append(
            {
                "params": params,
                "lr": lr if part == "head" else lr * backbone_mult,
                "weight_decay": weight_decay if decay else 0.0,
                "name": f"{part}{'' if decay else '_nodecay'}",
            }
        )
    return out


def _make_scheduler(opt, args, steps_per_epoch: int):
    total = max(1, args.epochs * steps_per_epoch)
    warm = int(round(args.warmup_epochs * steps_per_epoch))
    if args.schedule in ("onecycle", "cosine") and total < 8:  # smoke-test sized runs: constant LR
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0), "step"
    if args.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=[g["lr"] for g in opt.param_groups],
            total_steps=total,
            pct_start=min(0.5, max(1, warm) / total),
            anneal_strategy="cos",
            div_factor=25.0,
            final_div_factor=1e3,
        ), "step"
    if args.schedule == "cosine":

        def f(step):
            if step < warm:
                return (step + 1) / max(1, warm)
            t = (step - warm) / max(1, total - warm)
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

        return torch.optim.lr_scheduler.LambdaLR(opt, f), "step"
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.3, patience=1), "epoch"


def _can_step(scheduler) -> bool:
    """OneCycleLR refuses to step past its total; a resumed run with more epochs keeps the final LR."""
    total = getattr(scheduler, "total_steps", None)
    return total is None or scheduler.last_epoch + 1 < total


def _set_train_mode(model: LandCoverClassifier, freeze: bool) -> None:
    model.train()
    if freeze:  # keep backbone batch-norm statistics fixed
        head = get_head(model.net)
        head_modules = set(head.modules())
        for m in model.net.modules():
            if m not in head_modules:
                m.eval()


def _pretrained_choice(args) -> bool:
    spec = get_spec(args.arch)
    if args.pretrained == "yes":
        return True
    if args.pretrained == "no":
        return False
    return spec.pretrained_available


def _command(argv: list[str]) -> str:
    return "python -m eurosat_landcover.models.train " + shlex.join(argv)


def _versions() -> dict:
    import timm
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
    }


# --------------------------------------------------------------------------- training
def train(args, argv: list[str] | None = None, command: str | None = None) -> dict:
    """Run a training described by parsed ``args``; returns a summary dict (card_path, accuracies)."""
    out = Path(args.out)
    handler = _setup_logging(out)
    try:
        return _train(args, command or _command(argv or []), out)
    finally:
        LOG.removeHandler(handler)
        handler.close()


def _train(args, command: str, out: Path) -> dict:
    t_start = time.time()
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    device = resolve_device(args.device)
    use_amp = device.type == "cuda" and not args.no_amp
    dtype = amp_dtype(device) if use_amp else None
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    spec = get_spec(args.arch)
    name = args.name or f"eurosat_rgb_{SHORT_NAMES.get(args.arch, args.arch)}"
    LOG.info("command: %s", command)
    LOG.info("device %s (amp %s), torch threads %d, arch %s", device, dtype, torch.get_num_threads(), args.arch)

    # ---- data
    classes = list(EUROSAT_CLASSES)
    listing = list_eurosat(args.data, classes)
    split = stratified_split(listing, seed=args.split_seed, fractions=args.fractions, classes=classes)
    fingerprint = split_fingerprint(split, classes)
    LOG.info("split (seed %d): %s", args.split_seed, {k: v["count"] for k, v in fingerprint.items()})
    t0 = time.time()
    xtr, ytr = load_arrays(args.data, split["train"], args.patch_size)
    xva, yva = load_arrays(args.data, split["val"], args.patch_size)
    LOG.info("decoded %d train + %d val images in %.1f s", len(ytr), len(yva), time.time() - t0)
    if len(ytr) == 0 or len(yva) == 0:
        raise SystemExit("the split left no training or validation images")
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    if device.type == "cuda":  # 300 MB of uint8 easily fits: no per-batch host transfer
        xtr_t, ytr_t = xtr_t.to(device), ytr_t.to(device)

    # ---- model
    pretrained = _pretrained_choice(args)
    net = build_model(args.arch, num_classes=len(classes), pretrained=pretrained)
    model = LandCoverClassifier(net, spec.mean, spec.std).to(device).use_channels_last(True)
    groups = _param_groups(
        net, args.lr, args.backbone_lr_mult if pretrained else 1.0, args.weight_decay, args.freeze_backbone
    )
    opt = torch.optim.AdamW(groups, lr=args.lr)
    n_batches = len(ytr) // args.batch_size if len(ytr) >= args.batch_size else 1
    if args.max_train_batches:
        n_batches = min(n_batches, args.max_train_batches)
    scheduler, sched_unit = _make_scheduler(opt, args, n_batches)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    LOG.info(
        "%s: %.2f M parameters, pretrained=%s, freeze_backbone=%s, %d batches/epoch",
        args.arch,
        count_parameters(net) / 1e6,
        pretrained,
        args.freeze_backbone,
        n_batches,
    )

    state = {
        "epoch": 0,
        "best_acc": -1.0,
        "best_loss": float("inf"),
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "commands": [command],
    }
    last_path = out / "last.pt"
    if args.resume:
        if not last_path.is_file():
            raise SystemExit(f"--resume: {last_path} does not exist")
        ckpt = torch.load(last_path, map_location=device, weights_only=True)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng_cpu"].cpu())
        if device.type == "cuda" and "rng_cuda" in ckpt:
            torch.cuda.set_rng_state(ckpt["rng_cuda"].cpu())
        state.update(json.loads(ckpt["state_json"]))
        state["commands"] = [*state.get("commands", ["(not recorded)"]), command]
        old_epochs = json.loads(ckpt.get("args_json", "{}")).get("epochs")
        if old_epochs is not None and old_epochs != args.epochs and args.schedule == "onecycle":
            LOG.warning(
                "resuming a %d-epoch one-cycle schedule with --epochs %d: extra epochs run at the final learning rate",
                old_epochs,
                args.epochs,
            )
        LOG.info(
            "resumed from %s after epoch %d (best val %.4f at epoch %d)",
            last_path,
            state["epoch"],
            state["best_acc"],
            state["best_epoch"],
        )

    card_path = out / f"{name}.json"
    stopped_early = False
    for epoch in range(state["epoch"] + 1, args.epochs + 1):
        if args.patience and state["bad_epochs"] >= args.patience:
            stopped_early = True
            break
        _set_train_mode(model, args.freeze_backbone)
        t_ep = time.time()
        perm = torch.randperm(len(ytr_t), device=ytr_t.device)
        seen, loss_sum, correct = 0, 0.0, 0
        for b in range(n_batches):
            idx = perm[b * args.batch_size : (b + 1) * args.batch_size]
            xb, yb = xtr_t[idx], ytr_t[idx]
            if xb.device.type != device.type:  # data kept on the host: pinned, asynchronous copy
                xb = xb.pin_memory() if device.type == "cuda" else xb
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            xb = xb.float()
            if not args.no_augment:
                xb = augment_batch(xb, tuple(args.zoom), jitter=args.jitter)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(xb)
                loss = criterion(logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if args.clip_grad > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], args.clip_grad)
            scaler.step(opt)
            scaler.update()
            if sched_unit == "step" and _can_step(scheduler):
                scheduler.step()
            seen += len(yb)
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
            if args.log_every and (b + 1) % args.log_every == 0:
                LOG.info(
                    "epoch %d batch %d/%d loss %.4f acc %.4f lr %.2e %.0f img/s",
                    epoch,
                    b + 1,
                    n_batches,
                    loss_sum / seen,
                    correct / seen,
                    opt.param_groups[-1]["lr"],
                    seen / (time.time() - t_ep),
                )
        train_s = time.time() - t_ep
        # ---- validation
        vlogits, _ = predict_logits(model, xva, args.eval_batch_size, device, max_batches=args.max_eval_batches)
        yv = torch.from_numpy(yva[: len(vlogits)])
        val_loss = F.cross_entropy(vlogits, yv).item()
        val_acc = (vlogits.argmax(1) == yv).float().mean().item()
        if sched_unit == "epoch":
            scheduler.step(val_acc)
        improved = val_acc > state["best_acc"] + 1e-9 or (
            abs(val_acc - state["best_acc"]) <= 1e-9 and val_loss < state["best_loss"]
        )
        rec = {
            "epoch": epoch,
            "train_loss": round(loss_sum / seen, 5),
            "train_acc": round(correct / seen, 5),
            "val_loss": round(val_loss, 5),
            "val_acc": round(val_acc, 5),
            "lr": opt.param_groups[-1]["lr"],
            "train_seconds": round(train_s, 1),
            "img_per_s": round(seen / train_s, 1),
        }
        state["history"].append(rec)
        LOG.info(
            "epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f%s | %.0f s (%.0f img/s)",
            epoch,
            rec["train_loss"],
            rec["train_acc"],
            val_loss,
            val_acc,
            " *best*" if improved else "",
            train_s,
            rec["img_per_s"],
        )
        if improved:
            state.update(best_acc=val_acc, best_loss=val_loss, best_epoch=epoch, bad_epochs=0)
            card = _make_card(args, name, spec, pretrained, fingerprint, state, command, len(classes))
            save_checkpoint(model, card, card_path)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        ckpt = {
            "model": net.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "state_json": json.dumps(state),
            "args_json": json.dumps(vars(args), default=str),
        }
        if device.type == "cuda":
            ckpt["rng_cuda"] = torch.cuda.get_rng_state()
        torch.save(ckpt, out / "last.pt.tmp")
        os.replace(out / "last.pt.tmp", last_path)
    else:
        stopped_early = bool(args.patience and state["bad_epochs"] >= args.patience and state["epoch"] < args.epochs)
    if stopped_early:
        LOG.info("early stopping: no val improvement for %d epochs", args.patience)
    train_seconds = time.time() - t_start
    LOG.info("best val acc %.4f at epoch %d; %.0f s", state["best_acc"], state["best_epoch"], train_seconds)

    # ---- final card + test evaluation of the best-on-validation weights
    card = _make_card(args, name, spec, pretrained, fingerprint, state, command, len(classes))
    card.training["seconds"] = round(train_seconds, 1)
    card.training["stopped_early"] = stopped_early
    best_model, loaded = load_model(card_path, device=device)
    card.weights, card.weights_sha256 = loaded.weights, loaded.weights_sha256
    result = {"card_path": str(card_path), "val_accuracy": state["best_acc"], "best_epoch": state["best_epoch"]}
    if not args.skip_test and split["test"]:
        xte, yte = load_arrays(args.data, split["test"], args.patch_size)
        if args.max_eval_batches:
            keep = args.max_eval_batches * args.eval_batch_size
            xte, yte = xte[:keep], yte[:keep]
        m = evaluate_arrays(best_model, xte, yte, card.class_names, args.eval_batch_size, device)
        record_in_card(card.metrics, "test", m, fingerprint["test"]["members_sha256"], command)
        card.metrics[f"inference_{device.type}"] = {
            **m["inference"],
            "device": str(device),
            "threads": torch.get_num_threads(),
            "command": command,
        }
        result["test_accuracy"] = m["accuracy"]
        result["metrics"] = m
        LOG.info(
            "test accuracy %.4f (n=%d), macro F1 %.4f, %.0f windows/s",
            m["accuracy"],
            m["n"],
            m["macro"]["f1"],
            m["inference"]["windows_per_second"] or 0,
        )
    card.save(card_path)
    LOG.info("wrote %s and %s", card_path, card.weights_path)
    return result


def _make_card(args, name, spec, pretrained, fingerprint, state, command, num_classes) -> ModelCard:
    data = Path(args.data)
    dataset = {"source": str(args.data), "name": data.name}
    if data.is_file():
        dataset["sha256"] = file_sha256(data)
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
        "versions": _versions(),
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


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(raw)
    if args.freeze_backbone and args.pretrained == "no":
        LOG.warning("--freeze-backbone with a random backbone trains only a linear probe")
    train(args, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
