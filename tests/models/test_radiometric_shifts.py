"""The fixed evaluation shifts: same result on numpy and torch, and each changes the image as documented."""

import numpy as np
import pytest
import torch
from eurosat_landcover.models.radiometric_shifts import SHIFT_NAMES, apply_shift


def _patch():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, size=(2, 8, 8, 3)).astype(np.float32)


@pytest.mark.parametrize("name", SHIFT_NAMES)
def test_numpy_and_torch_agree_and_stay_in_range(name):
    x = _patch()
    a = apply_shift(name, x, channel_axis=-1)
    b = apply_shift(name, torch.from_numpy(x).permute(0, 3, 1, 2), channel_axis=1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)
    assert a.min() >= 0 and a.max() <= 255
    assert not np.allclose(a, x)


def test_each_shift_moves_the_image_the_documented_way():
    x = np.full((1, 4, 4, 3), 60.0, dtype=np.float32)
    hazy = apply_shift("haze", x)
    assert (hazy > x).all() and hazy[..., 2].mean() > hazy[..., 0].mean()  # brighter and bluer
    sr = apply_shift("surface_reflectance", x)
    assert (sr < x).all() and sr[..., 2].mean() < sr[..., 0].mean()  # darker, most in blue
    warm = apply_shift("season", x)
    assert warm[..., 0].mean() > warm[..., 2].mean()  # red over blue
    assert apply_shift("none", x) is x


def test_unknown_shift_is_refused_with_the_names():
    with pytest.raises(ValueError, match="haze"):
        apply_shift("fog", _patch())
