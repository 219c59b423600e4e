"""Weights-only checkpoints (safetensors + JSON card) and the normalising classifier wrapper.

Safety: weights are read with ``safetensors`` (no code execution possible) or, for
``.pt/.pth`` state dicts, with ``torch.load(..., weights_only=True)``; anything holding
pickled Python objects is refused with :class:`ModelLoadError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import ReadableError
from .card import ModelCard, ModelCardError
from .hashing import sha256_file

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CARD_NAME = "eurosat_rgb_lite0.json"
ALLOWED_SUFFIXES = (".safetensors", ".pt", ".pth")


class ModelLoadError(ReadableError):
    """A model cannot be loaded; the message says why in plain words."""


class InvalidCardError(ModelLoadError, ModelCardError):
    """Raised by :func:`load_model` for an invalid card (catchable as either base)."""


def default_map_card_path() -> Path:
    """The bundled per-pixel model of map mode (models/map_net.py)."""
    return WEIGHTS_DIR / "eurosat_rgb_lite0_map.json"


def default_card_path() -> Path:
    return WEIGHTS_DIR / DEFAULT_CARD_NAME


class LandCoverClassifier(nn.Module):
    """[Input calibration +] normalisation + network.  Input: float N x C x H x W on the 0-255 scale -> logits.

    ``calibration``: a card's ``input_calibration`` (models/input_calibration.py), applied to every window
    before the normalisation; none (``{}``/None): no module, the forward exactly as without one."""

    def __init__(self, net: nn.Module, mean, std, card: ModelCard | None = None, calibration: dict | None = None):
        super().__init__()
        self.net = net
        self.calibration = None
        if calibration:
            from .input_calibration import module_for

            self.calibration = module_for(calibration, len(list(mean)))
        mean_t = torch.as_tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        std_t = torch.as_tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
        # Not persistent: the card holds mean/std, the weights file holds the network only.
        self.register_buffer("mean", mean_t, persistent=False)
        self.register_buffer("std", std_t, persistent=False)
        self.card = card
        # channels_last is markedly faster for these convnets on CPU (oneDNN) and on GPU.
        self.channels_last = False

    def use_channels_last(self, enabled: bool = True) -> LandCoverClassifier:
        self.channels_last = enabled
        self.net.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)
        return self

    def without_calibration(self) -> LandCoverClassifier:
        """The same network and normalisation without the input calibration (how it sees EuroSAT patches)."""
        if self.calibration is None:
            return self
        plain = LandCoverClassifier(self.net, self.mean.view(-1).tolist(), self.std.view(-1).tolist(), card=self.card)
        plain.channels_last = self.channels_last
        return plain.to(self.mean.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float()
        if self.calibration is not None:
            x = self.calibration(x)
        x = (x.to(self.mean.dtype) - self.mean) / self.std
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)


def _network(model: nn.Module) -> nn.Module:
    return model.net if isinstance(model, LandCoverClassifier) else model


def network_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The raw network's tensors, detached, on CPU, each with its own storage."""
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in _network(model).state_dict().items()}


def save_checkpoint(model: nn.Module, card: ModelCard, card_path: str | Path) -> Path:
    """Write ``<stem>.safetensors`` next to ``card_path`` and the card (weights + sha filled).

    Returns the card path.
    """
    from safetensors.torch import save_file

    card_path = Path(card_path)
    card_path.parent.mkdir(parents=True, exist_ok=True)
    weights_path = card_path.with_suffix(".safetensors")
    tmp = weights_path.with_suffix(".safetensors.tmp")
    save_file(
        network_state_dict(model),
        str(tmp),
        metadata={"architecture": card.architecture, "name": card.name, "format": "pt"},
    )
    tmp.replace(weights_path)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(weights_path, 0o666 & ~umask)  # safetensors writes 0600; a shipped file must be readable
    card.weights = weights_path.name
    card.weights_sha256 = sha256_file(weights_path)
    card.save(card_path)
    return card_path


