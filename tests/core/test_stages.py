"""The pipeline's stages (core/stages/): the card read once, the result read from the summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_testlib import random_rgb, write_geotiff
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from eurosat_landcover.core.stages.model import choose_fast_path, model_for, read_card
from eurosat_landcover.core.stages.summary import result_from_summary
from eurosat_landcover.core.windows import Grid
from eurosat_landcover.models.card import ModelCard


def test_a_run_reads_its_card_once_and_carries_it(tmp_path, random_card, monkeypatch):
    loads = []
    original = ModelCard.load.__func__

    def counting(cls, path):
        loads.append(Path(path))
        return original(cls, path)

    monkeypatch.setattr(ModelCard, "load", classmethod(counting))
    path = write_geotiff(tmp_path / "in.tif", random_rgb(128, 128))
    res = classify(
        ClassificationRequest(path, tmp_path / "out", model_card=random_card, stride=64, device="cpu", mode="windows")
    )
    assert loads == [random_card]
    assert isinstance(res.card, ModelCard) and res.card.path == random_card.resolve()
    assert res.summary["model"]["card"] == str(res.card.path)


def test_the_result_is_read_from_the_summary(tmp_path, brightness_model):
    path = write_geotiff(tmp_path / "in.tif", random_rgb(192, 192))
    req = ClassificationRequest(
        path, tmp_path / "out", stride=32, device="cpu", write_probabilities=False, mode="windows"
    )
    res = classify(req, model=brightness_model)
    again = result_from_summary(res.summary, res.card, res.timings)
    assert again == res
    s = res.summary
    assert res.probabilities_path is None and "probabilities" not in s["outputs"]
    assert str(res.classes_path) == s["outputs"]["classes"] and res.classes_path.is_file()
    assert res.windows == s["windows"]["classified"] == 25 and res.area_km2 == s["area_km2"]
    assert res.timings["total"] == pytest.approx(s["timings_s"]["total"], abs=1e-4)
    assert not hasattr(res, "style_paths")


def test_load_model_and_the_fast_path_choice(random_card):
    import torch
    from eurosat_landcover.models.checkpoint import LandCoverClassifier, load_weights
    from eurosat_landcover.models.lazy_model import materialise

    card = read_card(random_card)
    loaded = materialise(model_for(card, torch.device("cpu")))  # the network behind a lazy model
    assert isinstance(loaded, LandCoverClassifier) and not loaded.training and loaded.channels_last
    model = load_weights(card, "cpu")  # not from the caches: the choice alone
    path = choose_fast_path(model, "off", torch.device("cpu"), Grid(640, 640, 64, 32), 64, 3)
    assert path.model is model and not path.tried and path.report.reason == "fast_path=off"
    calls = []
    auto = choose_fast_path(model, "auto", torch.device("cpu"), Grid(128, 128, 64, 32), 64, 3, lambda: calls.append(1))
    assert not auto.tried and not calls and "too few" in auto.report.reason


def test_a_missing_card_is_one_clear_line(tmp_path):
    with pytest.raises(ClassificationError, match=r"the model card .* does not exist"):
        read_card(tmp_path / "nope.json")
