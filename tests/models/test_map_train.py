"""models/map_train.py: starting from an earlier map model, lone-patch steps, frozen decoder batch norm,
selection on lone validation patches -- a real (tiny) training run on real EuroSAT images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from eurosat_landcover.models import map_train
from eurosat_landcover.models.augment import photometric_for_training
from eurosat_landcover.models.card import ModelCard
from eurosat_landcover.models.checkpoint import _read_state_dict, verify_weights
from eurosat_landcover.models.scenes import PatchBank

WEIGHTS = Path(map_train.__file__).resolve().parent / "weights"
CLASSIFIER = WEIGHTS / "eurosat_rgb_lite0.json"
MAP_MODEL = WEIGHTS / "eurosat_rgb_lite0_map.json"


def test_lone_patches_are_labelled_whole_with_their_own_class():
    rng = np.random.default_rng(0)
    images = np.stack([np.full((3, 64, 64), 20 * k, np.uint8) for k in range(10)])
    x, y = map_train.lone_patches(rng, PatchBank(images, np.arange(10)), 12)
    assert x.shape == (12, 3, 64, 64) and y.shape == (12, 64, 64)
    for img, lab in zip(x, y):
        k = int(lab[0, 0])
        assert (lab == k).all()
        assert abs(float(img.mean()) - 20 * k) < 0.15 * 20 * k + 6  # the patch of class k, only jittered


def test_a_run_from_an_earlier_map_model_keeps_its_decoder_batch_norm_and_selects_on_lone_patches(tiny_zip, tmp_path):
    out = tmp_path / "run"
    argv = ["--classifier", str(CLASSIFIER), "--init", str(MAP_MODEL), "--data", str(tiny_zip), "--out", str(out)]
    argv += ["--steps", "2", "--val-every", "1", "--val-scenes", "8", "--size", "64", "--batch", "2"]
    argv += ["--lone-share", "1.0", "--freeze-bn", "--select", "patch", "--lr", "1e-2"]
    assert map_train.main(argv) == 0

    log = (out / "train.log").read_text()
    assert "val step 0:" in log and "lone patches" in log  # the starting model is validated first
    card = ModelCard.load(out / "eurosat_rgb_lite0_map.json")
    start = ModelCard.load(MAP_MODEL)
    training = json.loads(json.dumps(card.to_dict()))["training"]
    assert training["decoder_from"] == {"name": start.name, "weights_sha256": start.weights_sha256}
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    history = json.loads(state["history"])
    assert [h["step"] for h in history] == [0, 1, 2] and all(0 <= h["val_patch_acc"] <= 1 for h in history)
    assert training["history"] == history[: len(training["history"])]  # the card: the run up to its selection

    last = state["decoder"]
    before = {k[len("decoder.") :]: v for k, v in _read_state_dict(verify_weights(start)).items()}
    stats = [k for k in last if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(last[k], before[k]) for k in stats)  # --freeze-bn
    assert any(not torch.equal(last[k], before[k]) for k in last if k not in stats)  # it did learn


def test_a_time_budget_alone_is_not_cut_short_by_the_step_default():
    base = ["--classifier", str(CLASSIFIER), "--out", "x"]
    assert map_train.parse_args(base).steps == 3000
    assert map_train.parse_args([*base, "--minutes", "25"]).steps > 10**6
    assert map_train.parse_args([*base, "--minutes", "25", "--steps", "40"]).steps == 40


def test_scene_batches_get_only_pixel_wise_changes_so_per_pixel_labels_stay_true():
    """--radiometric / --texture reach the map model's training as label-preserving pixel changes: the
    boundary between two flat halves stays where the labels put it, and the recipe records the options."""
    args = map_train.parse_args(["--classifier", str(CLASSIFIER), "--out", "x", "--texture", "1", "--radiometric", "1"])
    assert (args.texture, args.radiometric, tuple(args.texture_sigma)) == (1.0, 1.0, (0.5, 3.5))
    torch.manual_seed(0)
    x = torch.zeros(16, 3, 64, 64)
    x[..., 32:] = 200.0  # left half dark water, right half bright: a boundary at column 32
    y = photometric_for_training(x.clone(), args)
    assert y.shape == x.shape and not torch.equal(y, x) and float(y.min()) >= 0 and float(y.max()) <= 255
    left, right = y[..., :32].mean(dim=(1, 2, 3)), y[..., 32:].mean(dim=(1, 2, 3))
    assert (right - left > 60).all()  # no sample's halves swapped or moved: no geometry
    grain = (y[..., 1:, :16] - y[..., :-1, :16]).abs().mean(dim=(1, 2, 3))
    assert (grain > 0.2).all()  # every sample got texture (p = 1)
    off = map_train.parse_args(["--classifier", str(CLASSIFIER), "--out", "x"])
    assert torch.equal(photometric_for_training(x.clone(), off), x)  # off by default


def test_val_shifts_scores_a_candidate_under_the_radiometric_shifts_and_selects_on_their_mean(tiny_zip, tmp_path):
    """`--steps 0 --init CARD --val-shifts`: the candidate validated clean and under each fixed shift, the
    selection score their mean (as the classifier's training selects), recorded in the card's history."""
    out = tmp_path / "sel"
    argv = ["--classifier", str(CLASSIFIER), "--init", str(MAP_MODEL), "--data", str(tiny_zip), "--out", str(out)]
    argv += ["--steps", "0", "--val-scenes", "8", "--size", "64", "--val-shifts"]
    assert map_train.main(argv) == 0
    history = ModelCard.load(out / "eurosat_rgb_lite0_map.json").training["history"]
    assert [h["step"] for h in history] == [0]
    entry = history[0]
    assert set(entry["val_shifts"]) == {"haze", "surface_reflectance", "season"}
    mean = (entry["val_pixel_acc"] + sum(entry["val_shifts"].values())) / 4
    assert abs(entry["val_select"] - mean) < 1e-4
    assert len(set(entry["val_shifts"].values()) | {entry["val_pixel_acc"]}) > 1  # the shifts change the input
    assert "surface_reflectance" in (out / "train.log").read_text()
