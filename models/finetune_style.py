"""The analyst's look: a colour response fitted from their labelled windows, to render replay patches in it.

An analyst's imagery differs from EuroSAT mostly in its colour response (sensor, atmosphere, processing).
Their few labelled windows show that response per class; EuroSAT training patches of the same classes show
the model's. :func:`fit_style` fits a small sensor-response model mapping EuroSAT colours to the analyst's

    y = clip(clip(M x, 0, 1) ** gamma * gain + offset, 0, 1)     (x, y: RGB on 0-1; M 3 x 3, per-band rest)

by matching, class by class, the quantiles of each band and of the band differences (saturation) of the
analyst's pixels with those of the rendered EuroSAT pixels. :func:`render` then renders any EuroSAT patch
as the analyst's imagery would show it: fine-tuning trains on many such patches with their known classes,
not only on the analyst's few, while the plain patches keep what the model knew.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

QUANTILES = torch.linspace(0.05, 0.95, 9)
PIXELS_PER_CLASS = 1024


@dataclass
class Style:
    """A fitted colour response (see the module docstring); ``loss`` is the quantile misfit after fitting."""

    matrix: list
    gamma: list
    gain: list
    offset: list
    loss: float = 0.0
    loss_identity: float = 0.0

    def to_dict(self) -> dict:
        return {k: np.round(np.asarray(v), 4).tolist() for k, v in asdict(self).items()}


def _params(style: Style) -> tuple[torch.Tensor, ...]:
    return tuple(
        torch.as_tensor(np.asarray(v, np.float32)) for v in (style.matrix, style.gamma, style.gain, style.offset)
    )


def _apply(x: torch.Tensor, m, gamma, gain, offset) -> torch.Tensor:
    """(..., 3) colours on 0-1 -> the same in the fitted response."""
    y = (x @ m.T).clamp(1e-4, 1.0) ** gamma
    return (y * gain + offset).clamp(0.0, 1.0)


def _describe(px: torch.Tensor) -> torch.Tensor:
    """Quantiles of each band and of the three band differences of (n, 3) pixels -> (6, q)."""
    feats = torch.cat([px, px[:, [0]] - px[:, [1]], px[:, [1]] - px[:, [2]], px[:, [0]] - px[:, [2]]], 1)
    return torch.quantile(feats, QUANTILES, dim=0).T


def _pixels(x: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """Up to PIXELS_PER_CLASS random pixels (n, 3) on 0-1 of patches (k, 3, h, w) on 0-255."""
    flat = np.asarray(x, np.float32).transpose(0, 2, 3, 1).reshape(-1, 3)
    take = rng.choice(len(flat), size=min(PIXELS_PER_CLASS, len(flat)), replace=False)
    return torch.as_tensor(flat[take] / 255.0)


def fit_style(x, y, replay_x, replay_y, steps: int = 150, seed: int = 0) -> Style:
    """Fit the analyst's colour response from their windows ``x`` (n, 3, p, p; 0-255) of classes ``y`` and
    EuroSAT patches ``replay_x`` of classes ``replay_y`` (only classes present in both count, each equally).
    One thread: these small sorts gain nothing from more, and on a busy CPU threads wait on each other
    (3 s of CPU took 130 s with 2 threads on the shared 2-core machine, 20 s with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(x, y, replay_x, replay_y, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(x, y, replay_x, replay_y, steps: int, seed: int) -> Style:
    rng = np.random.default_rng(seed)
    y, replay_y = np.asarray(y), np.asarray(replay_y)
    pairs = []
    for c in np.unique(y):
        if (replay_y == c).any():
            pairs.append((_pixels(replay_x[replay_y == c], rng), _describe(_pixels(x[y == c], rng))))
    m = torch.eye(3, requires_grad=True)
    log_gamma = torch.zeros(3, requires_grad=True)
    gain = torch.ones(3, requires_grad=True)
    offset = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([m, log_gamma, gain, offset], lr=0.01)

    def misfit() -> torch.Tensor:
        losses = [((_describe(_apply(src, m, log_gamma.exp(), gain, offset)) - q) ** 2).mean() for src, q in pairs]
        return torch.stack(losses).mean()

    with torch.no_grad():
        identity = float(misfit()) if pairs else 0.0
    for _ in range(steps if pairs else 0):
        opt.zero_grad()
        loss = misfit() + 1e-3 * ((m - torch.eye(3)) ** 2).sum()  # a little pull towards no mixing
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(misfit()) if pairs else 0.0
    d = [t.detach().numpy().tolist() for t in (m, log_gamma.exp(), gain, offset)]
    return Style(*d, loss=final, loss_identity=identity)


def render(style: Style, x: torch.Tensor) -> torch.Tensor:
    """Patches (n, 3, h, w) on 0-255 rendered in ``style`` (same shape and scale)."""
    m, gamma, gain, offset = _params(style)
    y = _apply(x.permute(0, 2, 3, 1) / 255.0, m, gamma, gain, offset)
    return (y * 255.0).permute(0, 3, 1, 2).contiguous()
