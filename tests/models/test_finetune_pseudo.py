"""models/finetune_pseudo.py on a real (random-weight) EfficientNet-Lite0: batch-norm statistics of the image,
pseudo-labels, and fine-tuning that uses the image's unlabelled windows."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from eurosat_landcover.models.checkpoint import LandCoverClassifier
from eurosat_landcover.models.finetune import Recipe, finetune
from eurosat_landcover.models.finetune_pseudo import pseudo_targets, reestimate_bn, tta_probabilities
from eurosat_landcover.models.registry import build_model, eurosat_rgb_card


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    card = eurosat_rgb_card("tf_efficientnet_lite0", "parent", title="parent")
    return LandCoverClassifier(build_model("tf_efficientnet_lite0"), card.mean, card.std, card=card).eval()


def windows(n=32, seed=0, scale=1.0):
    return (np.random.default_rng(seed).uniform(0, 255, (n, 3, 64, 64)) * scale).astype(np.float32)


def test_batch_norm_statistics_move_share_of_the_way_to_the_images(model):
    image = windows(scale=0.4)  # a darker image than what the statistics were made on
    own = copy.deepcopy(model)
    reestimate_bn(own, image, 1.0, np.random.default_rng(0), batches=4, batch=16)
    half = copy.deepcopy(model)
    reestimate_bn(half, image, 0.5, np.random.default_rng(0), batches=4, batch=16)
    kept = copy.deepcopy(model)
    reestimate_bn(kept, image, 0.0, np.random.default_rng(0))
    m0, m1, mh = (m.net.bn1.running_mean for m in (model, own, half))
    assert not torch.allclose(m0, m1)
    assert torch.allclose(mh, (m0 + m1) / 2, atol=1e-5)  # a mixture: half the parent's, half the image's
    v0, v1, vh = (m.net.bn1.running_var for m in (model, own, half))
    assert torch.allclose(vh, (v0 + v1) / 2 + (m0 - m1) ** 2 / 4, rtol=1e-4, atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(kept.state_dict().values(), model.state_dict().values()))
    assert not own.training and not half.training and half.net.bn1.momentum == model.net.bn1.momentum


def test_pseudo_targets_hard_above_the_threshold_or_soft_for_all(model):
    x = windows(12)
    p = tta_probabilities(model, x, views=8)
    assert p.shape == (12, 10) and np.allclose(p.sum(1), 1, atol=1e-5)
    threshold = float(np.median(p.max(1)))
    recipe = Recipe(pseudo_threshold=threshold, pseudo_views=8, label_smoothing=0.1)
    idx, cls, t = pseudo_targets(model, x, recipe, np.random.default_rng(0))
    assert list(idx) == list(np.flatnonzero(p.max(1) >= threshold)) and 0 < len(idx) < 12
    assert list(cls) == list(p[idx].argmax(1)) and torch.allclose(t.sum(1), torch.ones(len(idx)))
    assert torch.all(t.argmax(1) == torch.as_tensor(cls)) and float(t.max()) == pytest.approx(0.91)
    soft = Recipe(pseudo_soft=True, pseudo_teacher="image_bn", pseudo_views=1)
    idx, cls, t = pseudo_targets(model, x, soft, np.random.default_rng(0))
    assert len(idx) == 12 and t.shape == (12, 10) and float(t.max()) < 1.0
    before = copy.deepcopy(model.state_dict())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the teacher was a copy


def test_finetune_learns_from_the_images_windows_and_keeps_the_parent(model):
    rng = np.random.default_rng(0)
    y = np.array([1, 8] * 12)
    x = windows(24, seed=1)
    replay = (rng.integers(0, 255, (20, 3, 64, 64), dtype=np.uint8), np.arange(20) % 10)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    recipe = Recipe(epochs=1, steps_per_epoch=2, batch_analyst=4, batch_replay=4, pseudo_batch=4, bn_mix=0.5,
                    pseudo_teacher="image_bn", pseudo_soft=True, look_from_pseudo=True, select_on_image=True,
                    threads=1)  # fmt: skip
    res = finetune(model, x, y, replay, recipe, unlabelled=windows(40, seed=2))
    assert res.pseudo_labelled == 40 and len(res.history) == 1
    assert 0.0 <= res.history[0]["image_agreement"] <= 1.0  # the epoch's agreement with the teacher's labels
    assert all(torch.equal(v, before[k]) for k, v in model.net.state_dict().items())
    assert recipe.uses_image() and not Recipe(pseudo_batch=0, bn_mix=0.0, look_from_pseudo=False).uses_image()
