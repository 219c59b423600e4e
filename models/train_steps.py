"""The steps of one training (models/train.py runs them in order):

set-up (device, seeds, data, model, optimiser) -> resume (optional, from ``last.pt``) -> per epoch:
train one epoch, validate, record, checkpoint (best weights + card, and ``last.pt``) -> test the
best-on-validation weights once. Device and autocast come from models/devices.py, as for the engine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .augment import augment_for_training
from .card import recipe_of
from .checkpoint import LandCoverClassifier, load_model, save_checkpoint
from .dataset import DatasetError, list_eurosat, load_arrays, split_fingerprint, stratified_split, training_classes
from .devices import autocast_dtype, place_model, require_device
from .evaluate import evaluate_arrays, predict_logits
from .metrics import record_in_card
from .radiometric_shifts import SHIFT_NAMES, apply_shift
from .registry import build_model, count_parameters, get_head, get_spec
from .train_card import make_card

LOG = logging.getLogger("eurosat_landcover.models.train")

SHORT_NAMES = {
    "tf_efficientnet_lite0": "lite0",
    "tf_efficientnet_lite1": "lite1",
    "tf_efficientnet_lite2": "lite2",
}


@dataclass
class TrainingRun:
    """Everything one training holds between its steps."""

    args: object
    command: str
    out: Path
    name: str
    device: torch.device
    dtype: Optional[torch.dtype]  # autocast dtype, None = fp32
    spec: object
    classes: list  # the class names learnt, in the model's output order: the card's classes
    split: dict
    fingerprint: dict
    xtr: torch.Tensor
    ytr: torch.Tensor
    xva: np.ndarray
    yva: np.ndarray
    pretrained: bool = False
    parent: Optional[dict] = None  # the card fine-tuned from (--init-from)
    val_shifts: dict = field(default_factory=dict)  # the last validation's accuracy per shift
    model: Optional[LandCoverClassifier] = None
    opt: Optional[torch.optim.Optimizer] = None
    scheduler: object = None
    sched_unit: str = "step"  # when the scheduler steps: "step" or "epoch"
    scaler: object = None
    criterion: Optional[nn.Module] = None
    n_batches: int = 1
    state: dict = field(default_factory=dict)

    @property
    def card_path(self) -> Path:
        return self.out / f"{self.name}.json"

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    def card(self):
        return make_card(
            self.args,
            self.name,
            self.spec,
            self.pretrained,
            self.fingerprint,
            self.state,
            self.command,
            self.classes,
            parent=self.parent,
        )


# --------------------------------------------------------------------------- set-up
def set_up(args, command: str, out: Path) -> TrainingRun:
    """Threads, device, seeds, the split and its decoded images, the model and its optimiser."""
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    device = require_device(args.device)
    use_amp = device.type == "cuda" and not args.no_amp
    dtype = autocast_dtype(device) if use_amp else None
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = args.name or f"eurosat_rgb_{SHORT_NAMES.get(args.arch, args.arch)}"
    LOG.info("command: %s", command)
    LOG.info("device %s (amp %s), torch threads %d, arch %s", device, dtype, torch.get_num_threads(), args.arch)
    run = _load_data(args, command, out, name, device, dtype)
    _build_model(run)
    run.state = {
        "epoch": 0,
        "best_acc": -1.0,
        "best_loss": float("inf"),
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "commands": [command],
    }
    return run


def _load_data(args, command, out, name, device, dtype) -> TrainingRun:
    classes = training_classes(args.data, getattr(args, "classes", None))
    unknown = [c for c in getattr(args, "texture_classes", None) or () if c not in classes]
    if unknown:
        raise DatasetError(
            f"--texture-classes {' '.join(unknown)}: not a class of this training; use names among {', '.join(classes)}"
        )
    LOG.info("%d classes: %s", len(classes), ", ".join(classes))
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
    return TrainingRun(
        args,
        command,
        out,
        name,
        device,
        dtype,
        get_spec(args.arch),
        classes,
        split,
        fingerprint,
        xtr_t,
        ytr_t,
        xva,
        yva,
    )


def _build_model(run: TrainingRun) -> None:
    args = run.args
    init_from = getattr(args, "init_from", None)
    run.pretrained = pretrained_choice(args) and not init_from
    net = build_model(args.arch, num_classes=len(run.classes), pretrained=run.pretrained)
    if init_from:
        _load_parent(net, run, init_from)
    run.model = place_model(LandCoverClassifier(net, run.spec.mean, run.spec.std), run.device)
    groups = param_groups(
        net, args.lr, args.backbone_lr_mult if run.pretrained else 1.0, args.weight_decay, args.freeze_backbone
    )
    run.opt = torch.optim.AdamW(groups, lr=args.lr)
    n = len(run.ytr)
    run.n_batches = n // args.batch_size if n >= args.batch_size else 1
    if args.max_train_batches:
        run.n_batches = min(run.n_batches, args.max_train_batches)
    run.scheduler, run.sched_unit = make_scheduler(run.opt, args, run.n_batches)
    run.scaler = torch.amp.GradScaler("cuda", enabled=run.dtype == torch.float16)
    run.criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    LOG.info(
        "%s: %.2f M parameters, pretrained=%s, freeze_backbone=%s, %d batches/epoch",
        args.arch,
        count_parameters(net) / 1e6,
        run.pretrained,
        args.freeze_backbone,
        run.n_batches,
    )


def _load_parent(net: nn.Module, run: TrainingRun, card_path: str) -> None:
    """Fine-tuning: the parent card's weights into ``net`` (same architecture and classes)."""
    parent, card = load_model(card_path, device="cpu")
    if card.architecture != run.args.arch or card.class_names != run.classes:
        raise SystemExit(f"--init-from {card_path}: it is a {card.architecture} with other classes; use --arch of it")
    net.load_state_dict(parent.net.state_dict())
    test = (card.metrics or {}).get("test") or {}
    run.parent = {
        "card": card.name,
        "path": str(card_path),
        "weights_sha256": card.weights_sha256,
        "test_accuracy": test.get("accuracy"),
    }
    LOG.info("fine-tuning from %s (weights sha256 %s)", card_path, card.weights_sha256)


