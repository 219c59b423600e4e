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
    radiometric: float = 0.0,
    texture: float = 0.0,
    texture_sigma: tuple[float, float] | None = None,
    texture_only: torch.Tensor | None = None,
) -> torch.Tensor:
    """Augment a float batch N x C x H x W on the 0-255 scale (any device).

    Overhead imagery has no "up": each sample gets one of the 8 dihedral transforms
    (90 degree rotations x flip), with probability ``zoom_p`` a mild zoom-in (sampling a
    ``zoom`` fraction of the side, randomly placed), and brightness/contrast factors in
    ``1 +- jitter``.  One ``grid_sample`` for the geometry: exact for pure rotations/flips.
    With ``radiometric`` > 0, that share of the samples also gets :func:`radiometric_batch`; with
    ``texture`` > 0, that share (drawn independently) gets :func:`texture_batch` (of the samples where the
    boolean ``texture_only`` is true, when given: e.g. the open-water samples).
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
    return pixel_changes(x.clamp_(0, 255), radiometric, texture, texture_sigma, texture_only)


def pixel_changes(x, radiometric: float, texture: float, texture_sigma=None, texture_only=None) -> torch.Tensor:
    """The label-preserving part of the augmentation: :func:`radiometric_batch` on a share ``radiometric`` of
    the batch, then :func:`texture_batch` on a share ``texture`` (of the ``texture_only`` samples, when given)."""
    x = radiometric_batch(x, p=radiometric) if radiometric > 0 else x
    if texture <= 0:
        return x
    sigma = TEXTURE_DEFAULTS["sigma"] if texture_sigma is None else tuple(texture_sigma)
    return texture_batch(x, p=texture, only=texture_only, sigma=sigma)


# Sensor texture: EuroSAT's RGB patches are JPEG files, whose compression smooths the faint pixel-level
# texture of dark, uniform surfaces (open water: ~0.8 mean neighbour difference on the 8-bit scale), while a
# GeoTIFF export of a real product keeps it (rough sea in real L2A: 1.8-2.9, like forest canopy). A model
# that learned "fine texture = Forest" calls rough open water Forest (benchmarks/diag_sea.py); noise drawn
# per sample teaches it that this texture says nothing about the class.
TEXTURE_DEFAULTS = {
    "sigma": (0.5, 3.5),  # standard deviation of the added noise (8-bit scale)
    "correlated_p": 0.5,  # share whose noise is smoothed once ([1, 2, 1] / 4, re-scaled): wave-like grain
    "band_shared_p": 0.5,  # share whose noise is the same in the three bands (brightness grain)
}


def _smooth_once(x: torch.Tensor) -> torch.Tensor:
    """[1, 2, 1] / 4 along both axes, edges reflected."""
    k = torch.tensor([0.25, 0.5, 0.25], device=x.device, dtype=x.dtype)
    c = x.shape[1]
    y = F.pad(x, (1, 1, 1, 1), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, 3).expand(c, 1, 1, 3).contiguous(), groups=c)
    return F.conv2d(y, k.view(1, 1, 3, 1).expand(c, 1, 3, 1).contiguous(), groups=c)


def texture_batch(x: torch.Tensor, p: float = 0.5, only: torch.Tensor | None = None, **overrides) -> torch.Tensor:
    """Add sensor-like pixel noise to a share ``p`` of a batch N x C x H x W on the 0-255 scale.

    Each chosen sample draws a standard deviation in ``sigma``; its noise is white or smoothed once
    (``correlated_p``, re-scaled to the same deviation) and per band or shared by the bands
    (``band_shared_p``). ``only`` (N booleans) limits the choice to those samples. Keyword arguments
    override :data:`TEXTURE_DEFAULTS`.
    """
    cfg = {**TEXTURE_DEFAULTS, **overrides}
    n = x.shape[0]
    if n == 0 or p <= 0:
        return x
    noise = torch.randn_like(x)
    shared = _chosen(n, cfg["band_shared_p"], x)
    noise = torch.where(shared, noise[:, :1].expand_as(noise), noise)
    smooth = _smooth_once(noise)
    smooth = smooth / smooth.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    noise = torch.where(_chosen(n, cfg["correlated_p"], x), smooth, noise)
    sigma = _draw(n, cfg["sigma"], x)
    chosen = _chosen(n, p, x)
    if only is not None:
        chosen = chosen & only.to(x.device).view(n, 1, 1, 1)
    return torch.where(chosen, x + noise * sigma, x).clamp(0, 255)


# Radiometric augmentation: wider random families around what analysts load (haze, L1C vs L2A-like
# path reflectance, sensor gain / colour cast, gamma). models/radiometric_shifts.py holds the fixed
# evaluation shifts; these draws are continuous and never use its exact parameters.
RADIOMETRIC_DEFAULTS = {
    "p": 0.5,  # share of samples that get any radiometric change (the rest stay clean)
    "haze_p": 0.4,
    "haze_t": (0.03, 0.35),  # airlight blend weight
    "haze_level": (150.0, 245.0),  # airlight brightness (red); green/blue add a bluish tilt
    "haze_tilt": (0.0, 35.0),
    "path_p": 0.4,
    "path_blue": (-10.0, 45.0),  # path reflectance removed in blue (8-bit scale); < 0 adds some
    "path_ratio": (0.3, 0.8),  # green = blue x r, red = green x r: strongest in blue
    "path_gain": (0.97, 1.12),  # transmittance gain after the offset
    "gain_p": 0.5,
    "gain": (0.8, 1.2),  # independent per-band gains
    "gamma_p": 0.4,
    "gamma": (0.75, 1.3),
}


def _draw(n: int, lo_hi: tuple[float, float], ref: torch.Tensor, bands: int = 1) -> torch.Tensor:
    """``n x bands x 1 x 1`` uniform draws in ``lo_hi``, shaped to broadcast over a batch like ``ref``."""
    lo, hi = lo_hi
    return torch.empty(n, bands, 1, 1, device=ref.device, dtype=ref.dtype).uniform_(lo, hi)


def _chosen(n: int, p: float, ref: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, device=ref.device) < p


def radiometric_batch(x: torch.Tensor, **overrides) -> torch.Tensor:
    """Random radiometric changes of an RGB (B04/B03/B02) batch N x 3 x H x W on the 0-255 scale.

    A share ``p`` of the samples is changed; each of those draws independently, in this order:
    per-band gains (``gain``), a gamma (``gamma``), a path-reflectance offset strongest in blue
    (``path_*``: removed = L2A-like darkening, or added), and a haze blend ``x (1-t) + t A`` with a
    bluish airlight (``haze_*``). Keyword arguments override :data:`RADIOMETRIC_DEFAULTS`.
    """
    cfg = {**RADIOMETRIC_DEFAULTS, **overrides}
    n = x.shape[0]
    if n == 0 or cfg["p"] <= 0:
        return x
    use = _chosen(n, cfg["p"], x)
    y = x
    gain = _draw(n, cfg["gain"], x, 3)
    y = torch.where(use & _chosen(n, cfg["gain_p"], x), y * gain, y).clamp(0, 255)
    gamma = _draw(n, cfg["gamma"], x)
    y = torch.where(use & _chosen(n, cfg["gamma_p"], x), (y / 255.0) ** gamma * 255.0, y)
    blue = _draw(n, cfg["path_blue"], x)
    ratio = _draw(n, cfg["path_ratio"], x)
    path = torch.cat([blue * ratio * ratio, blue * ratio, blue], dim=1)  # red, green, blue
    darker = (y - path) * _draw(n, cfg["path_gain"], x)
    y = torch.where(use & _chosen(n, cfg["path_p"], x), darker, y).clamp(0, 255)
    level = _draw(n, cfg["haze_level"], x)
    tilt = _draw(n, cfg["haze_tilt"], x)
    airlight = torch.cat([level, level + tilt * 0.4, level + tilt], dim=1).clamp(0, 255)
    t = _draw(n, cfg["haze_t"], x)
    hazy = y * (1 - t) + t * airlight
    y = torch.where(use & _chosen(n, cfg["haze_p"], x), hazy, y)
    return y.clamp(0, 255)


def augment_for_training(x: torch.Tensor, labels: torch.Tensor, args, classes: list) -> torch.Tensor:
    """:func:`augment_batch` as a training run's options ask (models/train.py's arguments): geometry, jitter,
    ``--radiometric``, ``--texture`` with its ``--texture-sigma`` and ``--texture-classes`` (names of
    ``classes``, the run's output order; ``labels`` say which samples are of them)."""
    texture = getattr(args, "texture", 0.0) or 0.0
    names = getattr(args, "texture_classes", None)
    only = None
    if texture > 0 and names:
        only = torch.isin(labels, torch.tensor([classes.index(c) for c in names], device=labels.device))
    return augment_batch(
        x,
        tuple(args.zoom),
        jitter=args.jitter,
        radiometric=getattr(args, "radiometric", 0.0) or 0.0,
        texture=texture,
        texture_sigma=getattr(args, "texture_sigma", None),
        texture_only=only,
    )


def add_photometric_arguments(parser) -> None:
    """The training options for label-preserving pixel changes (``--radiometric``, ``--texture``,
    ``--texture-sigma``), shared by the classifier's and the map model's training."""
    parser.add_argument(
        "--radiometric",
        type=float,
        default=0.0,
        help="share of training samples given random haze / path offset / band gains / gamma (0 = off)",
    )
    parser.add_argument(
        "--texture",
        type=float,
        default=0.0,
        help="share of training samples given sensor-like pixel noise (real GeoTIFF texture; 0 = off)",
    )
    parser.add_argument(
        "--texture-sigma",
        type=float,
        nargs=2,
        default=TEXTURE_DEFAULTS["sigma"],
        metavar=("MIN", "MAX"),
        help="range of the noise's standard deviation, 8-bit scale (with --texture)",
    )


def photometric_for_training(x: torch.Tensor, args) -> torch.Tensor:
    """Only the pixel-wise part of the training augmentation (``--radiometric``, then ``--texture``), for
    batches whose labels are per pixel (the map model's scenes), where geometry would move the labels."""
    radiometric = getattr(args, "radiometric", 0.0) or 0.0
    return pixel_changes(x, radiometric, getattr(args, "texture", 0.0) or 0.0, getattr(args, "texture_sigma", None))
