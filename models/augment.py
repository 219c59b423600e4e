"""Training-time augmentation of EuroSAT batches, on any device (see :func:`augment_batch`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

_COS = torch.tensor([1.0, 0.0, -1.0, 0.0])
_SIN = torch.tensor([0.0, 1.0, 0.0, -1.0])


def augment_batch(
    x: torch.Tensor,
    zoom: tuple[float, float] = (0.85, 1.0),
    zoom_p: float = 0.5,
    jitter: float = 0.1,
) -> torch.Tensor:
    """Augment a float batch N x C x H x W on the 0-255 scale (any device).

    Overhead imagery has no "up": each sample gets one of the 8 dihedral transforms
    (90 degree rotations x flip), with probability ``zoom_p`` a mild zoom-in (sampling a
    ``zoom`` fraction of the side, randomly placed), and brightness/contrast factors in
    ``1 +- jitter``.  One ``grid_sample`` for the geometry: exact for pure rotations/flips.
    """
    n = x.shape[0]
    dev = x.device
    k = torch.randint(0, 4, (n,), device=dev)
    cos, sin = _COS.to(dev)[k], _SIN.to(dev)[k]
    flip = torch.randint(0, 2, (n,), device=dev).float() * 2 - 1
    scale = torch.ones(n, device=dev)
    if zoom_p > 0 and zoom[0] < 1:
        use = torch.rand(n, device=dev) < zoom_p
        scale = torch.where(use, torch.empty(n, device=dev).uniform_(*zoom), scale)
    shift = 1 - scale
    tx = (torch.rand(n, device=dev) * 2 - 1) * shift
    ty = (torch.rand(n, device=dev) * 2 - 1) * shift
    theta = torch.stack(
        [
            torch.stack([scale * cos * flip, -scale * sin, tx], 1),
            torch.stack([scale * sin * flip, scale * cos, ty], 1),
        ],
        1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if jitter > 0:
        b = 1 + (torch.rand(n, 1, 1, 1, device=dev, dtype=x.dtype) * 2 - 1) * jitter
        ct = 1 + (torch.rand(n, 1, 1, 1, device=dev, dtype=x.dtype) * 2 - 1) * jitter
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * ct + mean) * b
    return x.clamp_(0, 255)