def param_groups(net: nn.Module, lr: float, backbone_mult: float, weight_decay: float, freeze: bool):
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


def make_scheduler(opt, args, steps_per_epoch: int):
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


def can_step(scheduler) -> bool:
    """OneCycleLR refuses to step past its total; a resumed run with more epochs keeps the final LR."""
    total = getattr(scheduler, "total_steps", None)
    return total is None or scheduler.last_epoch + 1 < total


def pretrained_choice(args) -> bool:
    if args.pretrained == "yes":
        return True
    if args.pretrained == "no":
        return False
    return get_spec(args.arch).pretrained_available


# --------------------------------------------------------------------------- resume
def resume(run: TrainingRun) -> None:
    """Model, optimiser, scheduler, scaler, RNG and bookkeeping from ``last.pt``."""
    args, last_path = run.args, run.last_path
    if not last_path.is_file():
        raise SystemExit(f"--resume: {last_path} does not exist")
    ckpt = torch.load(last_path, map_location=run.device, weights_only=True)
    run.model.net.load_state_dict(ckpt["model"])
    run.opt.load_state_dict(ckpt["optimizer"])
    run.scheduler.load_state_dict(ckpt["scheduler"])
    run.scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng_cpu"].cpu())
    if run.device.type == "cuda" and "rng_cuda" in ckpt:
        torch.cuda.set_rng_state(ckpt["rng_cuda"].cpu())
    run.state.update(json.loads(ckpt["state_json"]))
    run.state["commands"] = [*run.state.get("commands", ["(not recorded)"]), run.command]
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
        run.state["epoch"],
        run.state["best_acc"],
        run.state["best_epoch"],
    )


# --------------------------------------------------------------------------- one epoch
def set_train_mode(model: LandCoverClassifier, freeze: bool) -> None:
    model.train()
    if freeze:  # keep backbone batch-norm statistics fixed
        head_modules = set(get_head(model.net).modules())
        for m in model.net.modules():
            if m not in head_modules:
                m.eval()


