"""The engine's own pieces the window inspector uses: sampler, strip read, fill, radiometry, forward pass."""

from __future__ import annotations

import numpy as np

from .errors import ClassificationError


# From the engine's stage modules, so a window is read, scaled, validated and filled by the same code
# as in a run: core/stages/prepare.py (percentile sampler), core/strips.py (strip read + validity),
# core/batching.py (filling a partly valid window), core/stages/run_windows.py (the forward pass).
def _engine_sampler(wr, mapping):
    """The engine's sampler for the percentile stretch (one rule for runs and inspection)."""
    from .stages.prepare import percentile_sampler

    return percentile_sampler(wr, mapping)


def _read_strip(wr, radiometry, y: int, n: int):
    """The reader's strip read: (scaled float32 (C, n, W), valid (n, W)), the engine's validity rule."""
    from .strips import read_strip

    return read_strip(wr, radiometry, y, n)


def _fill_invalid(window: np.ndarray, mask: np.ndarray) -> None:
    """The reader's rule for a partly valid window: invalid pixels get the per-band mean of valid ones."""
    from .batching import fill_invalid

    fill_invalid(window, mask)


def radiometry_from_dict(d: dict, card):
    """Rebuild the run's scaler from the summary's ``radiometry`` entry (percentile limits included)."""
    from .radiometry import L2A_OFFSET, LINEAR_METHODS, Radiometry, make_radiometry

    method = d.get("method")
    if method == "percentile":
        if d.get("low") is None or d.get("high") is None:
            raise ClassificationError("the run summary has no percentile limits: re-run the classification")
        return Radiometry("percentile", low=list(d["low"]), high=list(d["high"]), reason=d.get("reason", ""))
    if method in LINEAR_METHODS:
        divisor = float(d.get("divisor") or card.sentinel2_dn_divisor)
        offset = float(d.get("offset", L2A_OFFSET if method == "sentinel2_l2a" else 0.0))  # older summaries
        return Radiometry(method, divisor=divisor, offset=offset, reason=d.get("reason", ""))
    return make_radiometry(method or "8bit", card, d.get("reason", ""))


def engine_softmax(model, device, x: np.ndarray) -> np.ndarray:
    """Softmax of ``model`` for ``x`` (N, C, p, p float32, 0-255) by the engine's forward pass
    (stages/run_windows.ModelRunner: channels-last on the device, bf16/fp16 autocast on GPU, softmax
    in float32): (N, K), or (N, K, p, p) for a per-pixel map model."""
    import torch

    from .stages.run_windows import ModelRunner

    with torch.inference_mode():
        return ModelRunner(model, device, max(1, len(x)), [])(torch.from_numpy(np.ascontiguousarray(x, np.float32)))


def engine_probabilities(model, device, x: np.ndarray) -> np.ndarray:
    """(N, K) class probabilities of windows ``x``; a per-pixel model's are averaged over the window."""
    probs = engine_softmax(model, device, x)
    return probs.mean(axis=(2, 3)) if probs.ndim == 4 else probs


def _rgb_indices(card) -> list[int]:
    roles = [r.lower() for r in (card.band_roles or [])]
    if all(r in roles for r in ("red", "green", "blue")):
        return [roles.index(r) for r in ("red", "green", "blue")]
    n = len(card.bands)
    return [0, 1, 2] if n >= 3 else [0, 0, 0]


def _srs(crs):
    from . import gdalutil

    return gdalutil.srs_from_user(crs)
