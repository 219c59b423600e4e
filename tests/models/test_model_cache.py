"""models/model_cache.py: a model is loaded once and traced once per shape in a process; a changed
weights file is a new key; release() empties the cache."""

from __future__ import annotations

import shutil

import pytest
import torch
from eurosat_landcover.models import model_cache
from eurosat_landcover.models.checkpoint import default_card_path


@pytest.fixture(autouse=True)
def _fresh_cache():
    model_cache.release()
    yield
    model_cache.release()


def _since(start: dict) -> dict:
    return {k: v - start[k] for k, v in model_cache.stats().items()}


def test_model_loaded_once_and_traced_once_per_shape():
    start = model_cache.stats()  # counters are cumulative over the process
    m1, card1, key1 = model_cache.cached_model(default_card_path(), "cpu")
    m2, card2, key2 = model_cache.cached_model(default_card_path(), "cpu")
    assert m1 is m2 and key1 == key2 and card1.name == card2.name
    assert _since(start)["loads"] == 1 and _since(start)["model_hits"] == 1

    f1, r1 = model_cache.fast_path_module(m1, key1, 4, 3, 64)
    f2, r2 = model_cache.fast_path_module(m1, key1, 4, 3, 64)
    assert f1 is f2 and r1.path == r2.path
    assert r2.prepare_seconds == 0.0 and model_cache.REUSED_NOTE in r2.reason
    assert r1.prepare_seconds > 0 and model_cache.REUSED_NOTE not in r1.reason
    f3, _ = model_cache.fast_path_module(m1, key1, 8, 3, 64)  # another batch shape: traced anew
    assert f3 is not f1
    s = _since(start)
    assert s["traces"] == 2 and s["trace_hits"] == 1
    x = torch.rand(4, 3, 64, 64) * 255
    with torch.inference_mode():
        assert torch.allclose(torch.softmax(f1(x), 1), torch.softmax(m1(x), 1), atol=1e-3)


def test_replaced_weights_are_a_new_key(tmp_path):
    card = tmp_path / "m.json"
    shutil.copy(default_card_path(), card)
    shutil.copy(default_card_path().with_suffix(".safetensors"), tmp_path / "m.safetensors")
    text = card.read_text().replace("eurosat_rgb_lite0.safetensors", "m.safetensors")
    card.write_text(text)
    m1, _, k1 = model_cache.cached_model(card, "cpu")
    w = tmp_path / "m.safetensors"
    data = w.read_bytes()
    w.unlink()
    w.write_bytes(data)  # same content, a new file (new inode and time): not trusted to be the same
    m2, _, k2 = model_cache.cached_model(card, "cpu")
    assert k1 != k2 and m1 is not m2
    w.write_bytes(data[:-8] + b"\0" * 8)  # corrupted: the loader's checksum refuses it, nothing cached
    from eurosat_landcover.models.checkpoint import ModelLoadError

    with pytest.raises(ModelLoadError, match="sha256"):
        model_cache.cached_model(card, "cpu")


def test_injected_model_cached_while_it_lives_and_release_empties():
    import gc

    from eurosat_landcover.models.checkpoint import load_model

    model, _ = load_model(default_card_path(), "cpu")
    f1, _ = model_cache.fast_path_module(model, None, 2, 3, 64)
    f2, r2 = model_cache.fast_path_module(model, None, 2, 3, 64)
    assert f1 is f2 and model_cache.REUSED_NOTE in r2.reason
    assert model_cache.stats()["traced"] == 1
    del model, f1, f2
    gc.collect()
    assert model_cache.stats()["traced"] == 0  # held weakly: gone with the model
    model_cache.cached_model(default_card_path(), "cpu")
    model_cache.release()
    assert model_cache.stats()["models"] == 0 and model_cache.stats()["traced"] == 0


def test_memory_short_releases_the_kept_model_and_says_so():
    model_cache.cached_model(default_card_path(), "cpu")
    assert model_cache.release_if_memory_short(available_mb=4096) is None  # plenty: kept
    assert model_cache.stats()["models"] == 1
    note = model_cache.release_if_memory_short(available_mb=300)
    assert note.startswith("Memory is short (300 MB available)") and "next run loads it again" in note
    assert model_cache.stats()["models"] == 0 and model_cache.stats()["traced"] == 0
    assert model_cache.release_if_memory_short(available_mb=300) is None  # nothing left to give back


def test_a_new_model_loaded_when_memory_is_short_drops_the_kept_ones(tmp_path, monkeypatch):
    card = tmp_path / "m.json"
    shutil.copy(default_card_path(), card)
    shutil.copy(default_card_path().with_suffix(".safetensors"), tmp_path / "m.safetensors")
    card.write_text(card.read_text().replace("eurosat_rgb_lite0.safetensors", "m.safetensors"))
    model_cache.cached_model(default_card_path(), "cpu")
    model_cache.cached_model(card, "cpu")
    assert model_cache.stats()["models"] == 2  # enough memory: both kept
    model_cache.release()
    model_cache.cached_model(default_card_path(), "cpu")
    monkeypatch.setattr(model_cache, "available_memory_mb", lambda: 200.0)
    model_cache.cached_model(default_card_path(), "cpu")  # a hit: nothing to load, nothing dropped
    assert model_cache.stats()["models"] == 1
    model_cache.cached_model(card, "cpu")
    assert model_cache.stats()["models"] == 1  # the kept model was dropped before loading another


def test_available_memory_is_measured_here():
    mb = model_cache.available_memory_mb()
    assert mb is not None and 0 < mb < 2**30
