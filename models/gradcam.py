"""Grad-CAM heat maps for any architecture of the registry, through captum's ``LayerGradCam``.

``grad_cam(model, x, targets)`` takes what the engine feeds the model (float N x C x H x W on the
0-255 scale, or uint8) and returns one heat map per image at the input's size, 0..1: where the
evidence *for* the target class lies (Selvaraju et al. 2017: the target's gradient, averaged per
channel, weights the channels of a convolutional layer; ReLU; bilinear upsampling).

The layer per architecture is ``ArchitectureSpec.cam_layer`` in the registry. It is the stride-16
stage (4 x 4 cells for a 64 px window), not the last stage (2 x 2): measured with the bundled
Lite0 on 40 patches made of half a real EuroSAT Forest image and half a SeaLake image (both
orders; ``scripts/gradcam_layers.py``), ``blocks.4`` put the Forest map on the forest half and the
SeaLake map on the water half in 40 of 40, the last stage (``bn2``, 2 x 2) in 2 of 40: at 64 px its
four cells each see almost the whole window.

captum is optional (``requirements.txt``): it is imported inside the functions that need it, so
the plugin and the engine import without it; :func:`is_available` / :class:`GradCamUnavailable`
say so in one line. The device is the model's (callers pick it with ``models.devices``); the pass
runs in float32 without autocast, with gradients on even when called inside ``inference_mode``.
No Qt, no QGIS.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..errors import ReadableError

INSTALL_HINT = 'python -m pip install "captum>=0.8,<0.10"'


class GradCamUnavailable(ReadableError, RuntimeError):
    """captum is not installed; the message says how to install it."""


def is_available() -> bool:
    """True when captum can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("captum") is not None
    except (ImportError, ValueError):
        return False


def _captum():
    try:
        from captum.attr import LayerAttribution, LayerGradCam
    except ImportError as exc:
        raise GradCamUnavailable(
            f"Grad-CAM heat maps need the Python package captum ({exc}); install it with: {INSTALL_HINT}"
        ) from None
    return LayerGradCam, LayerAttribution


def cam_layer_name(architecture: str) -> str:
    """The registry's Grad-CAM layer for ``architecture`` (a dotted module path of the raw network)."""
    from .registry import get_spec

    name = get_spec(architecture).cam_layer
    if not name:
        raise ValueError(f"the registry names no Grad-CAM layer for {architecture!r}")
    return name


def _network(model):
    return getattr(model, "net", model)


def target_layer(model, layer: Optional[str] = None):
    """``(name, module)`` of the Grad-CAM layer of ``model`` (a LandCoverClassifier or a raw network)."""
    if layer is None:
        card = getattr(model, "card", None)
        if card is None:
            raise ValueError("the model carries no card: pass the Grad-CAM layer name explicitly")
        layer = cam_layer_name(card.architecture)
    try:
        return layer, _network(model).get_submodule(layer)
    except AttributeError:
        raise ValueError(f"the model has no module {layer!r} to compute Grad-CAM on") from None


@dataclass
class GradCamResult:
    heatmaps: np.ndarray  # (N, H, W) float32 in 0..1, each map divided by its own maximum
    raw: np.ndarray  # (N, h, w) float32 at the layer's resolution, after ReLU, not normalised
    targets: list[int]  # the class each map explains
    probabilities: np.ndarray  # (N, K) float32 softmax of the same float32 forward pass
    layer: str
    device: str

    @property
    def empty(self) -> np.ndarray:
        """(N,) bool: maps with no positive evidence at all (all zero)."""
        return self.raw.reshape(len(self.raw), -1).max(axis=1) <= 0


def grad_cam(
    model,
    x,
    targets: Union[int, Sequence[int], None] = None,
    layer: Optional[str] = None,
) -> GradCamResult:
    """Grad-CAM of ``model`` for ``x`` (N x C x H x W, 0-255, numpy or tensor; a single C x H x W too).

    ``targets``: class index per image, one index for all, or None for each image's top class.
    Runs on the model's device; raises :class:`GradCamUnavailable` without captum.
    """
    import torch

    LayerGradCam, LayerAttribution = _captum()
    name, module = target_layer(model, layer)
    device = next(model.parameters()).device
    with torch.inference_mode(False), torch.enable_grad():
        xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach().clone())
        if xt.dim() == 3:
            xt = xt.unsqueeze(0)
        xt = xt.to(device=device, dtype=torch.float32).clone().requires_grad_(True)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                probs = torch.softmax(model(xt).float(), dim=1)
            n = xt.shape[0]
            if targets is None:
                tlist = probs.argmax(dim=1).tolist()
            elif isinstance(targets, (int, np.integer)):
                tlist = [int(targets)] * n
            else:
                tlist = [int(t) for t in targets]
            if len(tlist) != n:
                raise ValueError(f"{len(tlist)} targets for {n} images")
            k = probs.shape[1]
            bad = [t for t in tlist if not 0 <= t < k]
            if bad:
                raise ValueError(f"class index {bad[0]} is out of range (the model has {k} classes)")
            cam = LayerGradCam(model, module)
            attr = cam.attribute(xt, target=tlist, relu_attributions=True)
            raw = attr.detach().float()
            up = LayerAttribution.interpolate(raw, tuple(xt.shape[-2:]), "bilinear").clamp_min(0)
        finally:
            model.train(was_training)
    raw_np = raw[:, 0].cpu().numpy().astype(np.float32)
    up_np = up[:, 0].cpu().numpy().astype(np.float32)
    peak = up_np.reshape(len(up_np), -1).max(axis=1)
    heat = np.where(peak[:, None, None] > 0, up_np / np.maximum(peak, 1e-12)[:, None, None], 0.0).astype(np.float32)
    return GradCamResult(
        heatmaps=heat,
        raw=raw_np,
        targets=tlist,
        probabilities=probs.detach().cpu().numpy().astype(np.float32),
        layer=name,
        device=str(device),
    )


# ------------------------------------------------------------------------------ pictures
# "Turbo" (Google, Apache-2.0), sampled at 9 points and interpolated: dark blue -> red.
_TURBO_ANCHORS = np.array(
    [
        (48, 18, 59),
        (70, 107, 227),
        (40, 187, 236),
        (50, 241, 152),
        (164, 252, 60),
        (237, 208, 58),
        (251, 128, 34),
        (208, 47, 5),
        (122, 4, 3),
    ],
    dtype=np.float32,
)


def colormap_lut() -> np.ndarray:
    """256 x 3 uint8 colour table (turbo) used for every heat map picture and layer."""
    pos = np.linspace(0, 1, len(_TURBO_ANCHORS))
    t = np.linspace(0, 1, 256)
    lut = np.stack([np.interp(t, pos, _TURBO_ANCHORS[:, c]) for c in range(3)], axis=1)
    return np.round(lut).astype(np.uint8)


def colorize(heat: np.ndarray) -> np.ndarray:
    """H x W heat map 0..1 -> H x W x 3 uint8 (turbo)."""
    idx = np.clip(np.round(np.nan_to_num(heat) * 255), 0, 255).astype(np.uint8)
    return colormap_lut()[idx]


def overlay(rgb: np.ndarray, heat: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend the coloured heat map over the patch: ``(1 - a) * rgb + a * colour`` with
    ``a = opacity * heat`` (no evidence leaves the patch as it is). uint8 H x W x 3."""
    a = (float(np.clip(opacity, 0.0, 1.0)) * np.clip(np.nan_to_num(heat), 0, 1))[..., None]
    out = (1.0 - a) * rgb.astype(np.float32) + a * colorize(heat).astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
