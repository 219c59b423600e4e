"""The shipped INT8 model (issue 26): the quantized state of a quantization-aware fine-tuned model
(models/int8_qat.py), stored beside the bundled fp32 weights it was fine-tuned from, so that INT8 needs no
EuroSAT data on the user's machine.

``models/weights/<name>_int8.pt`` holds the converted INT8 module's ``state_dict`` (int8 weights with their
per-channel scales, the activations' scales and zero points, the fp32 stem and classifier), the SHA-256 of
the fp32 weights it descends from and 64 train patches for the engine's probe check; it loads with
``torch.load(weights_only=True)``. ``<name>_int8.json`` beside it says the same in a few lines (the parent's
SHA-256, the architecture and normalisation, the ``.pt`` file's own SHA-256, how it was made), so the INT8
path's cache key knows without reading the tensors whether it applies. models/int8_path.build uses it when the
parent SHA-256, architecture and normalisation are the loaded model's (int8_path.from_shipped: the same FX graph,
:func:`models.int8_path.quantize` without calibration: fixed padding, folded batch norms, the ReLU6 sites
on [0, 6], stem and classifier fp32), converts it and loads the state over it. Any other model takes the
post-training quantization calibrated on EuroSAT, as before.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Optional

import torch

FORMAT = 1
SUFFIX = "_int8"


def weights_dir() -> Path:
    """The bundled weights' folder, models/checkpoint.WEIGHTS_DIR (not imported: checkpoint reaches the INT8
    path through models/input_calibration.py)."""
    return Path(__file__).resolve().parent / "weights"


def find(identity: Optional[dict], bands: int, patch: int, folder: Optional[Path] = None):
    """``(json path, its fields)`` of the shipped INT8 model made from the weights of ``identity``
    (graph_cache.model_identity: SHA-256, architecture, mean, std) for ``bands`` x ``patch`` px, or None."""
    if not identity or identity.get("input_calibration"):
        return None
    for path in sorted((folder or weights_dir()).glob(f"*{SUFFIX}.json")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        same = all(meta.get(k) == identity[k] for k in ("architecture", "mean", "std"))
        if same and (meta.get("format"), meta.get("bands"), meta.get("patch")) == (FORMAT, bands, patch):
            if meta.get("parent_sha256") == identity["weights_sha256"]:
                return path, meta
    return None


def write(
    folder: Path, name: str, module, identity: dict, patch: int, bands: int, probe: torch.Tensor, note: str
) -> Path:
    """``<folder>/<name>_int8.pt`` and ``.json`` for the converted ``module`` (an int8_path.Int8Classifier)
    of the model of ``identity``; -> the json path."""
    from .weights_memo import write_atomic

    entry = {
        "format": FORMAT,
        "parent_sha256": identity["weights_sha256"],
        "patch": int(patch),
        "bands": int(bands),
        "state": module.state_dict(),
        "probe": probe.to(torch.uint8),
    }
    buf = io.BytesIO()
    torch.save(entry, buf)
    data = buf.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    pt = folder / f"{name}{SUFFIX}.pt"
    write_atomic(pt, data)
    meta = {
        "format": FORMAT,
        "file": pt.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "parent_sha256": identity["weights_sha256"],
        "architecture": identity["architecture"],
        "mean": identity["mean"],
        "std": identity["std"],
        "patch": int(patch),
        "bands": int(bands),
        "method": note,
    }
    path = folder / f"{name}{SUFFIX}.json"
    write_atomic(path, (json.dumps(meta, indent=2) + "\n").encode())
    return path


def read(json_path: Path, meta: dict) -> dict:
    """The shipped entry: ``state`` (the converted module's state_dict), ``probe`` (uint8 patches), ``patch``,
    ``bands``. Raises ValueError when the ``.pt`` file is not the one the json names."""
    data = (json_path.parent / meta["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ValueError(f"{meta['file']} does not match the SHA-256 in {json_path.name}")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
