"""The CPU fast path (models/fast_path.py): a real traced + frozen + fused EfficientNet-Lite0,
checked against the eager model, and the fallbacks when tracing fails or disagrees."""

from __future__ import annotations

import platform

import pytest
import torch
from eurosat_landcover.models.checkpoint import LandCoverClassifier
from eurosat_landcover.models.fast_path import (
    AUTO_MIN_WINDOWS,
    TOLERANCE,
    X86_MACHINES,
    TracedClassifier,
    eager_reason,
    trace_for_cpu,
)
from eurosat_landcover.models.registry import build_model, eurosat_rgb_card
from torch import nn

needs_onednn = pytest.mark.skipif(
    not (torch.backends.mkldnn.is_available() and platform.machine().lower() in X86_MACHINES),
    reason="oneDNN Graph fusion is an x86 CPU feature",
)


@pytest.fixture(scope="module")
def lite0():
    torch.manual_seed(0)
    card = eurosat_rgb_card("tf_efficientnet_lite0", "random_lite0", title="random weights")
    return LandCoverClassifier(build_model("tf_efficientnet_lite0"), card.mean, card.std, card).eval()


def _batch(n, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 64, 64), generator=gen).float()


@needs_onednn
def test_traced_lite0_matches_the_eager_model_for_every_batch_size(lite0):
    traced, report = trace_for_cpu(lite0, 8, bands=3, patch=64)
    assert isinstance(traced, TracedClassifier) and report.used
    assert report.path == "torchscript+onednn" and report.batch_size == 8
    assert report.max_softmax_difference <= TOLERANCE and report.prepare_seconds > 0
    with torch.inference_mode():
        for n in (8, 3, 1, 19):  # full, padded, padded, split into 8 + 8 + 3
            x = _batch(n, seed=n)
            got, want = torch.softmax(traced(x), 1), torch.softmax(lite0(x), 1)
            assert got.shape == (n, 10)
            assert float((got - want).abs().max()) <= TOLERANCE
            assert torch.equal(got.argmax(1), want.argmax(1))


class _FailsWhenTraced(nn.Module):
    def forward(self, x):
        if torch.jit.is_tracing():
            raise RuntimeError("cannot be traced")
        return x.mean(dim=(2, 3)).repeat(1, 4)[:, :10]


class _DiffersWhenTraced(nn.Module):
    def forward(self, x):
        logits = x.mean(dim=(2, 3)).repeat(1, 4)[:, :10] / 50.0
        return logits * 3.0 if torch.jit.is_tracing() else logits


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (_FailsWhenTraced(), "could not be built or run (RuntimeError: cannot be traced)"),
        (_DiffersWhenTraced(), "differs"),
    ],
)
def test_a_module_that_cannot_be_traced_faithfully_stays_eager(model, words):
    runner, report = trace_for_cpu(model, 4, bands=3, patch=64)
    assert runner is model and not report.used and report.path == "eager"
    assert words in report.reason


def test_when_the_fast_path_is_taken(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert eager_reason("auto", "cpu", AUTO_MIN_WINDOWS) is None
    assert eager_reason("on", "cpu", 1) is None
    assert "too few" in eager_reason("auto", "cpu", AUTO_MIN_WINDOWS - 1)
    assert eager_reason("off", "cpu", 10**6) == "fast_path=off"
    assert "cuda run" in eager_reason("on", "cuda", 10**6)
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    assert "measured on x86-64 only" in eager_reason("auto", "cpu", AUTO_MIN_WINDOWS)
    assert eager_reason("on", "cpu", 1) is None


class _PadsToAlign(nn.Module):
    """A Python branch on the input's size, as models/map_net.py's forward pads to its alignment."""

    def forward(self, x):
        h, w = x.shape[-2:]
        ph, pw = (-h) % 32, (-w) % 32
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph))
        return x.mean(dim=(2, 3)).repeat(1, 4)[:, :10] / 50.0


@needs_onednn
def test_tracing_a_size_branch_prints_no_tracer_warning():
    """The first map run printed torch's TracerWarning ("... might cause the trace to be incorrect") on stderr:
    the branch is fixed for the traced shape, and the traced module is checked against the eager one."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _traced, report = trace_for_cpu(_PadsToAlign(), 2, bands=3, patch=64)
    assert report.used, report.reason
    assert not [w for w in seen if issubclass(w.category, torch.jit.TracerWarning)], [str(w.message) for w in seen]
