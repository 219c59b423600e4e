"""Input calibration: a small colour transform, carried by a model card, that maps an analyst's imagery into
the look the network was trained on, applied to every window before the network.

An analyst's imagery differs from EuroSAT mostly in its colour response (sensor, atmosphere, processing); a
fine-tuned card may record that response's inverse as ``input_calibration``::

    x' = clip(M clip(pre_gain x / 255 + pre_offset, eps, 1) ** gamma + offset, 0, 1) * 255

(per pixel; M: bands x bands; pre_gain, pre_offset, gamma, offset: per band; pre_gain and pre_offset are
optional, 1 and 0). It holds the exact inverse of a sensor response ``clip(A x) ** g * k + o`` (the analyst's
look of models/finetune_style.py: pre_gain 1/k, pre_offset -o/k, gamma 1/g, M = A^-1).

:class:`InputCalibration` is that transform as a module; ``models.checkpoint.LandCoverClassifier`` applies it
in its ``forward`` before the card's normalisation, so every path that runs the model the card builds (the
engine's windows and map modes, its traced graph, the inspector, Grad-CAM) sees calibrated windows. A card
without ``input_calibration`` builds the model exactly as before (no module, the same forward).

:func:`fit_calibration` fits the parameters by gradient through the frozen network: cross-entropy on the
analyst's labelled windows, started at the identity, the step kept on a held-out part of them (early
stopping), and a pull towards the identity so that a few labels cannot bend every colour; the network's
weights are never touched. No core/ imports (models/ points down only).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torch import nn

from .card import CALIBRATION_GAMMA_RANGE, CALIBRATION_LIMIT

GAMMA_RANGE = CALIBRATION_GAMMA_RANGE  # the fit keeps its parameters where a card accepts them
MATRIX_LIMIT = CALIBRATION_LIMIT


class InputCalibration(nn.Module):
    """The transform of the module docstring on float N x C x H x W windows on the 0-255 scale."""

    def __init__(self, bands: int, d: Optional[dict] = None):
        super().__init__()
        d = d or {}
        eye = np.eye(bands)
        self.matrix = nn.Parameter(torch.as_tensor(np.asarray(d.get("matrix", eye)), dtype=torch.float32))
        gamma = np.asarray(d.get("gamma", np.ones(bands)), np.float64)
        self.log_gamma = nn.Parameter(torch.as_tensor(np.log(gamma), dtype=torch.float32))
        self.offset = nn.Parameter(torch.as_tensor(np.asarray(d.get("offset", np.zeros(bands))), dtype=torch.float32))
        self.pre_gain = nn.Parameter(
            torch.as_tensor(np.asarray(d.get("pre_gain", np.ones(bands))), dtype=torch.float32)
        )
        self.pre_offset = nn.Parameter(
            torch.as_tensor(np.asarray(d.get("pre_offset", np.zeros(bands))), dtype=torch.float32)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.float() / 255.0 * self.pre_gain.view(1, -1, 1, 1) + self.pre_offset.view(1, -1, 1, 1)
        y = y.clamp(1e-4, 1.0) ** self.log_gamma.exp().view(1, -1, 1, 1)
        y = torch.einsum("ij,njhw->nihw", self.matrix, y) + self.offset.view(1, -1, 1, 1)
        return y.clamp(0.0, 1.0) * 255.0

    def to_dict(self) -> dict:
        return {
            "matrix": np.round(self.matrix.detach().double().numpy(), 5).tolist(),
            "gamma": np.round(self.log_gamma.detach().double().exp().numpy(), 5).tolist(),
            "offset": np.round(self.offset.detach().double().numpy(), 5).tolist(),
            "pre_gain": np.round(self.pre_gain.detach().double().numpy(), 5).tolist(),
            "pre_offset": np.round(self.pre_offset.detach().double().numpy(), 5).tolist(),
        }

    def distance_from(self, start: dict) -> torch.Tensor:
        """Squared distance of the parameters from ``start`` (a state dict; the fit's pull towards it)."""
        return sum(((p - start[k]) ** 2).sum() for k, p in self.named_parameters())


def is_identity(d: Optional[dict], tolerance: float = 1e-6) -> bool:
    """True for no calibration and for one that leaves every colour as it is (within ``tolerance``)."""
    if not d:
        return True
    bands = len(d["gamma"])
    same = {"matrix": np.eye(bands), "gamma": 1.0, "offset": 0.0, "pre_gain": 1.0, "pre_offset": 0.0}
    return all(np.allclose(np.asarray(d[k], np.float64), v, rtol=0, atol=tolerance) for k, v in same.items() if k in d)


def module_for(d: Optional[dict], bands: int) -> Optional[InputCalibration]:
    """The frozen module of a card's ``input_calibration``, or None for none (``{}``) or an identity one:
    the model then runs exactly as a card without one."""
    if is_identity(d):
        return None
    m = InputCalibration(bands, d)
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()


# ----------------------------------------------------------------------------- fitting
@dataclass
class CalibrationFit:
    """What :func:`fit_calibration` found: the card's ``input_calibration`` and how it was chosen."""

    calibration: dict
    steps: int = 0
    best_step: int = 0
    holdout_before: Optional[float] = None
    holdout_after: Optional[float] = None
    train_before: Optional[float] = None
    train_after: Optional[float] = None
    history: list = field(default_factory=list)
    rejected: str = ""  # why the fitted calibration was not kept (the card then has the parent's: usually none)
    holdout_loss_before: Optional[float] = None  # the held-out labels' mean cross-entropy without / with it
    holdout_loss_after: Optional[float] = None
    pseudo_labelled: int = 0  # windows of the analyst's image the look was fitted on too (``look_from_pseudo``)


def _logits(net: nn.Module, calib: InputCalibration, x: torch.Tensor) -> torch.Tensor:
    return net(calib(x)).float()


def _accuracy(net, calib, x, y) -> Optional[float]:
    if len(y) == 0:
        return None
    with torch.no_grad():
        return float((_logits(net, calib, x).argmax(1) == y).float().mean())


def _loss(net, calib, x, y) -> float:
    with torch.no_grad():
        return float(nn.functional.cross_entropy(_logits(net, calib, x), y))


def fit_calibration(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    holdout: Optional[tuple[np.ndarray, np.ndarray]] = None,
    *,
    steps: int = 60,
    lr: float = 0.02,
    pull: float = 0.001,
    batch: int = 64,
    patience: int = 15,
    seed: int = 0,
    is_cancelled=None,
    init: Optional[dict] = None,
    image: Optional[np.ndarray] = None,
    image_weight: float = 1.0,
    select: str = "last",
) -> CalibrationFit:
    """Fit an :class:`InputCalibration` for ``model`` (a LandCoverClassifier without one, kept frozen and in
    eval mode) on windows ``x`` (N, C, p, p, 0-255) of classes ``y``: Adam on the cross-entropy + ``pull`` x
    the distance from the identity, started at the identity; the step kept is the one with the best held-out
    cross-entropy (``holdout``: windows, classes; none: the training loss), stopping after ``patience``
    steps without a better one. ``init``: where to start instead of the identity (e.g. :func:`from_look`),
    also what the pull pulls towards. ``image``: unlabelled windows of the analyst's image; ``image_weight``
    x :func:`_statistics_misfit` (their first-layer feature statistics against the network's) joins the loss."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    bands = int(np.shape(x)[1])
    model_calibrated = getattr(model, "calibration", None) is not None
    net = model.without_calibration() if model_calibrated else model
    req = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    calib = InputCalibration(bands, init)
    start = {k: v.detach().clone() for k, v in calib.state_dict().items()}
    xt, yt = torch.as_tensor(np.asarray(x, np.float32)), torch.as_tensor(np.asarray(y, np.int64))
    if holdout is not None and len(holdout[1]):
        xh, yh = torch.as_tensor(np.asarray(holdout[0], np.float32)), torch.as_tensor(np.asarray(holdout[1], np.int64))
    else:
        xh, yh = xt, yt
    first = first_layer(net.net) if image is not None and len(image) else None
    xi = torch.as_tensor(np.asarray(image, np.float32)) if first is not None else None
    opt = torch.optim.Adam(calib.parameters(), lr=lr)
    parent = model.calibration if model_calibrated else InputCalibration(bands)  # as the parent sees them
    fit = CalibrationFit(calibration={}, train_before=_accuracy(net, parent, xt, yt))
    fit.holdout_before = _accuracy(net, parent, xh, yh) if holdout is not None else None
    best, best_state, bad = _loss(net, calib, xh, yh), copy.deepcopy(calib.state_dict()), 0
    try:
        for step in range(1, steps + 1):
            if is_cancelled is not None and is_cancelled():
                from .finetune_recipe import FinetuneCancelled

                raise FinetuneCancelled("fine-tuning cancelled")
            idx = rng.choice(len(yt), size=min(batch, len(yt)), replace=False)
            loss = nn.functional.cross_entropy(_logits(net, calib, xt[idx]), yt[idx])
            loss = loss + pull * calib.distance_from(start)
            if xi is not None:
                batch_i = xi[rng.choice(len(xi), size=min(batch, len(xi)), replace=False)]
                loss = loss + image_weight * _statistics_misfit(net, first, calib(batch_i))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                calib.log_gamma.clamp_(math.log(GAMMA_RANGE[0]), math.log(GAMMA_RANGE[1]))
                calib.matrix.clamp_(-MATRIX_LIMIT, MATRIX_LIMIT)
                for p in (calib.offset, calib.pre_gain, calib.pre_offset):
                    p.clamp_(-MATRIX_LIMIT, MATRIX_LIMIT)
            held = _loss(net, calib, xh, yh)
            fit.history.append(
                {"step": step, "train_loss": round(float(loss.detach()), 4), "holdout_loss": round(held, 4)}
            )
            fit.steps = step
            if select == "last" or held < best - 1e-4:
                best, best_state, bad, fit.best_step = held, copy.deepcopy(calib.state_dict()), 0, step
            else:
                bad += 1
                if bad >= patience:
                    break
    finally:
        for p, r in zip(model.parameters(), req):
            p.requires_grad_(r)
    calib.load_state_dict(best_state)
    fit.calibration = calib.to_dict() if fit.best_step or init else {}
    final = module_for(fit.calibration, bands) or InputCalibration(bands)
    fit.train_after = _accuracy(net, final, xt, yt)
    fit.holdout_after = _accuracy(net, final, xh, yh) if holdout is not None else None
    if holdout is not None and len(yh):
        fit.holdout_loss_before, fit.holdout_loss_after = _loss(net, parent, xh, yh), _loss(net, final, xh, yh)
    # the guard: the held-out labels' cross-entropy (their accuracy moves by whole examples: one of 39 lost
    # dropped a calibration that won on every other measure, benchmarks/results_finetune_recipes.md)
    if fit.holdout_loss_after is not None and fit.holdout_loss_after > fit.holdout_loss_before:
        fit.rejected = "the held-out labels' cross-entropy rose through it"
        kept = dict(model.card.input_calibration) if model_calibrated else {}  # the parent's (none: none)
        fit.calibration, fit.holdout_after, fit.train_after = kept, fit.holdout_before, fit.train_before
    return fit


def first_layer(net: nn.Module):
    """(the first convolution, the batch norm after it) of a network, or None where the first batch norm does
    not take that convolution's channels."""
    conv = next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)
    bn = next((m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)), None)
    if conv is None or bn is None or bn.running_mean is None or bn.num_features != conv.out_channels:
        return None
    return conv, bn