def _batch(run: TrainingRun, idx) -> tuple[torch.Tensor, torch.Tensor]:
    xb, yb = run.xtr[idx], run.ytr[idx]
    if xb.device.type != run.device.type:  # data kept on the host: pinned, asynchronous copy
        xb = xb.pin_memory() if run.device.type == "cuda" else xb
        xb, yb = xb.to(run.device, non_blocking=True), yb.to(run.device, non_blocking=True)
    xb = xb.float()
    if not run.args.no_augment:
        xb = augment_for_training(xb, yb, run.args, run.classes)
    return xb, yb


def _step(run: TrainingRun, xb, yb) -> tuple[torch.Tensor, float]:
    """One optimiser step; -> (the batch's logits, its loss)."""
    args, opt, scaler = run.args, run.opt, run.scaler
    with torch.autocast(run.device.type, dtype=run.dtype, enabled=run.dtype is not None):
        logits = run.model(xb)
        loss = run.criterion(logits.float(), yb)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if args.clip_grad > 0:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], args.clip_grad)
    scaler.step(opt)
    scaler.update()
    if run.sched_unit == "step" and can_step(run.scheduler):
        run.scheduler.step()
    return logits, loss.item()


def train_one_epoch(run: TrainingRun, epoch: int) -> dict:
    """-> {"seen", "loss", "acc", "seconds"} of the epoch's training batches."""
    args = run.args
    set_train_mode(run.model, args.freeze_backbone)
    t_ep = time.time()
    perm = torch.randperm(len(run.ytr), device=run.ytr.device)
    seen, loss_sum, correct = 0, 0.0, 0
    for b in range(run.n_batches):
        xb, yb = _batch(run, perm[b * args.batch_size : (b + 1) * args.batch_size])
        logits, loss = _step(run, xb, yb)
        seen += len(yb)
        loss_sum += loss * len(yb)
        correct += (logits.argmax(1) == yb).sum().item()
        if args.log_every and (b + 1) % args.log_every == 0:
            LOG.info(
                "epoch %d batch %d/%d loss %.4f acc %.4f lr %.2e %.0f img/s",
                epoch,
                b + 1,
                run.n_batches,
                loss_sum / seen,
                correct / seen,
                run.opt.param_groups[-1]["lr"],
                seen / (time.time() - t_ep),
            )
    return {"seen": seen, "loss": loss_sum / seen, "acc": correct / seen, "seconds": time.time() - t_ep}


# --------------------------------------------------------------------------- validate and record
def validate(run: TrainingRun) -> tuple[float, float]:
    """-> (loss, accuracy) on the validation split; steps an epoch-wise scheduler."""
    args = run.args
    vlogits, _ = predict_logits(run.model, run.xva, args.eval_batch_size, run.device, max_batches=args.max_eval_batches)
    yv = torch.from_numpy(run.yva[: len(vlogits)])
    val_loss = F.cross_entropy(vlogits, yv).item()
    val_acc = (vlogits.argmax(1) == yv).float().mean().item()
    run.val_shifts = _validate_shifts(run) if getattr(args, "val_shifts", False) else {}
    if run.sched_unit == "epoch":
        run.scheduler.step(val_acc)
    return val_loss, val_acc


def _validate_shifts(run: TrainingRun) -> dict:
    """Validation accuracy under each fixed radiometric shift (models/radiometric_shifts.py)."""
    args = run.args
    out = {}
    for name in SHIFT_NAMES:
        x = apply_shift(name, torch.from_numpy(run.xva).float(), channel_axis=1)
        logits, _ = predict_logits(run.model, x, args.eval_batch_size, run.device, max_batches=args.max_eval_batches)
        out[name] = (logits.argmax(1) == torch.from_numpy(run.yva[: len(logits)])).float().mean().item()
    return out


def selection_score(val_acc: float, shifts: dict) -> float:
    """What epochs are selected on: clean validation accuracy, or its mean with the shifted ones."""
    return (val_acc + sum(shifts.values())) / (1 + len(shifts)) if shifts else val_acc


