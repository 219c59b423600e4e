"""Dense mode prototype (models/dense.py): with one window per tile it is exactly the window
classifier (the pooling and the head are right); over larger tiles it differs (measured by
benchmarks/bench_dense.py, not asserted)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from eurosat_landcover.models.card import ModelCard  # noqa: E402
from eurosat_landcover.models.checkpoint import default_card_path, load_weights  # noqa: E402
from eurosat_landcover.models.dense import DenseClassifier, exact_windows, stage_stride  # noqa: E402


@pytest.fixture(scope="module")
def card():
    return ModelCard.load(default_card_path())


@pytest.mark.parametrize("stride, shared", [(32, None), (16, 3)])
def test_one_window_per_tile_is_the_exact_window(card, stride, shared):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (3, 64 + stride, 64 + stride)).astype(np.float32)  # 2 x 2 windows
    dense = DenseClassifier(card, stride, shared_stages=shared)
    exact = exact_windows(load_weights(card, "cpu"), image, stride)
    one = dense.classify(image, tile_windows=1)
    assert one.shape == exact.shape == (card.num_classes, 2, 2)
    assert np.abs(one - exact).max() < 1e-4
    whole = dense.classify(image)  # one tile: the windows share their features (not asserted equal)
    assert whole.shape == exact.shape and np.allclose(whole.sum(0), 1, atol=1e-5)


def test_stage_strides_and_refusals(card):
    assert [stage_stride(k) for k in range(8)] == [2, 2, 4, 8, 16, 16, 32, 32]
    with pytest.raises(ValueError, match="no whole cells"):
        DenseClassifier(card, 8, shared_stages=4)  # features at stride 16 cannot start windows every 8 px