# --------------------------------------------------------------------------- loading
def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # SafetensorError, OSError, ...
            raise ModelLoadError(f"weights file {path} is corrupt or not a safetensors file ({exc})") from exc
    if suffix in (".pt", ".pth"):
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            msg = str(exc)
            if "weights_only" in msg.lower() or "unpickl" in msg.lower() or type(exc).__name__ == "UnpicklingError":
                raise ModelLoadError(
                    f"refused to load {path}: it contains pickled Python objects, not just tensors; "
                    "only weights (safetensors or a plain state dict) are accepted"
                ) from exc
            raise ModelLoadError(f"weights file {path} is corrupt or unreadable ({exc})") from exc
        if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
        ):
            raise ModelLoadError(f"{path} does not hold a state dict (name -> tensor)")
        return dict(state)
    raise ModelLoadError(f"unsupported weights file {path.name!r}: expected one of {', '.join(ALLOWED_SUFFIXES)}")


def check_state_dict(net: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise ModelLoadError unless ``state`` has exactly the keys and shapes of ``net``."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es), e.g. {'; '.join(wrong[:3])}")
    if missing:
        problems.append(f"{len(missing)} missing tensor(s), e.g. {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {', '.join(unexpected[:3])}")
    if problems:
        raise ModelLoadError(f"{source} does not match the architecture: " + "; ".join(problems))


def load_model(card_path: str | Path | None = None, device: str | torch.device = "cpu"):
    """Load a model and its card.

    Args:
        card_path: the model card JSON; None = the bundled default (``default_card_path()``).
        device: where the model goes ("cpu", "cuda:0", a torch.device).

    Returns:
        ``(LandCoverClassifier in eval mode, ModelCard)``; the classifier takes float N x C x H x W on
        the 0-255 scale and returns logits.

    Raises:
        ModelLoadError (readable): a missing or invalid card, missing or corrupt weights, a shape mismatch.
    """
    card_path = Path(card_path) if card_path is not None else default_card_path()
    try:
        card = ModelCard.load(card_path)
    except ModelCardError as exc:
        raise InvalidCardError(str(exc)) from exc
    return load_weights(card, device), card


def verify_weights(card: ModelCard) -> Path:
    """The card's weights file, checked against the card's sha256 (ModelLoadError otherwise); the
    checksum of an unchanged file is remembered between runs (models/weights_memo.py)."""
    from .weights_memo import file_sha256

    card_path = card.path or Path(card.weights)
    weights = card.weights_path
    if not weights.is_file():
        raise ModelLoadError(f"weights file {weights} named by card {card_path} does not exist")
    if not card.weights_sha256:
        raise ModelLoadError(f"card {card_path} has no weights_sha256; refusing unverified weights")
    actual, _remembered = file_sha256(weights)
    if actual != card.weights_sha256:
        raise ModelLoadError(
            f"sha256 of {weights.name} is {actual}, but card {Path(card_path).name} expects "
            f"{card.weights_sha256}: the file is corrupt or belongs to another model"
        )
    return weights


def load_weights(card: ModelCard, device: str | torch.device = "cpu") -> LandCoverClassifier:
    """The classifier described by an already read ``card``: its weights checked against the card's
    sha256, loaded weights-only, placed on ``device`` in eval mode with channels_last."""
    from .devices import place_model
    from .registry import build_model

    card_path = card.path or Path(card.weights)
    weights = verify_weights(card)
    state = _read_state_dict(weights)
    try:
        net = build_model(card.architecture, num_classes=card.num_classes, pretrained=False)
    except ValueError as exc:
        raise ModelLoadError(f"card {card_path}: {exc}") from exc
    check_state_dict(net, state, f"weights file {weights.name}")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"weights file {weights.name} cannot be loaded: {exc}") from exc
    return place_model(
        LandCoverClassifier(net, card.mean, card.std, card=card, calibration=card.input_calibration),
        torch.device(device),
    )