def _statistics_misfit(model, first, x: torch.Tensor) -> torch.Tensor:
    """How far the first layer's feature statistics on windows ``x`` (already calibrated, 0-255) lie from the
    statistics the network learnt (the batch norm's running mean and variance): the image's look, measured
    where the network first sees it (what the image's own batch-norm statistics repair, without touching them)."""
    conv, bn = first
    f = conv((x - model.mean) / model.std)
    mu, var = f.mean((0, 2, 3)), f.var((0, 2, 3))
    rv = bn.running_var + bn.eps
    return (((mu - bn.running_mean) ** 2) / rv).mean() + (torch.log((var + bn.eps) / rv) ** 2).mean()


def from_look(look: dict) -> dict:
    """The calibration that undoes an analyst's look (models/finetune_style.Style.to_dict(): EuroSAT colours
    -> theirs, ``clip(A x) ** g * k + o``): pre_gain 1/k, pre_offset -o/k, gamma 1/g, M = A^-1."""
    a = np.asarray(look["matrix"], np.float64)
    g, k, o = (np.asarray(look[key], np.float64) for key in ("gamma", "gain", "offset"))
    d = {
        "matrix": np.linalg.inv(a),
        "gamma": np.clip(1.0 / g, *GAMMA_RANGE),
        "offset": np.zeros(len(g)),
        "pre_gain": 1.0 / k,
        "pre_offset": -o / k,
    }
    return {key: np.clip(np.round(v, 5), -MATRIX_LIMIT, MATRIX_LIMIT).tolist() for key, v in d.items()}


