"""The CPU fast path's frozen graph cached on disk (models/graph_cache.py): a round trip gives the
tracer's outputs without building the eager network; a corrupt, foreign or tampered entry is
ignored with a note and replaced."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from eurosat_landcover.models import graph_cache  # noqa: E402
from eurosat_landcover.models.card import ModelCard  # noqa: E402
from eurosat_landcover.models.checkpoint import default_card_path, load_weights  # noqa: E402
from eurosat_landcover.models.lazy_model import LazyClassifier  # noqa: E402

BATCH = 4


@pytest.fixture(scope="module")
def card():
    return ModelCard.load(default_card_path())


@pytest.fixture(scope="module")
def eager(card):
    return load_weights(card, "cpu")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EUROSAT_LANDCOVER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def lazy(card, eager):
    """A verified model whose network is never built unless something asks for it."""
    built = []

    def build():
        built.append(1)
        return eager

    model = LazyClassifier(card, torch.device("cpu"), build)
    graph_cache.register_verified(model, card.weights_sha256)
    return model, built


def batch():
    gen = torch.Generator().manual_seed(7)
    return torch.randint(0, 256, (BATCH, 3, 64, 64), generator=gen).float()


def probs(fn, x):
    with torch.inference_mode():
        return torch.softmax(fn(x).float(), 1)


@pytest.fixture(scope="module")
def entry(card, eager, tmp_path_factory):
    """Traced once for the module: (the traced module, the cache entry's bytes)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EUROSAT_LANDCOVER_CACHE_DIR", str(tmp_path_factory.mktemp("first_cache")))
    try:
        model, _ = lazy(card, eager)
        module, report = graph_cache.prepare(model, BATCH, 3, 64)
        if not report.used:
            pytest.skip(f"no CPU fast path on this machine: {report.reason}")
        assert "no cached graph yet; traced and cached as" in report.graph_cache
        path = graph_cache.entry_path(graph_cache.graph_key(model, BATCH, 3, 64))
        return module, path.read_bytes()
    finally:
        mp.undo()


@pytest.fixture()
def no_tracing(monkeypatch, eager):
    """Tracing replaced by a quick eager fallback: what the tests check happens before it."""
    from eurosat_landcover.models import fast_path

    calls = []

    def fake(model, *a):
        calls.append(a)
        return model, fast_path.FastPathReport("eager", "tracing skipped by the test")

    monkeypatch.setattr(fast_path, "trace_for_cpu", fake)
    return calls


def traced_and_cached(card, eager, cache, entry):
    model, _ = lazy(card, eager)
    path = graph_cache.entry_path(graph_cache.graph_key(model, BATCH, 3, 64))
    assert path.parent.parent == cache
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(entry[1])
    return entry[0], path


def test_round_trip_matches_tracing_without_the_eager_network(card, eager, cache, entry):
    traced, path = traced_and_cached(card, eager, cache, entry)
    model, built = lazy(card, eager)
    loaded, report = graph_cache.prepare(model, BATCH, 3, 64)
    assert report.used and report.graph_cache == f"loaded {path}"
    assert "stored with it" in report.reason  # checked against the stored softmax: no eager model needed
    assert not built, "loading a cached graph must not build the eager network"
    x = batch()
    p_traced, p_loaded, p_eager = probs(traced, x), probs(loaded, x), probs(eager, x)
    assert torch.equal(p_loaded.argmax(1), p_traced.argmax(1))
    assert torch.equal(p_loaded.argmax(1), p_eager.argmax(1))
    assert float((p_loaded * 255).round().sub((p_traced * 255).round()).abs().max()) <= 1
    # with the eager model in memory, a loaded graph is checked against it instead
    graph_cache.register_verified(eager, card.weights_sha256)
    _, report = graph_cache.prepare(eager, BATCH, 3, 64)
    assert report.used and report.graph_cache.startswith("loaded") and report.reason.endswith("the eager model")


def test_a_loaded_graph_runs_fused_even_when_fusion_was_off(card, eager, cache, entry):
    """oneDNN Graph fusion is process-wide and off by default: a graph loaded in a new process must
    switch it on itself, else it runs unfused (about 25 % slower, same outputs)."""
    traced_and_cached(card, eager, cache, entry)
    torch.jit.enable_onednn_fusion(False)  # a new process: nothing traced yet
    loaded, report = graph_cache.prepare(lazy(card, eager)[0], BATCH, 3, 64)
    assert report.used and report.graph_cache.startswith("loaded")
    probs(loaded, batch())
    assert "oneDNNFusionGroup" in str(torch.jit.last_executed_optimized_graph())


def test_corrupt_entry_is_ignored_with_a_note(card, eager, cache, entry, no_tracing):
    _, path = traced_and_cached(card, eager, cache, entry)
    path.write_bytes(b"not a torchscript archive" * 100)
    _, report = graph_cache.prepare(lazy(card, eager)[0], BATCH, 3, 64)
    assert "could not be read" in report.graph_cache and "ignored, traced afresh" in report.graph_cache
    assert len(no_tracing) == 1  # traced afresh instead


def test_entry_of_another_cpu_or_with_a_wrong_softmax_is_not_trusted(
    card, eager, cache, entry, no_tracing, monkeypatch
):
    _, path = traced_and_cached(card, eager, cache, entry)
    # the same file found under another CPU's key: the key stored inside it differs
    with monkeypatch.context() as m:
        m.setattr(graph_cache, "cpu_fingerprint", lambda: "another-cpu")
        model, _ = lazy(card, eager)
        other = graph_cache.entry_path(graph_cache.graph_key(model, BATCH, 3, 64))
        assert other != path
        other.write_bytes(path.read_bytes())
        _, report = graph_cache.prepare(model, BATCH, 3, 64)
        assert "made for another model, torch or CPU" in report.graph_cache
    # an entry whose graph does not give the stored softmax (tampered): ignored
    extra = {"meta.json": ""}
    module = torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["meta.json"])
    meta["probe_softmax"] = [[1.0] + [0.0] * (len(row) - 1) for row in meta["probe_softmax"]]
    torch.jit.save(module, str(path), _extra_files={"meta.json": json.dumps(meta)})
    _, report = graph_cache.prepare(lazy(card, eager)[0], BATCH, 3, 64)
    assert "differs from the eager model's softmax stored with it" in report.graph_cache
    assert len(no_tracing) == 2


