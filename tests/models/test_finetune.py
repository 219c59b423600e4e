"""models/finetune.py on a real (random-weight) EfficientNet-Lite0: what is trained, what stays, refusals."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from eurosat_landcover.models.card import eurosat_classes
from eurosat_landcover.models.checkpoint import LandCoverClassifier
from eurosat_landcover.models.finetune import (
    FinetuneCancelled,
    FinetuneError,
    Recipe,
    check_examples,
    finetune,
    select_trainable,
    split_holdout,
)
from eurosat_landcover.models.registry import build_model, eurosat_rgb_card

NAMES = [c.name for c in eurosat_classes()]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    card = eurosat_rgb_card("tf_efficientnet_lite0", "parent", title="parent")
    return LandCoverClassifier(build_model("tf_efficientnet_lite0"), card.mean, card.std, card=card).eval()


def examples(n=24, classes=(1, 8), seed=0):
    rng = np.random.default_rng(seed)
    y = np.array([classes[i % len(classes)] for i in range(n)])
    x = rng.uniform(0, 255, (n, 3, 64, 64)).astype(np.float32)
    x[y == classes[0], 1] *= 0.3  # two visibly different kinds of window
    return x, y


@pytest.mark.parametrize(
    "labels, expected",
    [
        (np.array([1] * 20), "at least 2 classes"),
        (np.array([1, 2] * 4), "at least 10"),
        (np.array([1, 2] * 6 + [12]), "not classes of this model"),
    ],
)
def test_refusals_are_one_sentence(labels, expected):
    with pytest.raises(FinetuneError, match=expected) as info:
        check_examples(labels, NAMES)
    assert "\n" not in str(info.value)


def test_holdout_is_stratified_and_disjoint():
    y = np.array([0] * 10 + [1] * 5 + [2] * 2)
    tr, ho = split_holdout(y, 0.2, seed=3)
    assert not set(tr) & set(ho) and len(tr) + len(ho) == len(y)
    assert sorted(np.bincount(y[ho], minlength=3)) == [0, 1, 2]  # 2 of class 0, 1 of class 1, none of the pair


def test_adapt_trains_first_conv_bn_and_last_stage_only(model):
    net = build_model("tf_efficientnet_lite0")
    params = {id(p) for p in select_trainable(net, "adapt")}
    named = dict(net.named_parameters())
    assert id(named["conv_stem.weight"]) in params and id(named["classifier.weight"]) in params
    assert id(named["blocks.6.0.conv_pw.weight"]) in params and id(named["bn1.weight"]) in params
    assert id(named["blocks.2.0.conv_pw.weight"]) not in params  # a middle convolution stays frozen
    head = {id(p) for p in select_trainable(net, "head")}
    assert head == {id(named["classifier.weight"]), id(named["classifier.bias"])}


def test_norm_trains_first_conv_and_batch_norm_scales_only():
    """The shipped choice: the colour response (first conv) and the features' gains and offsets."""
    net = build_model("tf_efficientnet_lite0")
    params = {id(p) for p in select_trainable(net, "norm")}
    named = dict(net.named_parameters())
    assert {id(named[k]) for k in ("conv_stem.weight", "bn1.weight", "bn1.bias", "blocks.6.0.bn1.weight")} <= params
    assert id(named["classifier.weight"]) not in params and id(named["blocks.6.0.conv_pw.weight"]) not in params
    assert Recipe().trainable == "norm"


def test_balanced_draws_give_every_class_the_same_chance():
    from eurosat_landcover.models.finetune import _draw_weights

    w = _draw_weights(np.array([3] * 8 + [5] * 2), balanced=True)
    assert w[:8].sum() == pytest.approx(0.5) and w[8:].sum() == pytest.approx(0.5)
    assert np.allclose(_draw_weights(np.array([3] * 8 + [5] * 2), balanced=False), 0.1)


