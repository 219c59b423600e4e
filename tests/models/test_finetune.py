"""models/finetune.py on a real (random-weight) EfficientNet-Lite0: what is trained, what stays, refusals."""

from __future__ import annotations

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


def test_finetune_keeps_frozen_weights_and_bn_statistics(model):
    x, y = examples()
    replay = (np.random.default_rng(1).integers(0, 255, (20, 3, 64, 64), dtype=np.uint8), np.arange(20) % 10)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    res = finetune(model, x, y, replay, Recipe(epochs=2, steps_per_epoch=2, batch_analyst=8, batch_replay=8))
    after = res.model.net.state_dict()
    assert torch.equal(after["blocks.2.0.conv_pw.weight"], before["blocks.2.0.conv_pw.weight"])
    assert torch.equal(after["bn1.running_mean"], before["bn1.running_mean"])  # statistics never rewritten
    assert not torch.equal(after["classifier.weight"], before["classifier.weight"])
    assert all(torch.equal(v, before[k]) for k, v in model.net.state_dict().items())  # the parent untouched
    assert res.holdout_counts == {"Forest": 2, "River": 2} and len(res.history) >= 1
    assert res.trained_parameters < sum(p.numel() for p in model.parameters())


def test_finetune_can_be_cancelled(model):
    x, y = examples()
    replay = (np.zeros((4, 3, 64, 64), np.uint8), np.arange(4))
    with pytest.raises(FinetuneCancelled):
        finetune(model, x, y, replay, Recipe(epochs=1, steps_per_epoch=1), is_cancelled=lambda: True)