def test_model_handed_in_by_a_caller_never_uses_the_disk_cache(card, cache):
    from eurosat_landcover.models.registry import build_model

    torch.manual_seed(0)
    from eurosat_landcover.models.checkpoint import LandCoverClassifier

    random = LandCoverClassifier(build_model(card.architecture, card.num_classes), card.mean, card.std, card=card)
    assert graph_cache.graph_key(random, BATCH, 3, 64) is None  # same card, other weights: no key
    assert not graph_cache.has_entry(random, BATCH, 3, 64)


def test_no_cache_folder_means_tracing_as_before(card, eager, no_tracing, monkeypatch):
    monkeypatch.setenv("EUROSAT_LANDCOVER_CACHE_DIR", "")
    model, _ = lazy(card, eager)
    _, report = graph_cache.prepare(model, BATCH, 3, 64)
    assert report.graph_cache.startswith("off") and len(no_tracing) == 1


def test_probe_step_keeps_window_softmax_whole_and_a_map_softmax_small():
    assert graph_cache.probe_step(torch.zeros(64, 10)) == 1  # window classifiers: every value, as before
    assert graph_cache.probe_step(torch.zeros(1, 10, 64, 64)) == 1
    step = graph_cache.probe_step(torch.zeros(4, 10, 256, 256))
    assert step > 1 and torch.zeros(4, 10, 256, 256)[..., ::step, ::step].numel() <= graph_cache.STORED_PROBE_VALUES


def test_map_model_entry_stores_its_probe_on_a_lattice_and_loads_without_the_network(cache, monkeypatch):
    """A per-pixel model's entry held its whole probe softmax (4 x 10 x 256 x 256 floats: a 74 MB file,
    1.3 s of JSON decoding on every map run); now a pixel lattice, still checked on loading."""
    from eurosat_landcover.models.checkpoint import default_map_card_path

    map_card = ModelCard.load(default_map_card_path())
    map_eager = load_weights(map_card, "cpu")
    model, _ = lazy(map_card, map_eager)
    _, report = graph_cache.prepare(model, 1, 3, 128)
    if not report.used:
        pytest.skip(f"no CPU fast path on this machine: {report.reason}")
    path = graph_cache.entry_path(graph_cache.graph_key(model, 1, 3, 128))
    extra = {"meta.json": ""}
    torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["meta.json"])
    assert meta["probe_step"] == 2 and torch.tensor(meta["probe_softmax"]).shape == (1, 10, 64, 64)
    model, built = lazy(map_card, map_eager)
    _, report = graph_cache.prepare(model, 1, 3, 128)
    assert report.used and report.graph_cache == f"loaded {path}" and "stored with it" in report.reason
    assert not built
    # a tampered lattice is caught (and not traced afresh here: the test's time)
    from eurosat_landcover.models import fast_path

    monkeypatch.setattr(fast_path, "trace_for_cpu", lambda m, *a: (m, fast_path.FastPathReport("eager", "skipped")))
    meta["probe_softmax"] = torch.full((1, 10, 64, 64), 0.1).tolist()
    torch.jit.save(torch.jit.load(str(path)), str(path), _extra_files={"meta.json": json.dumps(meta)})
    _, report = graph_cache.prepare(lazy(map_card, map_eager)[0], 1, 3, 128)
    assert "differs from the eager model's softmax stored with it" in report.graph_cache
