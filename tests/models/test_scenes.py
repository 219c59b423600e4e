"""Composed scenes (models/scenes.py): the truth is exactly where each class's patches were put."""

from __future__ import annotations

import numpy as np
from eurosat_landcover.models.dataset import EUROSAT_CLASSES
from eurosat_landcover.models.scenes import PatchBank, band_mask, fill, training_scene, voronoi_layout


def _bank():
    """Three patches per class, each filled with the value 20 * class + 1."""
    labels = np.repeat(np.arange(10), 3)
    images = np.repeat((20 * labels + 1).astype(np.uint8)[:, None, None, None], 64, axis=2)
    return PatchBank(np.ascontiguousarray(np.broadcast_to(images, (30, 3, 64, 64))), labels)


def test_training_scenes_truth_matches_the_pixels():
    rng = np.random.default_rng(1)
    bank = _bank()
    kinds = set()
    for _ in range(12):
        image, truth = training_scene(rng, bank, 160, list(EUROSAT_CLASSES))
        assert image.shape == (3, 160, 160) and truth.shape == (160, 160)
        # the radiometric jitter is one affine map per band: each class keeps one value of its own
        values = [np.unique(image[0][truth == k]) for k in np.unique(truth)]
        assert all(v.size == 1 for v in values) and len({int(v[0]) for v in values}) == len(values)
        kinds.add(len(values) > 1)
    assert True in kinds


def test_regions_are_about_the_asked_size_and_bands_are_thin():
    rng = np.random.default_rng(2)
    ids = voronoi_layout(rng, 640, 640, 160, warp=0.25)
    n = len(np.unique(ids))
    assert 10 <= n <= 30  # (640 / 160)^2 = 16 regions of about 160 px
    band = band_mask(rng, 256, 256, 40)
    assert 0.05 < band.mean() < 0.4
    classes = rng.integers(0, 10, n)
    ids = np.unique(ids, return_inverse=True)[1].reshape(ids.shape)
    image = fill(rng, _bank(), ids, classes, dihedral=False)
    assert np.array_equal((image[0] - 1) // 20, classes[ids])
