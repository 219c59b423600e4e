"""Semi-supervised help for fine-tuning: the analyst's own image beyond their few labels.

The image the analyst labelled holds thousands of windows the engine reads (core/finetune reads them on the
engine's grid). Three uses, each a field of :class:`models.finetune_recipe.Recipe`:

- **pseudo-labels** (``pseudo_batch`` windows per step): the windows a model is sure of (``pseudo_threshold``
  on its probability, optionally averaged over dihedral views) are trained on with that class, so every class is
  seen in the analyst's colours, in the image's own mix, not only the few least-sure labelled windows.
  ``pseudo_online`` (FixMatch-style): the targets come from the model being trained, on the plain window,
  and the loss is taken on an augmented view; otherwise they are the parent's, fixed before training;
- **batch-norm statistics** (``bn_mix``): re-estimated from batches mixing that share of the image's windows
  with EuroSAT replay patches (0: the parent's statistics are kept);
- the analyst's look (models/finetune_style.py) fitted on the labelled and the pseudo-labelled windows.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

DIHEDRAL = [(k, f) for f in (False, True) for k in range(4)]


def _views(x: torch.Tensor) -> list[torch.Tensor]:
    return [torch.rot90(x.flip(-1) if f else x, k, (-2, -1)) for k, f in DIHEDRAL]


def tta_probabilities(model: nn.Module, x: np.ndarray, views: int = 8, batch: int = 128) -> np.ndarray:
    """Class probabilities of ``model`` averaged over the first ``views`` of the 8 dihedral views (N, K)."""
    out = []
    with torch.inference_mode():
        for s in range(0, len(x), batch):
            xb = torch.as_tensor(np.asarray(x[s : s + batch]), dtype=torch.float32)
            p = sum(torch.softmax(model(v).float(), 1) for v in _views(xb)[: max(1, views)]) / max(1, views)
            out.append(p.numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def pseudo_targets(model: nn.Module, x: np.ndarray, recipe, rng) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """(indices, classes, target distributions) of the image's windows ``x`` to train on, from the teacher
    ``recipe.pseudo_teacher`` names: ``"parent"`` as it is, or ``"image_bn"``, the parent with batch-norm
    statistics of the image itself (it sees the image's look as EuroSAT's; a teacher only, never kept).
    ``pseudo_soft``: every window, with the teacher's probabilities; else the windows it is sure of
    (``pseudo_threshold``), with its class (label-smoothed)."""
    teacher = model
    if recipe.pseudo_teacher == "image_bn":
        teacher = copy.deepcopy(model)
        reestimate_bn(teacher, x, 1.0, rng)
    p = tta_probabilities(teacher, x, recipe.pseudo_views)
    if len(p) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), torch.zeros(0, 0)
    if recipe.pseudo_soft:
        return np.arange(len(x)), p.argmax(1).astype(np.int64), torch.as_tensor(p)
    keep = np.flatnonzero(p.max(1) >= recipe.pseudo_threshold)
    cls = p[keep].argmax(1).astype(np.int64)
    k, eps = p.shape[1], recipe.label_smoothing
    t = torch.full((len(keep), k), eps / k)
    t[torch.arange(len(keep)), torch.as_tensor(cls)] += 1.0 - eps
    return keep, cls, t


def online_targets(model: nn.Module, x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """FixMatch's targets: (class, mask) of the model's answer on the plain windows where it is sure."""
    with torch.no_grad():
        p = torch.softmax(model(x).float(), 1)
    conf, cls = p.max(1)
    return cls, conf >= threshold


def reestimate_bn(model: nn.Module, image_x: np.ndarray, share: float, rng, batches: int = 16,
                  batch: int = 64) -> None:  # fmt: skip
    """Batch-norm running statistics of ``model`` moved ``share`` of the way to those of the image: the
    image's own (cumulative average over ``batches`` batches of its windows) are blended with the parent's as
    the statistics of a mixture (``share`` image, the rest what the parent saw); left in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or share <= 0 or len(image_x) == 0:
        return
    old = [(m.running_mean.clone(), m.running_var.clone(), m.momentum) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        with torch.no_grad():
            for _ in range(batches):
                model(torch.as_tensor(image_x[rng.integers(0, len(image_x), batch)]).float())
    finally:
        for m, (mean0, var0, mom) in zip(norms, old):
            mean1, var1 = m.running_mean.clone(), m.running_var.clone()
            m.running_mean.copy_((1 - share) * mean0 + share * mean1)
            m.running_var.copy_((1 - share) * var0 + share * var1 + share * (1 - share) * (mean0 - mean1) ** 2)
            m.momentum = mom
        model.eval()
