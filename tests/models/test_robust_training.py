"""Radiometric augmentation, evaluation under the fixed shifts (--shift) and fine-tuning (--init-from)."""

import json

import pytest
import torch
from eurosat_landcover.models import evaluate, train
from eurosat_landcover.models.augment import RADIOMETRIC_DEFAULTS, augment_batch, radiometric_batch, texture_batch
from eurosat_landcover.models.card import ModelCard
from eurosat_landcover.models.checkpoint import default_card_path, load_model
from eurosat_landcover.models.radiometric_shifts import SHIFT_NAMES, apply_shift

from .test_train_evaluate import TINY, _always_forest_model

OFF = {k: 0.0 for k in ("haze_p", "path_p", "gain_p", "gamma_p")}


def _batch(n=64, value=None):
    torch.manual_seed(0)
    if value is not None:
        return torch.full((n, 3, 8, 8), float(value))
    return torch.rand(n, 3, 8, 8) * 255


def test_radiometric_batch_keeps_shape_and_range_and_leaves_a_share_clean():
    x = _batch(400)
    y = radiometric_batch(x.clone())
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
    changed = (y - x).abs().flatten(1).amax(1) > 1e-4
    # p = 0.5 of the samples are eligible, and each component is drawn on its own: some stay clean
    assert 0.2 < changed.float().mean().item() < RADIOMETRIC_DEFAULTS["p"] + 0.1
    assert torch.equal(radiometric_batch(x.clone(), p=0.0), x)


def _grain(x):
    """Mean absolute difference between horizontal neighbours, per sample (diag_sea.py's texture)."""
    return (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3))


def test_texture_batch_adds_zero_mean_grain_to_a_share_of_flat_dark_water():
    x = _batch(400, 20.0)  # flat, dark: open water as an L2A export shows it, before its grain
    y = texture_batch(x.clone(), p=0.5)
    grainy = _grain(y) > 1e-4
    assert 0.35 < grainy.float().mean().item() < 0.65
    # as rough as real sea in benchmarks/diag_sea.py (grain 1.8-2.9) at most, and the mean kept
    assert 0.3 < _grain(y[grainy]).median().item() < 4.0
    assert abs(y[grainy].mean().item() - 20.0) < 0.3
    assert torch.equal(texture_batch(x.clone(), p=0.0), x)
    assert torch.equal(augment_batch(x.clone(), zoom_p=0, jitter=0, texture=0.0)[:, :, 2:-2, 2:-2], x[:, :, 2:-2, 2:-2])


def test_each_radiometric_component_moves_the_image_the_documented_way():
    x = _batch(200, 80.0)
    dark = radiometric_batch(x.clone(), p=1.0, **{**OFF, "path_p": 1.0}, path_blue=(20.0, 40.0), path_gain=(1, 1))
    removed = (x - dark).mean(dim=(0, 2, 3))  # red, green, blue
    assert (removed > 0).all() and removed[2] > removed[1] > removed[0]  # L2A-like: strongest in blue
    hazy = radiometric_batch(x.clone(), p=1.0, **{**OFF, "haze_p": 1.0})
    assert (hazy >= x).all() and hazy[:, 2].mean() >= hazy[:, 0].mean()  # brighter, bluish airlight
    gains = radiometric_batch(x.clone(), p=1.0, **{**OFF, "gain_p": 1.0})
    ratio = gains / x
    assert ratio.min() >= 0.8 - 1e-4 and ratio.max() <= 1.2 + 1e-4 and ratio.std() > 0.05  # per-band casts
    gamma = radiometric_batch(x.clone(), p=1.0, **{**OFF, "gamma_p": 1.0})
    assert (gamma[:, 0] == gamma[:, 2]).all() and gamma.std() > 1  # one curve for all bands, varied per sample


def test_the_families_cover_but_do_not_copy_the_evaluation_shifts():
    """Each evaluation shift's parameters lie strictly inside the (continuous) training ranges."""
    cfg = RADIOMETRIC_DEFAULTS
    assert cfg["haze_t"][0] < 0.2 < cfg["haze_t"][1]  # haze: t = 0.2
    assert cfg["path_blue"][0] < 28 < cfg["path_blue"][1]  # surface_reflectance: 28 in blue
    assert cfg["gain"][0] < 0.88 and cfg["gain"][1] > 1.10 and cfg["gamma"][0] < 0.9 < cfg["gamma"][1]  # season


def test_augment_batch_radiometric_share_is_off_by_default():
    x = _batch(32, 120.0)
    torch.manual_seed(1)
    plain = augment_batch(x.clone(), zoom_p=0, jitter=0)
    assert torch.allclose(plain, x, atol=1e-3)  # a constant image is unchanged by geometry
    torch.manual_seed(1)
    shifted = augment_batch(x.clone(), zoom_p=0, jitter=0, radiometric=1.0)
    assert not torch.allclose(shifted, x, atol=1e-3)


