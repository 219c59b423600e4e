"""Fixed, documented radiometric shifts of EuroSAT-scale RGB (0-255, B04/B03/B02) for evaluation.

The bundled model learned Sentinel-2 L1C top-of-atmosphere reflectance mapped as ``DN / 2750 * 255``.
Analysts load imagery that differs from that in mild, realistic ways; each shift below is one such
difference, applied to the held-out EuroSAT test patches to measure how robust a model is
(``python -m eurosat_landcover.models.evaluate --shift NAME``). They are evaluation definitions:
training augmentation draws from wider random families and never uses these exact parameters.

- ``haze``: a thin haze layer, ``x (1 - t) + t A`` with t = 0.2 and a bluish-white airlight
  A = (190, 195, 210): brighter, lower contrast, bluer.
- ``surface_reflectance``: an L2A-like rendering: the atmosphere's path reflectance removed
  (about 0.013 / 0.019 / 0.030 reflectance in red / green / blue = 12 / 18 / 28 on the 8-bit scale)
  and a slight transmittance gain, so the image is darker, most of all in blue.
- ``season``: a late-summer colour cast: per-band gains (1.10, 1.02, 0.88) and gamma 0.9.

Every function takes float arrays or tensors on the 0-255 scale with the colour channel on
``channel_axis`` (numpy or torch) and returns a new array of the same kind, clipped to 0-255.
"""

from __future__ import annotations

from typing import Any, Callable

SHIFT_NAMES = ("haze", "surface_reflectance", "season")


def _per_channel(values, x, channel_axis: int):
    """``values`` (one per channel) shaped to broadcast against ``x`` along ``channel_axis``."""
    shape = [1] * x.ndim
    shape[channel_axis] = len(values)
    if hasattr(x, "new_tensor"):  # torch
        return x.new_tensor(values).reshape(shape)
    import numpy as np

    return np.asarray(values, dtype=x.dtype).reshape(shape)


def _clip(x):
    return x.clamp(0, 255) if hasattr(x, "clamp") else x.clip(0, 255)


def haze(x: Any, channel_axis: int = -1) -> Any:
    """Thin haze: blend 20 % of a bluish-white airlight into every pixel."""
    t = 0.2
    return _clip(x * (1 - t) + t * _per_channel((190.0, 195.0, 210.0), x, channel_axis))


def surface_reflectance(x: Any, channel_axis: int = -1) -> Any:
    """L2A-like: path reflectance removed per band, slight transmittance gain (darker, least in red)."""
    path = _per_channel((12.0, 18.0, 28.0), x, channel_axis)
    gain = _per_channel((1.02, 1.04, 1.06), x, channel_axis)
    return _clip((x - path) * gain)


def season(x: Any, channel_axis: int = -1) -> Any:
    """Late-summer colour cast: warmer gains and a gamma of 0.9."""
    gains = _per_channel((1.10, 1.02, 0.88), x, channel_axis)
    y = _clip(x) / 255.0
    return _clip((y**0.9) * 255.0 * gains)


SHIFTS: dict[str, Callable[..., Any]] = {
    "haze": haze,
    "surface_reflectance": surface_reflectance,
    "season": season,
}


def apply_shift(name: str, x: Any, channel_axis: int = -1) -> Any:
    """Apply the shift called ``name`` (one of :data:`SHIFT_NAMES`); ``"none"`` returns ``x`` unchanged."""
    if name == "none":
        return x
    try:
        fn = SHIFTS[name]
    except KeyError:
        raise ValueError(f"unknown radiometric shift {name!r}: use one of none, {', '.join(SHIFT_NAMES)}") from None
    return fn(x, channel_axis=channel_axis)