def record_epoch(run: TrainingRun, epoch: int, trained: dict, val_loss: float, val_acc: float) -> bool:
    """The epoch in the history and the log; -> True when it is the best on validation so far."""
    state = run.state
    score = selection_score(val_acc, run.val_shifts)
    best = state.get("best_select", state["best_acc"])
    improved = score > best + 1e-9 or (abs(score - best) <= 1e-9 and val_loss < state["best_loss"])
    rec = {
        "epoch": epoch,
        "train_loss": round(trained["loss"], 5),
        "train_acc": round(trained["acc"], 5),
        "val_loss": round(val_loss, 5),
        "val_acc": round(val_acc, 5),
        "lr": run.opt.param_groups[-1]["lr"],
        "train_seconds": round(trained["seconds"], 1),
        "img_per_s": round(trained["seen"] / trained["seconds"], 1),
    }
    if run.val_shifts:
        rec["val_shifts"] = {k: round(v, 5) for k, v in run.val_shifts.items()}
        rec["val_select"] = round(score, 5)
    state["history"].append(rec)
    shifts = "".join(f" {k} {v:.4f}" for k, v in run.val_shifts.items())
    LOG.info(
        "epoch %d: train loss %.4f acc %.4f | val loss %.4f acc %.4f%s%s | %.0f s (%.0f img/s)",
        epoch,
        rec["train_loss"],
        rec["train_acc"],
        val_loss,
        val_acc,
        f" |{shifts} | select {score:.4f}" if shifts else "",
        " *best*" if improved else "",
        trained["seconds"],
        rec["img_per_s"],
    )
    if improved:
        state.update(best_acc=val_acc, best_loss=val_loss, best_epoch=epoch, bad_epochs=0)
        state.update(best_select=score, best_val_shifts=dict(run.val_shifts))
    else:
        state["bad_epochs"] += 1
    return improved


# --------------------------------------------------------------------------- checkpoint
def checkpoint(run: TrainingRun, epoch: int, improved: bool) -> None:
    """The best weights + card when the epoch improved; then the epoch counts as done and the
    full state goes to ``last.pt``."""
    if improved:
        save_checkpoint(run.model, run.card(), run.card_path)
    run.state["epoch"] = epoch
    ckpt = {
        "model": run.model.net.state_dict(),
        "optimizer": run.opt.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "state_json": json.dumps(run.state),
        "args_json": json.dumps(recipe_of(run.args)),
    }
    if run.device.type == "cuda":
        ckpt["rng_cuda"] = torch.cuda.get_rng_state()
    tmp = run.out / "last.pt.tmp"
    torch.save(ckpt, tmp)
    os.replace(tmp, run.last_path)


# --------------------------------------------------------------------------- test
def run_test(run: TrainingRun, train_seconds: float, stopped_early: bool) -> dict:
    """The final card, and the best-on-validation weights evaluated once on the test split."""
    args, device = run.args, run.device
    card = run.card()
    card.training["seconds"] = round(train_seconds, 1)
    card.training["stopped_early"] = stopped_early
    best_model, loaded = load_model(run.card_path, device=device)
    card.weights, card.weights_sha256 = loaded.weights, loaded.weights_sha256
    state = run.state
    result = {"card_path": str(run.card_path), "val_accuracy": state["best_acc"], "best_epoch": state["best_epoch"]}
    if not args.skip_test and run.split["test"]:
        xte, yte = load_arrays(args.data, run.split["test"], args.patch_size)
        if args.max_eval_batches:
            keep = args.max_eval_batches * args.eval_batch_size
            xte, yte = xte[:keep], yte[:keep]
        m = evaluate_arrays(best_model, xte, yte, card.class_names, args.eval_batch_size, device)
        record_in_card(card.metrics, "test", m, run.fingerprint["test"]["members_sha256"], run.command)
        card.metrics[f"inference_{device.type}"] = {
            **m["inference"],
            "device": str(device),
            "threads": torch.get_num_threads(),
            "command": run.command,
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
    card.save(run.card_path)
    LOG.info("wrote %s and %s", run.card_path, card.weights_path)
    return result