def test_finetune_keeps_frozen_weights_and_bn_statistics(model):
    x, y = examples()
    replay = (np.random.default_rng(1).integers(0, 255, (20, 3, 64, 64), dtype=np.uint8), np.arange(20) % 10)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    res = finetune(model, x, y, replay, Recipe(epochs=2, steps_per_epoch=2, batch_analyst=8, batch_replay=8, threads=1))
    after = res.model.net.state_dict()
    assert torch.equal(after["blocks.2.0.conv_pw.weight"], before["blocks.2.0.conv_pw.weight"])
    assert torch.equal(after["bn1.running_mean"], before["bn1.running_mean"])  # statistics never rewritten
    assert torch.equal(after["classifier.weight"], before["classifier.weight"])  # norm: the head stays
    assert not torch.equal(after["conv_stem.weight"], before["conv_stem.weight"])
    assert not torch.equal(after["bn1.weight"], before["bn1.weight"])
    assert all(torch.equal(v, before[k]) for k, v in model.net.state_dict().items())  # the parent untouched
    assert res.holdout_counts == {"Forest": 2, "River": 2} and len(res.history) >= 1
    assert res.trained_parameters < sum(p.numel() for p in model.parameters())


def test_finetune_can_be_cancelled(model):
    x, y = examples()
    replay = (np.zeros((4, 3, 64, 64), np.uint8), np.arange(4))
    with pytest.raises(FinetuneCancelled):
        finetune(model, x, y, replay, Recipe(epochs=1, steps_per_epoch=1), is_cancelled=lambda: True)


# ----------------------------------------------------------------------------- the analyst's look, the selection
def _real_patches(tiny_zip):
    from eurosat_landcover.models.dataset import list_eurosat, load_arrays

    items = [(m, i) for i, (_c, ms) in enumerate(sorted(list_eurosat(tiny_zip).items())) for m in ms]
    return load_arrays(tiny_zip, items, threads=1)


def test_fitted_look_renders_eurosat_patches_as_the_analysts_imagery_shows_them(eurosat_rgb_zip):
    """Real EuroSAT patches: 10 validation patches per class under a known colour response (the 'season'
    shift) play the analyst's windows; the look fitted from them and 20 replayed training patches per class
    renders the clean validation patches close to their shifted selves."""
    from eurosat_landcover.models.finetune import replay_arrays, selection_arrays
    from eurosat_landcover.models.finetune_style import fit_style, render
    from eurosat_landcover.models.radiometric_shifts import season

    xr, yr = replay_arrays(eurosat_rgb_zip, 20)
    xv, yv = selection_arrays(eurosat_rgb_zip, 10)
    shifted = season(xv.astype(np.float32), channel_axis=1)
    style = fit_style(shifted, yv, xr, yr, seed=0)
    rendered = render(style, torch.as_tensor(xv).float()).numpy()
    before = np.abs(xv.astype(np.float32) - shifted).mean()
    after = np.abs(rendered - shifted).mean()
    assert after < 0.6 * before and style.loss < 0.5 * style.loss_identity
    assert rendered.shape == xv.shape and rendered.min() >= 0 and rendered.max() <= 255
    assert set(style.to_dict()) >= {"matrix", "gamma", "gain", "offset", "loss"}


def test_an_epoch_that_forgets_eurosat_is_not_kept(model, tiny_zip):
    """The selection keeps the parent when an epoch's EuroSAT validation accuracy falls beyond the tolerance,
    however well it does on the analyst's held-out examples."""
    from eurosat_landcover.models.finetune import _Selector

    x, y = _real_patches(tiny_zip)
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:2]])  # 6 of class 0, 2 of class 1
    x, y = x[keep], y[keep]
    fixed = copy.deepcopy(model)  # a parent that knows these patches: its head answers their classes
    with torch.no_grad():
        fixed.net.classifier.weight.zero_()
        fixed.net.classifier.bias.zero_()
    sel = _Selector(fixed, (x[:0], y[:0]), (x, y), None, Recipe(selection_tolerance=0.005))
    assert sel.before["eurosat_val_accuracy"] == pytest.approx(6 / 8)  # all called class 0
    worse = copy.deepcopy(fixed)
    with torch.no_grad():
        worse.net.classifier.bias[1] = 1.0  # everything is now class 1: 2 of 8 right
    sel.update(worse, 1)
    assert sel.epoch == 0 and sel.bad == 1  # not kept
    better = copy.deepcopy(fixed)
    with torch.no_grad():
        better.net.classifier.bias[0] = 1.0  # the same answers: kept (a tie goes to the later epoch)
    sel.update(better, 2)
    assert sel.epoch == 2
