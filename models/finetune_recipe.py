"""How a fine-tuning runs (:class:`Recipe`, recorded in the new card), the held-out split and the cancellation
both fitting stages share; no torch, so the CLI's parser reads its defaults without loading it. The training
itself is models/finetune.py, the input calibration models/input_calibration.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

TRAINABLE = ("adapt", "norm", "head", "all")
CALIBRATIONS = ("look", "fit", "off")


class FinetuneCancelled(Exception):
    """The caller asked to stop."""


def split_holdout(labels: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train indices, held-out indices): ``fraction`` of each class with at least 3
    examples is held out (at least one); classes with fewer all go to training."""
    rng = np.random.default_rng(seed)
    train, hold = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = 0 if len(idx) < 3 or fraction <= 0 else max(1, int(round(fraction * len(idx))))
        hold += list(idx[:k])
        train += list(idx[k:])
    return np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(hold, np.int64))


@dataclass
class Recipe:
    """How a fine-tuning runs (recorded in the new card)."""

    trainable: str = "norm"  # TRAINABLE: norm = first conv + batch-norm scales/shifts (module docstring)
    # 0: the weights stay the parent's and the input calibration alone adapts the model (measured: weights
    # trained on top of it won nothing more on the second scene, cost 12 x the time; results_finetune_recipes.md)
    epochs: int = 0
    steps_per_epoch: int = 8
    batch_analyst: int = 8  # drawn class-balanced (``balanced``)
    batch_replay: int = 56  # ``look_share`` of them rendered in the analyst's look
    distill: float = 1.0  # replay targets: this share of the parent's own probabilities (keeps what it knew)
    lr: float = 3e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    patience: int = 4
    holdout_fraction: float = 0.2
    replay_per_class: int = 100
    time_limit_s: float = 240.0
    look_share: float = 0.5  # share of each replay batch rendered in the analyst's look (models/finetune_style)
    selection_per_class: int = 100  # EuroSAT VALIDATION patches of each class that select the epoch
    selection_tolerance: float = 0.005  # an epoch whose validation accuracy fell more than this is not kept
    balanced: bool = True  # the analyst's examples drawn class-balanced (their mix is no prior to learn)
    trunk_lr: float = 1.0  # the trunk's learning rate as a share of ``lr`` (the last stage and head get ``lr``)
    pseudo_batch: int = 0  # windows of the analyst's image per step, on pseudo-labels (models/finetune_pseudo)
    pseudo_threshold: float = 0.9  # a window is pseudo-labelled where the model's probability reaches this
    pseudo_views: int = 1  # dihedral views averaged for the parent's pseudo-labels (8: all; each costs a pass)
    pseudo_teacher: str = "parent"  # or "image_bn": the parent with the image's own batch-norm statistics
    pseudo_soft: bool = False  # every window, with the teacher's probabilities (else hard, above the threshold)
    pseudo_online: bool = False  # FixMatch-style: targets from the model being trained (else the parent's)
    pseudo_max: int = 2000  # at most this many windows of the image are read (a seeded choice of the grid)
    bn_mix: float = 0.0  # batch-norm statistics re-estimated from this share of image windows + replay (0: kept)
    select_on_image: bool = False  # the epoch's score also counts its agreement with the image's pseudo-labels
    # the analyst's look (the "look" calibration's, and the replay's with epochs) fitted on the image's windows the
    # parent is sure of (``pseudo_threshold``) too: the least-sure labels alone are an unusual sample of each
    # class's colours (measured: results_finetune_recipes.md, fifth session); core/finetune then reads the image
    look_from_pseudo: bool = True
    # the new card's input calibration (models/input_calibration.py), fitted before any weight is trained:
    # "look" = the inverse of the analyst's look fitted from the labels (models/finetune_style.py), "fit" =
    # fitted by gradient through the frozen network from the identity, "off" = none (the parent's, if any)
    calibration: str = "look"
    calibration_steps: int = 60  # "fit": Adam steps (the last is kept; the held-out labels guard it)
    calibration_lr: float = 0.02
    calibration_pull: float = 0.001  # towards where the fit started (a few labels must not bend every colour)
    test_every: int = 1
    seed: int = 0
    threads: Optional[int] = None

    def uses_image(self) -> bool:
        """Whether the recipe learns from the image's unlabelled windows (models/finetune_pseudo.py)."""
        return self.pseudo_batch > 0 or self.bn_mix > 0 or self.look_from_pseudo

    def to_dict(self) -> dict:
        return asdict(self)
