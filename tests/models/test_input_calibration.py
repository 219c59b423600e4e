"""models/input_calibration.py: a card's input calibration, applied by the model the card builds, fitted from
labelled windows through the frozen network. Real weights (the bundled card) and real EuroSAT patches."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from eurosat_landcover.models import finetune as ft
from eurosat_landcover.models.card import ModelCard, ModelCardError
from eurosat_landcover.models.checkpoint import LandCoverClassifier, default_card_path, load_model
from eurosat_landcover.models.finetune_recipe import Recipe
from eurosat_landcover.models.input_calibration import (
    InputCalibration,
    apply,
    fit_calibration,
    fit_for_recipe,
    is_identity,
    module_for,
)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_finetune import INVERSE_CALIBRATION as INVERSE  # noqa: E402
from bench_finetune import sensor_crosstalk  # noqa: E402


@pytest.fixture(scope="module")
def bundled():
    return load_model(None)


@pytest.fixture(scope="module")
def patches(eurosat_rgb_zip):
    """40 EuroSAT validation patches per class (real JPEG patches, never the test split), plain and shifted."""
    x, y = ft.selection_arrays(eurosat_rgb_zip, 40)
    return x.astype(np.float32), sensor_crosstalk(x).astype(np.float32), y


def test_a_card_without_calibration_reads_writes_and_runs_as_before(bundled, tmp_path):
    model, card = bundled
    assert card.input_calibration == {} and model.calibration is None
    assert "input_calibration" not in card.to_dict()  # the bundled card's JSON is unchanged when saved again
    card.save(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == json.loads(default_card_path().read_text())


@pytest.mark.parametrize(
    "calibration, expected",
    [
        ({"matrix": [[1, 0], [0, 1]], "gamma": [1, 1, 1], "offset": [0, 0, 0]}, "3 x 3 matrix"),
        ({**INVERSE, "gamma": [1, 9, 1]}, "gammas must lie"),
        ({**INVERSE, "offset": [0, float("nan"), 0]}, "finite numbers"),
        ({"matrix": INVERSE["matrix"], "gamma": [1, 1, 1]}, "must hold matrix, gamma, offset"),
        ({**INVERSE, "offset": [0, 0, 40]}, "within"),
    ],
)
def test_a_malformed_calibration_is_refused_in_one_sentence(calibration, expected):
    d = json.loads(default_card_path().read_text(encoding="utf-8"))
    d["input_calibration"] = calibration
    with pytest.raises(ModelCardError, match=expected) as info:
        ModelCard.from_dict(d)
    assert "\n" not in str(info.value)


def test_an_identity_calibration_changes_no_output(bundled, patches):
    model, card = bundled
    eye = {"matrix": np.eye(3).tolist(), "gamma": [1.0] * 3, "offset": [0.0] * 3, "pre_gain": [1.0] * 3}
    assert is_identity(eye) and module_for(eye, 3) is None
    same = LandCoverClassifier(model.net, card.mean, card.std, card=card, calibration=eye).eval()
    x = torch.as_tensor(patches[0][:32])
    with torch.inference_mode():
        assert torch.equal(same(x), model(x))


def test_the_model_a_calibrated_card_builds_applies_its_calibration(bundled, patches, tmp_path, card_with_calibration):
    """The card's input_calibration is read, checked and applied by load_model's classifier to every
    window before the network: on shifted real patches it undoes the shift (fails before: the key was
    ignored and the model ran uncalibrated)."""
    parent, _card = bundled
    plain, shifted, y = patches
    model, card = load_model(card_with_calibration(default_card_path(), tmp_path, INVERSE, "calibrated.json"))
    assert card.input_calibration == INVERSE and model.calibration is not None
    acc_parent = ft.accuracy(parent, shifted, y)
    acc_calibrated = ft.accuracy(model, shifted, y)
    assert acc_calibrated >= ft.accuracy(parent, plain, y) - 0.01 > acc_parent
    # the network itself is the parent's: without the calibration it answers as the parent does
    with torch.inference_mode():
        x = torch.as_tensor(plain[:16])
        assert torch.equal(model.without_calibration()(x), parent(x))


def test_the_look_calibration_wins_back_what_a_sensor_shift_took(bundled, patches, eurosat_rgb_zip):
    """100 labelled shifted patches (10 per class) and EuroSAT training patches to replay: the shipped
    calibration (the inverse of the analyst's fitted look, guarded by the held-out labels' cross-entropy) wins
    back at least half of what the shift took on the other 300; no weight moves."""
    model, _card = bundled
    plain, shifted, y = patches
    rng = np.random.default_rng(0)
    train = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), 10, replace=False) for c in range(10)]))
    rest = np.setdiff1d(np.arange(len(y)), train)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit = fit_for_recipe(model, shifted[train], y[train], ft.replay_arrays(eurosat_rgb_zip, 30), Recipe())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    calibrated = LandCoverClassifier(model.net, model.card.mean, model.card.std, model.card, fit.calibration)
    lost = ft.accuracy(model, plain[rest], y[rest]) - ft.accuracy(model, shifted[rest], y[rest])
    won = ft.accuracy(calibrated, shifted[rest], y[rest]) - ft.accuracy(model, shifted[rest], y[rest])
    assert fit.holdout_loss_after <= fit.holdout_loss_before  # the guard: the held-out cross-entropy never rises
    assert lost > 0.02 and won >= 0.5 * lost, (lost, won, fit.calibration)


def test_the_look_is_fitted_on_the_images_sure_windows_too(bundled, patches, eurosat_rgb_zip):
    """``look_from_pseudo`` (the default): the look is fitted on the labelled windows and on the windows of the
    analyst's image the parent is sure of. Labels where the parent is least sure are an unusual sample of each
    class's colours; with the image's windows the calibration lies closer to the shift's exact inverse (fails
    before: the calibration path never saw the image)."""
    model, _card = bundled
    plain, shifted, y = patches
    labelled = np.argsort(ft.predict(model, shifted).max(1), kind="stable")[:30]
    replay = ft.replay_arrays(eurosat_rgb_zip, 30)
    assert Recipe().look_from_pseudo and Recipe().uses_image()
    alone = fit_for_recipe(model, shifted[labelled], y[labelled], replay, Recipe(look_from_pseudo=False), image=shifted)
    both = fit_for_recipe(model, shifted[labelled], y[labelled], replay, Recipe(), image=shifted)
    assert alone.pseudo_labelled == 0 and both.pseudo_labelled > 100  # of 400 (the parent at 0.9: 159)
    assert not both.rejected and both.holdout_loss_after <= both.holdout_loss_before

    def misfit(fit):  # mean absolute difference (0-255) of the calibrated shifted patches from the plain ones
        return float(np.abs(apply(fit.calibration, shifted) - plain).mean())

    assert misfit(both) < misfit(alone), (misfit(both), misfit(alone))


def test_the_gradient_fit_learns_through_the_frozen_network_and_the_guard_drops_what_misleads(bundled, patches):
    """``fit``: Adam through the frozen network lowers the training labels' cross-entropy without moving a
    weight; held-out labels that the calibration makes worse (here: deliberately wrong ones) drop it."""
    model, _card = bundled
    _plain, shifted, y = patches
    train = np.arange(0, len(y), 8)  # 50 patches, every class
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit = fit_calibration(model, shifted[train], y[train], steps=30)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    kept = LandCoverClassifier(model.net, model.card.mean, model.card.std, model.card, fit.calibration)

    def loss(m):
        p = ft.predict(m, shifted[train])
        return float(-np.log(p[np.arange(len(train)), y[train]]).mean())

    assert fit.calibration and loss(kept) < loss(model)
    hold = np.arange(4, len(y), 16)
    wrong = (y[hold] + 1) % 10
    guarded = fit_calibration(model, shifted[train], y[train], (shifted[hold], wrong), steps=30)
    assert guarded.rejected and guarded.calibration == {}
    assert guarded.holdout_loss_after > guarded.holdout_loss_before


def test_module_and_card_agree(patches):
    m = InputCalibration(3, INVERSE)
    assert np.allclose(m.to_dict()["matrix"], INVERSE["matrix"], atol=1e-5)
    y = m(torch.as_tensor(patches[1][:4]))
    assert y.shape == (4, 3, 64, 64) and float(y.min()) >= 0 and float(y.max()) <= 255


def test_fine_tuning_a_calibrated_card_keeps_its_calibration_when_asked(
    patches, eurosat_rgb_zip, tmp_path, card_with_calibration
):
    """A calibrated parent: ``calibration="off"`` keeps the parent's calibration in the new model (the
    parent untouched); the default fits a new one on the raw windows (or, dropped by the guard, keeps it)."""
    model, _card = load_model(card_with_calibration(default_card_path(), tmp_path, INVERSE, "calibrated.json"))
    _plain, shifted, y = patches
    take = np.arange(0, len(y), 10)
    replay = ft.replay_arrays(eurosat_rgb_zip, 10)
    kept = ft.finetune(model, shifted[take], y[take], replay, Recipe(calibration="off", threads=1))
    assert kept.calibration == INVERSE and kept.model.calibration is not None
    assert model.calibration is not None and model.card.input_calibration == INVERSE
    refit = ft.finetune(model, shifted[take], y[take], replay, Recipe(threads=1))
    assert refit.calibration_fit is not None and refit.model.calibration is not None  # a new one, or the parent's