# ----------------------------------------------------------------------------- the INT8 path
class CalibratedModule(nn.Module):
    """``module`` (e.g. the INT8 network of the uncalibrated model) behind the card's calibration."""

    def __init__(self, calibration: InputCalibration, module):
        super().__init__()
        self.calibration = calibration
        self.module = module
        self.mean = getattr(module, "mean", None)  # map mode fills nodata with it (core/stages/run_map.py)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(self.calibration(x))


def uncalibrated(model):
    """``model`` (eager or lazy, models/lazy_model.py) as it runs without its card's input calibration: the
    same verified network, and a card without ``input_calibration`` (the caches key it as the parent's)."""
    from dataclasses import replace

    from .graph_cache import _verified, register_verified
    from .lazy_model import LazyClassifier, materialise

    card = replace(model.card, input_calibration={})
    plain = LazyClassifier(card, getattr(model, "device", None), lambda: materialise(model).without_calibration())
    register_verified(plain, _verified.get(model, ""))
    return plain


def prepare_int8(model, bands: int, patch: int, prepare=None):
    """models/int8_path.prepare (or ``prepare``: a map model's, models/int8_map.prepare) for ``model``; with an
    input calibration, the INT8 network of the model without it (quantized on EuroSAT patches: the look the
    calibration maps to) behind the calibration."""
    if prepare is None:
        from .int8_path import prepare

    calibration = getattr(getattr(model, "card", None), "input_calibration", None)
    if is_identity(calibration):
        return prepare(model, bands, patch)
    module, report = prepare(uncalibrated(model), bands, patch)
    if not report.used:
        return model, report
    return CalibratedModule(module_for(calibration, bands), module).eval(), report


