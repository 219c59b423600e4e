"""Fine-tune a model card on an analyst's labelled windows, without ruining what it knew.

The examples are model inputs (N x C x p x p, 0-255 scale) and class indices of the parent card; where they
come from (edit logs, samples, vector layers) is the engine's business (core/finetune). What is trained by
default (``trainable="norm"``): the first convolution (it absorbs a change of the sensor's colour response)
and every batch-norm scale and shift (gains and offsets of the features); ``"adapt"`` adds the last stage
plus the classifier, ``"head"`` trains the classifier only, ``"all"`` every parameter. Everything else stays
frozen and batch-norm statistics are kept (the model stays in eval mode, so a batch mixing scenes never
rewrites them; ``bn_mix`` moves them once, before training: models/finetune_pseudo.py).

Safeguards: every batch mixes the analyst's examples (drawn class-balanced: their mix is no prior to learn)
with replayed EuroSAT TRAIN-split patches whose targets are the parent's own answers, part of them rendered
in the analyst's look (models/finetune_style.py), so old knowledge stays and is asked in the new colours too;
the epoch is chosen on a stratified held-out part of the analyst's examples and on EuroSAT VALIDATION-split
patches (plain and in the look; an epoch whose plain accuracy fell beyond a tolerance is never kept); early
stopping and a wall-clock limit end training. The test split is never used here. Refusals
(:class:`FinetuneError`): too few examples, too few classes, a class the parent does not know.
The recipe (:class:`Recipe`) lives in models/finetune_recipe.py; the recipes tried are in
benchmarks/results_finetune_recipes.md."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ..errors import ReadableError
from . import input_calibration as ic
from .finetune_pseudo import online_targets, pseudo_targets, reestimate_bn
from .finetune_recipe import TRAINABLE, FinetuneCancelled, Recipe, split_holdout
from .finetune_style import fit_style, render

__all__ = ["TRAINABLE", "FinetuneCancelled", "Recipe", "split_holdout"]  # re-exported: callers import them here

MIN_EXAMPLES = 10
MIN_CLASSES = 2


class FinetuneError(ReadableError, ValueError):  # ValueError: callers of the earlier releases
    """The examples cannot fine-tune this model; the message says why and what to do."""


@dataclass
class FinetuneResult:
    model: nn.Module
    history: list = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    trained_parameters: int = 0
    train_counts: dict = field(default_factory=dict)
    holdout_counts: dict = field(default_factory=dict)
    holdout_before: Optional[float] = None
    holdout_after: Optional[float] = None
    val_before: Optional[float] = None
    val_after: Optional[float] = None
    style: Optional[dict] = None
    pseudo_labelled: int = 0
    calibration: dict = field(default_factory=dict)  # the new card's input_calibration (models/input_calibration)
    calibration_fit: Optional[dict] = None  # how it was fitted (steps, held-out accuracy before/after)


def check_examples(labels: np.ndarray, class_names: list[str]) -> None:
    """Refuse (one sentence) too few examples, too few classes or an unknown class index."""
    labels = np.asarray(labels)
    bad = sorted({int(v) for v in labels if not 0 <= int(v) < len(class_names)})
    if bad:
        raise FinetuneError(f"class code(s) {bad} are not classes of this model (0..{len(class_names) - 1})")
    if len(labels) < MIN_EXAMPLES:
        raise FinetuneError(
            f"only {len(labels)} labelled example(s): fine-tuning needs at least {MIN_EXAMPLES}; label more cells"
        )
    present = sorted({int(v) for v in labels})
    if len(present) < MIN_CLASSES:
        only = ", ".join(class_names[c] for c in present)
        raise FinetuneError(
            f"every example is {only}: fine-tuning needs examples of at least {MIN_CLASSES} classes; "
            "label cells of other classes too"
        )


def counts_by_name(labels, class_names) -> dict:
    vals, n = np.unique(np.asarray(labels, np.int64), return_counts=True)
    return {class_names[int(v)]: int(k) for v, k in zip(vals, n)}


# ----------------------------------------------------------------------------- what is trained
def _last_stage(net: nn.Module) -> list[nn.Module]:
    """The last stage of the trunk and what follows it (timm EfficientNet / ResNet, torchvision)."""
    from .registry import get_head

    mods = []
    if hasattr(net, "blocks"):  # timm efficientnet family
        mods += [net.blocks[-1], getattr(net, "conv_head", None), getattr(net, "bn2", None)]
    elif hasattr(net, "layer4"):  # resnets
        mods.append(net.layer4)
    elif hasattr(net, "features"):  # vgg
        mods.append(net.features[-6:])
    mods.append(get_head(net))
    return [m for m in mods if m is not None]


def select_trainable(net: nn.Module, trainable: str) -> list[nn.Parameter]:
    """Freeze everything, then unfreeze the parameters ``trainable`` names (module docstring)."""
    from .registry import get_head

    if trainable not in TRAINABLE:
        raise FinetuneError(f"unknown choice of what to train {trainable!r}: use one of {', '.join(TRAINABLE)}")
    for p in net.parameters():
        p.requires_grad_(False)
    chosen: list[nn.Parameter] = []
    if trainable == "head":
        chosen += list(get_head(net).parameters())
    elif trainable == "all":
        chosen += list(net.parameters())
    else:
        first_conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
        chosen += list(first_conv.parameters())
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                chosen += [p for p in (m.weight, m.bias) if p is not None]
        if trainable == "adapt":
            for m in _last_stage(net):
                chosen += list(m.parameters())
    unique = list({id(p): p for p in chosen}.values())
    for p in unique:
        p.requires_grad_(True)
    return unique


# ----------------------------------------------------------------------------- replay and evaluation
def _per_class(items, per_class: int, seed: int) -> list:
    """``per_class`` of the (member, class) ``items`` of each class, a seeded choice in listing order."""
    rng = np.random.default_rng(seed)
    by_class: dict = {}
    for item in items:
        by_class.setdefault(item[1], []).append(item)
    chosen = []
    for c in sorted(by_class):
        group = by_class[c]
        take = rng.choice(len(group), size=min(per_class, len(group)), replace=False)
        chosen += [group[i] for i in sorted(take)]
    return chosen


def replay_arrays(data, per_class: int, seed: int = 0, split_seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` EuroSAT TRAIN-split patches of each class (seeded choice), decoded."""
    from .dataset import load_arrays, stratified_split

    return load_arrays(data, _per_class(stratified_split(data, seed=split_seed)["train"], per_class, seed), threads=2)