def test_evaluate_shift_all_reports_each_shift_and_records_them(tiny_folder, tmp_path, capsys):
    card_path = default_card_path()
    work = tmp_path / "card"
    work.mkdir()
    for f in (card_path, card_path.with_suffix(".safetensors")):
        (work / f.name).write_bytes(f.read_bytes())
    card_copy = work / card_path.name
    out_json = tmp_path / "shifts.json"
    argv = ["--model", str(card_copy), str(tiny_folder), "--shift", "all", "--threads", "1"]
    assert evaluate.main([*argv, "--batch-size", "32", "--json", str(out_json), "--record"]) == 0
    text = capsys.readouterr().out
    assert "accuracy per radiometric shift" in text and "=== radiometric shift: season ===" in text
    res = json.loads(out_json.read_text())
    assert res["shift"] == "all" and list(res["shifts"]) == ["none", *SHIFT_NAMES]
    assert res["accuracy"] == res["shifts"]["none"]["accuracy"]
    # the haze figure is the model's accuracy on the hazed images, computed independently here
    model, card = load_model(card_copy)
    from eurosat_landcover.models.dataset import list_eurosat, load_arrays

    index = {c: i for i, c in enumerate(card.class_names)}
    items = sorted((m, index[c]) for c, ms in list_eurosat(tiny_folder, card.class_names).items() for m in ms)
    images, labels = load_arrays(tiny_folder, items)
    with torch.no_grad():
        pred = model(apply_shift("haze", torch.from_numpy(images).float(), channel_axis=1)).argmax(1)
    assert res["shifts"]["haze"]["accuracy"] == pytest.approx((pred.numpy() == labels).mean())
    recorded = ModelCard.load(card_copy).metrics
    key = f"eval_{tiny_folder.name}"
    assert recorded[key]["accuracy"] == res["accuracy"]
    assert recorded[f"{key}_shift_season"]["accuracy"] == res["shifts"]["season"]["accuracy"]
    assert recorded["radiometric_shifts"]["accuracy"] == {k: res["shifts"][k]["accuracy"] for k in SHIFT_NAMES}
    load_model(card_copy)  # recording keeps the weights valid


def test_evaluate_one_shift_only(tiny_folder, tmp_path, capsys):
    card_path = _always_forest_model(tmp_path)
    evaluate.main(["--model", str(card_path), str(tiny_folder), "--shift", "season", "--threads", "1"])
    text = capsys.readouterr().out
    assert "=== radiometric shift: season ===" in text and "=== radiometric shift: none" not in text
    assert "season" in text.split("accuracy per radiometric shift")[1]


def test_fine_tune_from_a_card_with_shifted_validation(tiny_zip, tmp_path):
    parent = _always_forest_model(tmp_path)
    parent_card = ModelCard.load(parent)
    out = tmp_path / "ft"
    argv = [str(tiny_zip), "--out", str(out), *TINY, "--init-from", str(parent), "--radiometric", "0.5"]
    assert train.main([*argv, "--val-shifts"]) == 0
    card = ModelCard.load(out / "eurosat_rgb_lite0.json")
    t = card.training
    assert t["parent"]["weights_sha256"] == parent_card.weights_sha256 and t["init"].startswith("fine-tuned from")
    assert t["recipe"]["radiometric"] == 0.5 and t["recipe"]["init_from"] == str(parent)
    assert set(t["history"][0]["val_shifts"]) == set(SHIFT_NAMES) and "val_select" in t["history"][0]
    assert set(card.metrics["val"]["shifts"]) == set(SHIFT_NAMES) and "shifted" in t["model_selection"]
    assert "fine-tuned from forest" in card.license


def test_fine_tune_starts_from_the_parent_weights(tiny_zip, tmp_path):
    parent = _always_forest_model(tmp_path)
    out = tmp_path / "ft0"
    # learning rate 0: the written weights are the parent's, so it still says Forest everywhere
    argv = [str(tiny_zip), "--out", str(out), *TINY, "--init-from", str(parent), "--lr", "0", "--weight-decay", "0"]
    assert train.main(argv) == 0
    model, _ = load_model(out / "eurosat_rgb_lite0.json")
    parent_model, _ = load_model(parent)
    for (k, a), b in zip(model.net.state_dict().items(), parent_model.net.state_dict().values()):
        if "running" not in k and "num_batches" not in k:  # batch-norm statistics move in train mode
            assert torch.equal(a, b), k


def test_fine_tune_refuses_another_architecture(tiny_zip, tmp_path):
    parent = _always_forest_model(tmp_path)
    argv = [str(tiny_zip), "--out", str(tmp_path / "x"), *TINY, "--init-from", str(parent)]
    with pytest.raises(SystemExit, match="--init-from"):
        train.main([*argv, "--arch", "tf_efficientnet_lite1"])
