"""models/soup.py: weight-space interpolation between a model and its fine-tune (WiSE-FT)."""

import json

import pytest
import torch
from eurosat_landcover.models import soup
from eurosat_landcover.models.checkpoint import ModelLoadError, default_card_path, load_model

from .test_train_evaluate import _always_forest_model


def test_the_halfway_model_is_the_mean_of_the_two_and_names_both_parents(tmp_path):
    start_card = default_card_path()
    end_card = _always_forest_model(tmp_path)  # same architecture, other weights
    out = soup.soup(start_card, end_card, 0.25, tmp_path / "soup" / "mixed.json")
    mixed, card = load_model(out)
    start, _ = load_model(start_card)
    end, _ = load_model(end_card)
    a, b, m = start.net.state_dict(), end.net.state_dict(), mixed.net.state_dict()
    w = "classifier.weight"
    assert torch.allclose(m[w], 0.75 * a[w] + 0.25 * b[w], atol=1e-6)
    bn = next(k for k in m if k.endswith("running_var"))
    assert torch.allclose(m[bn], 0.75 * a[bn] + 0.25 * b[bn], atol=1e-6)
    made = json.loads(out.read_text())["training"]["soup"]
    assert made["alpha"] == 0.25 and made["start"]["weights_sha256"] == load_model(start_card)[1].weights_sha256
    assert card.metrics == {}  # the end model's figures no longer hold: evaluate the result
    # the interpolated classifier really answers between the two: P(Forest) rises with alpha
    x = torch.rand(4, 3, 64, 64) * 255
    with torch.inference_mode():
        p_start = torch.softmax(start(x), 1)[:, 1].mean()
        p_mixed = torch.softmax(mixed(x), 1)[:, 1].mean()
        p_end = torch.softmax(end(x), 1)[:, 1].mean()
    assert p_start < p_mixed < p_end


def test_alpha_outside_0_1_and_different_layers_are_refused(tmp_path):
    with pytest.raises(ValueError, match="outside 0-1"):
        soup.soup(default_card_path(), default_card_path(), 1.5, tmp_path / "x.json")
    a = {"w": torch.zeros(2)}
    with pytest.raises(ModelLoadError, match="different layers"):
        soup.interpolate(a, {"v": torch.zeros(2)}, 0.5)
    with pytest.raises(ModelLoadError, match="differs in shape"):
        soup.interpolate(a, {"w": torch.zeros(3)}, 0.5)


def test_the_cli_never_overwrites_an_input_model(tmp_path, capsys):
    end_card = _always_forest_model(tmp_path)
    with pytest.raises(SystemExit):
        soup.main([str(default_card_path()), str(end_card), "--out", str(tmp_path)])
    assert "overwrite an input model" in capsys.readouterr().err