def selection_arrays(data, per_class: int, seed: int = 0, split_seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` EuroSAT VALIDATION-split patches of each class (seeded choice), decoded: they select
    the epoch (plain: what the model knew; in the analyst's look: a large proxy of their imagery)."""
    from .dataset import load_arrays, stratified_split

    return load_arrays(data, _per_class(stratified_split(data, seed=split_seed)["val"], per_class, seed), threads=2)


def predict(model: nn.Module, x, batch: int = 256) -> np.ndarray:
    """Class probabilities (N, K) of ``model`` (eval mode, no grad) for float/uint8 inputs."""
    out = []
    with torch.inference_mode():
        for s in range(0, len(x), batch):
            xb = torch.as_tensor(np.asarray(x[s : s + batch]), dtype=torch.float32)
            out.append(torch.softmax(model(xb).float(), 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def accuracy(model: nn.Module, x, y) -> Optional[float]:
    if len(y) == 0:
        return None
    return float((predict(model, x).argmax(1) == np.asarray(y)).mean())


def default_replay_data() -> Path:
    """The EuroSAT RGB zip: ``$EUROSAT_DATASETS/eurosat-rgb/EuroSAT_RGB.zip``, else the project's default."""
    import os

    from .dataset import DEFAULT_DATASET

    env = os.environ.get("EUROSAT_DATASETS")
    return Path(env) / "eurosat-rgb" / "EuroSAT_RGB.zip" if env else Path(DEFAULT_DATASET)


def eurosat_test_arrays(data, split_seed: int = 42, every: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The EuroSAT TEST split (seeded, as the bundled model's card), decoded; ``every`` > 1 takes every
    n-th patch (quick checks; the card records how many were measured)."""
    from .dataset import load_arrays, stratified_split

    return load_arrays(data, stratified_split(data, seed=split_seed)["test"][:: max(1, every)], threads=2)


# ----------------------------------------------------------------------------- training
def _augment(x: torch.Tensor) -> torch.Tensor:
    """The 8 dihedral transforms (overhead imagery has no 'up'); radiometry untouched: the analyst's
    imagery is what the model must learn."""
    from .augment import augment_batch

    return augment_batch(x, zoom=(0.9, 1.0), zoom_p=0.3, jitter=0.0)


def _targets(y: torch.Tensor, k: int, smoothing: float) -> torch.Tensor:
    """Label-smoothed one-hot target distributions (n, k)."""
    t = torch.full((len(y), k), smoothing / k)
    t[torch.arange(len(y)), y] += 1.0 - smoothing
    return t


def finetune(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    replay: tuple[np.ndarray, np.ndarray],
    recipe: Optional[Recipe] = None,
    progress: Optional[Callable[[float, str], None]] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
    selection: Optional[tuple[np.ndarray, np.ndarray]] = None,
    unlabelled: Optional[np.ndarray] = None,
) -> FinetuneResult:
    """Fine-tune a copy of ``model`` (a LandCoverClassifier on the CPU) on the examples ``x`` (N, C, p, p,
    0-255), ``y`` (class indices) with ``replay`` (EuroSAT train patches, labels); ``selection`` (EuroSAT
    validation patches, labels; :func:`selection_arrays`) helps choose the epoch; ``unlabelled`` (windows of the
    analyst's image, as ``x``) feed the recipe's semi-supervised parts (models/finetune_pseudo.py); see the
    module docstring."""
    recipe = recipe or Recipe()
    names = list(model.card.class_names) if getattr(model, "card", None) else [str(i) for i in range(1000)]
    y = np.asarray(y, np.int64)
    check_examples(y, names)
    t0, c0 = time.perf_counter(), time.process_time()
    old_threads = torch.get_num_threads()
    if recipe.threads:
        torch.set_num_threads(int(recipe.threads))
    try:
        x = np.asarray(x, np.float32)
        fit, calibration = None, dict(getattr(getattr(model, "card", None), "input_calibration", None) or {})
        if recipe.calibration != "off":
            fit = ic.fit_for_recipe(model, x, y, replay, recipe, is_cancelled, unlabelled)
            calibration = fit.calibration
        plain = model.without_calibration() if getattr(model, "calibration", None) is not None else model
        x, u = ic.apply(calibration, x), None if unlabelled is None else ic.apply(calibration, unlabelled)
        sel = selection if selection is not None else (np.zeros((0, *np.shape(x)[1:]), np.uint8), np.zeros(0, np.int64))
        u = np.zeros((0, *np.shape(x)[1:]), np.float32) if u is None else np.asarray(u, np.float32)
        if recipe.epochs > 0:
            res = _train(plain, x, y, replay, sel, u, recipe, names, (progress, is_cancelled), t0)
        else:
            res = _calibrated_only(plain, y, recipe, names, t0)
        _attach(res, calibration, fit, len(model.mean.view(-1)))
        res.cpu_seconds = time.process_time() - c0  # this process's CPU time (all threads): fair on a shared CPU
        return res
    finally:
        torch.set_num_threads(old_threads)


class _Selector:
    """Scores an epoch on the held-out analyst examples, held-out replay (plain and in the analyst's look)
    and, with ``select_on_image``, its agreement with the pseudo-labels of the image's windows; keeps the
    best epoch whose plain replay accuracy has not fallen more than the tolerance."""

    def __init__(self, model, hold, val, style, recipe, image=None):
        self.hold, self.recipe, self.image = hold, recipe, image
        self.rx, self.ry = val
        self.sx = None if style is None or not len(self.ry) else render(style, torch.as_tensor(self.rx).float())
        self.best, self.bad, self.state, self.epoch = None, 0, copy.deepcopy(model.net.state_dict()), 0
        self.before = self.measure(model)
        self.best = self.key(self.before)

    def measure(self, model) -> dict:
        out = {}
        if len(self.hold[1]):
            out["holdout_accuracy"] = accuracy(model, *self.hold)
        if len(self.ry):
            out["eurosat_val_accuracy"] = accuracy(model, self.rx, self.ry)
        if self.sx is not None:
            out["eurosat_val_look_accuracy"] = accuracy(model, self.sx, self.ry)
        if self.image is not None and len(self.image[1]):
            out["image_agreement"] = accuracy(model, *self.image)
        return out

    def key(self, m: dict) -> float:
        parts = [m[k] for k in ("holdout_accuracy", "eurosat_val_look_accuracy", "image_agreement") if k in m]
        return float(np.mean(parts)) if parts else 0.0

    def update(self, model, epoch: int) -> dict:
        m = self.measure(model)
        floor = self.before.get("eurosat_val_accuracy", 0.0) - self.recipe.selection_tolerance
        ok = m.get("eurosat_val_accuracy", 1.0) >= floor
        if ok and self.key(m) >= self.best:  # a tie goes to the later, more adapted epoch
            self.bad = 0 if self.key(m) > self.best else self.bad + 1
            self.best, self.epoch, self.state = self.key(m), epoch, copy.deepcopy(model.net.state_dict())
        else:
            self.bad += 1
        return {k: round(v, 4) for k, v in m.items()}


class _Batches:
    """Each step's batch: the analyst's examples, replay (part in the analyst's look) and, with
    ``pseudo_batch``, pseudo-labelled windows of their image (models/finetune_pseudo.py)."""

    def __init__(self, model, x, y, replay, unlabelled, recipe, k, rng):
        self.recipe, self.rng, self.k = recipe, rng, k
        self.xa, self.pa = torch.as_tensor(x), _draw_weights(y, recipe.balanced)
        self.ta = _targets(torch.as_tensor(y), k, recipe.label_smoothing)
        self.xr, yr = replay
        self.tr = _targets(torch.as_tensor(yr), k, recipe.label_smoothing)
        if recipe.distill > 0:  # the parent's answers on the replay patches, computed once
            self.tr = (1 - recipe.distill) * self.tr + recipe.distill * torch.as_tensor(predict(model, self.xr))
        self.u = unlabelled
        self.pidx, self.plab, self.pt = np.zeros(0, np.int64), np.zeros(0, np.int64), None
        if len(unlabelled) and (recipe.pseudo_batch > 0 or recipe.look_from_pseudo) and not recipe.pseudo_online:
            self.pidx, self.plab, self.pt = pseudo_targets(model, unlabelled, recipe, rng)
        self.style = None
        if recipe.look_share > 0:
            sx, sy = x, y
            if recipe.look_from_pseudo and len(self.pidx):
                sx, sy = np.concatenate([x, unlabelled[self.pidx]]), np.concatenate([y, self.plab])
            self.style = fit_style(sx, sy, self.xr, yr, seed=recipe.seed)
        self.n_look = int(round(recipe.look_share * recipe.batch_replay)) if self.style is not None else 0

    def draw(self, model) -> tuple[torch.Tensor, torch.Tensor]:
        r, rng = self.recipe, self.rng
        ia = rng.choice(len(self.xa), r.batch_analyst, p=self.pa)
        ir = rng.integers(0, len(self.xr), r.batch_replay)
        xrb = torch.as_tensor(self.xr[ir]).float()
        if self.n_look:
            xrb[: self.n_look] = render(self.style, xrb[: self.n_look])
        xs, ts = [self.xa[ia].float(), xrb], [self.ta[ia], self.tr[ir]]
        if r.pseudo_batch > 0 and r.pseudo_online and len(self.u):
            xu = torch.as_tensor(self.u[rng.integers(0, len(self.u), r.pseudo_batch)])
            cls, sure = online_targets(model, xu, r.pseudo_threshold)
            xs.append(xu[sure])
            ts.append(_targets(cls[sure], self.k, r.label_smoothing))
        elif r.pseudo_batch > 0 and len(self.pidx):
            j = rng.integers(0, len(self.pidx), r.pseudo_batch)
            xs.append(torch.as_tensor(self.u[self.pidx[j]]))
            ts.append(self.pt[j])
        return torch.cat(xs), torch.cat(ts)


def _train(model, x, y, replay, selection, unlabelled, recipe, names, callbacks, t0) -> FinetuneResult:
    progress, is_cancelled = callbacks
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    tr, ho = split_holdout(y, recipe.holdout_fraction, recipe.seed)
    model = copy.deepcopy(model).to("cpu").eval()  # eval: batch-norm statistics stay as they were
    params = select_trainable(model.net, recipe.trainable)
    opt = _optimizer(model.net, params, recipe)
    batches = _Batches(model, x[tr], y[tr], replay, unlabelled, recipe, len(names), rng)
    res = FinetuneResult(model=model, trained_parameters=int(sum(p.numel() for p in params)))
    res.train_counts, res.holdout_counts = counts_by_name(y[tr], names), counts_by_name(y[ho], names)
    res.style = None if batches.style is None else batches.style.to_dict()
    res.pseudo_labelled = int(len(batches.pidx))
    image = (batches.u[batches.pidx], batches.plab) if recipe.select_on_image else None
    sel = _Selector(model, (x[ho], y[ho]), selection, batches.style, recipe, image)  # "before": the parent
    res.holdout_before, res.val_before = sel.before.get("holdout_accuracy"), sel.before.get("eurosat_val_accuracy")
    if recipe.bn_mix > 0:
        reestimate_bn(model, unlabelled, recipe.bn_mix, rng)
    for epoch in range(1, recipe.epochs + 1):
        for _ in range(recipe.steps_per_epoch):
            if is_cancelled is not None and is_cancelled():
                raise FinetuneCancelled("fine-tuning cancelled")
            xb, tb = batches.draw(model)
            loss = -(tb * torch.log_softmax(model(_augment(xb)).float(), 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        entry = {"epoch": epoch, "train_loss": round(float(loss.detach()), 4)}
        entry.update(sel.update(model, epoch), seconds=round(time.perf_counter() - t0, 1))
        res.history.append(entry)
        if progress is not None:
            progress(epoch / recipe.epochs, f"epoch {epoch}: held-out {entry.get('holdout_accuracy', '-')}")
        if sel.bad >= recipe.patience:
            res.stopped = f"early stop: no better held-out score for {recipe.patience} epochs"
            break
        if time.perf_counter() - t0 > recipe.time_limit_s:
            res.stopped = f"time limit of {recipe.time_limit_s:g} s reached"
            break
    else:
        res.stopped = f"all {recipe.epochs} epochs"
    model.net.load_state_dict(sel.state)
    for p in model.parameters():
        p.requires_grad_(False)
    res.best_epoch = sel.epoch
    best = res.history[sel.epoch - 1] if sel.epoch else sel.before
    res.holdout_after, res.val_after = best.get("holdout_accuracy"), best.get("eurosat_val_accuracy")
    res.seconds = time.perf_counter() - t0
    return res


def _calibrated_only(model, y, recipe, names, t0) -> FinetuneResult:
    """No weight trained (``epochs`` 0): the parent's network unchanged, the calibration its only change."""
    tr, ho = split_holdout(y, recipe.holdout_fraction, recipe.seed)
    res = FinetuneResult(model=copy.deepcopy(model).to("cpu").eval(), stopped="no weights trained (epochs 0)")
    res.train_counts, res.holdout_counts = counts_by_name(y[tr], names), counts_by_name(y[ho], names)
    res.seconds = time.perf_counter() - t0
    return res


def _attach(res: FinetuneResult, calibration: dict, fit, bands: int) -> None:
    """The calibration goes into the fine-tuned model (LandCoverClassifier applies it before the network);
    the held-out figures "before" are the parent's on the analyst's windows as they are."""
    res.calibration = dict(calibration or {})
    res.model.calibration = ic.module_for(res.calibration, bands)
    for p in res.model.parameters():
        p.requires_grad_(False)
    if fit is not None:
        keys = ("steps", "best_step", "holdout_before", "holdout_after", "train_before", "train_after",
                "holdout_loss_before", "holdout_loss_after", "rejected", "pseudo_labelled")  # fmt: skip
        res.calibration_fit = {k: getattr(fit, k) for k in keys}
        res.holdout_before = fit.holdout_before
        res.pseudo_labelled = res.pseudo_labelled or fit.pseudo_labelled
        if res.holdout_after is None:
            res.holdout_after = fit.holdout_after


def _draw_weights(labels: np.ndarray, balanced: bool) -> np.ndarray:
    """Probabilities of drawing each example: uniform, or each class equally likely (``balanced``)."""
    if not balanced:
        return np.full(len(labels), 1.0 / len(labels))
    _vals, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    return w / w.sum()


def _optimizer(net, params, recipe):
    """AdamW; no weight decay on scales and biases; the trunk's parameters at ``trunk_lr`` x the rate."""
    head = {id(p) for p in _last_stage_params(net)}
    groups = {}
    for p in params:
        key = (p.ndim > 1, id(p) in head)
        groups.setdefault(key, []).append(p)
    return torch.optim.AdamW(
        [
            {
                "params": ps,
                "weight_decay": recipe.weight_decay if decay else 0.0,
                "lr": recipe.lr * (1.0 if is_head else recipe.trunk_lr),
            }
            for (decay, is_head), ps in groups.items()
        ],
        lr=recipe.lr,
    )


def _last_stage_params(net) -> list:
    return [p for m in _last_stage(net) for p in m.parameters()]


def save_finetuned(result: FinetuneResult, parent_card, out_card: Path, name: str, record: dict) -> Path:
    """The fine-tuned weights + a new card (parent, examples, recipe, figures) at ``out_card``."""
    from .card import ModelCard
    from .checkpoint import save_checkpoint

    d = parent_card.to_dict()
    # weights and checksum are placeholders here: save_checkpoint writes the file and fills both
    weights = Path(out_card).with_suffix(".safetensors").name
    d.update(name=name, title=f"{parent_card.title} — fine-tuned ({name})", weights=weights, weights_sha256="0" * 64)
    d["input_calibration"] = dict(result.calibration or {})
    if d["input_calibration"]:
        d["description"] = (
            f"{parent_card.description} Fine-tuned for one analyst's imagery: its input_calibration maps that "
            "imagery into EuroSAT's look before the network (models/input_calibration.py). metrics.test_accuracy "
            "is the EuroSAT test split as the network sees EuroSAT imagery, without the calibration; "
            "metrics.eurosat_test.after_through_calibration is what the calibration does to EuroSAT imagery."
        ).strip()
    d["training"] = {"fine_tuned_from": record.pop("parent"), **record}
    d["metrics"] = record.get("metrics", {})
    card = ModelCard.from_dict(d)
    return save_checkpoint(result.model, card, out_card)