# ----------------------------------------------------------------------------- in a fine-tuning
def fit_for_recipe(model, x, y, replay, recipe, is_cancelled=None, image=None) -> CalibrationFit:
    """The input calibration ``recipe.calibration`` asks for ("look" or "fit", module docstring), from the
    same training / held-out split of the analyst's windows as the weights use (finetune_recipe.split_holdout);
    the held-out windows guard it (:func:`fit_calibration`). "look": the inverse of the look fitted from the
    training windows and the EuroSAT ``replay`` patches of the same classes, no gradient step; with
    ``recipe.look_from_pseudo``, also from the windows of the analyst's ``image`` (unlabelled, as ``x``) that the
    parent is sure of (:func:`look_examples`); "fit": from the parent's calibration (none: the identity),
    ``calibration_steps`` steps through the frozen network."""
    from .finetune_recipe import split_holdout
    from .finetune_style import fit_style

    y = np.asarray(y, np.int64)
    tr, ho = split_holdout(y, recipe.holdout_fraction, recipe.seed)
    init = dict(getattr(getattr(model, "card", None), "input_calibration", None) or {}) or None
    steps, pseudo = recipe.calibration_steps, 0
    if recipe.calibration == "look":
        sx, sy, pseudo = look_examples(model, x[tr], y[tr], image if recipe.look_from_pseudo else None, recipe)
        init, steps = from_look(fit_style(sx, sy, *replay, seed=recipe.seed).to_dict()), 0
    fit = fit_calibration(
        model, x[tr], y[tr], (x[ho], y[ho]), steps=steps, lr=recipe.calibration_lr, pull=recipe.calibration_pull,
        seed=recipe.seed, is_cancelled=is_cancelled, init=init,
    )  # fmt: skip
    fit.pseudo_labelled = pseudo
    return fit


def look_examples(model, x, y, image, recipe) -> tuple[np.ndarray, np.ndarray, int]:
    """(windows, classes, how many are pseudo-labelled) the analyst's look is fitted on: their labelled windows
    and, given the ``image``'s windows, those the parent is sure of with its class (finetune_pseudo.pseudo_targets:
    ``pseudo_threshold``). The labels are where the parent is least sure, an unusual sample of each class's
    colours; the image's sure windows add its ordinary ones (benchmarks/results_finetune_recipes.md)."""
    if image is None or not len(image):
        return x, y, 0
    from .finetune_pseudo import pseudo_targets

    keep, cls, _targets = pseudo_targets(model, image, recipe, np.random.default_rng(recipe.seed))
    if not len(keep):
        return x, y, 0
    return np.concatenate([x, np.asarray(image[keep], np.float32)]), np.concatenate([y, cls]), int(len(keep))


def apply(calibration: Optional[dict], x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Windows (N, C, p, p, 0-255) as the network sees them through ``calibration`` (none: unchanged)."""
    m = module_for(calibration, int(np.shape(x)[1]))
    if m is None:
        return x
    with torch.no_grad():
        return np.concatenate(
            [m(torch.as_tensor(np.asarray(x[s : s + batch], np.float32))).numpy() for s in range(0, len(x), batch)]
        ) if len(x) else np.asarray(x, np.float32)  # fmt: skip
