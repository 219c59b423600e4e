"""Weight-space interpolation of two models of one architecture (WiSE-FT, Wortsman et al., CVPR 2022).

    python -m eurosat_landcover.models.soup START.json END.json --alpha 0.5 --out runs/soup

A robust fine-tune moves a model away from its start; the straight line between the two often keeps the
start's accuracy on the original distribution and most of the fine-tune's robustness. The result's
weights are ``(1 - alpha) * start + alpha * end`` for every floating-point tensor (batch-norm running
statistics too); integer buffers (batch counters) are taken from ``end``. The card is ``end``'s, with
``training.soup`` naming both parents (name, weights sha256) and ``alpha``; its metrics are dropped
(they were ``end``'s): evaluate the result before using it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .card import ModelCard
from .checkpoint import ModelLoadError, load_model, save_checkpoint


def interpolate(start: dict, end: dict, alpha: float) -> dict:
    """``(1 - alpha) * start + alpha * end`` for floating tensors; ``end``'s for the others."""
    if start.keys() != end.keys():
        raise ModelLoadError("the two models have different layers: interpolate models of one architecture")
    out = {}
    for key, b in end.items():
        a = start[key]
        if a.shape != b.shape:
            raise ModelLoadError(f"layer {key} differs in shape ({tuple(a.shape)} vs {tuple(b.shape)})")
        out[key] = torch.lerp(a, b, alpha) if b.is_floating_point() else b.clone()
    return out


def soup(start_card: str | Path, end_card: str | Path, alpha: float, out_card: str | Path) -> Path:
    """Write the interpolated model (weights + card) to ``out_card``; -> its path."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha} is outside 0-1: 0 gives the start model, 1 the end model")
    start, a_card = load_model(start_card)
    end, b_card = load_model(end_card)
    if a_card.architecture != b_card.architecture or a_card.classes != b_card.classes:
        raise ModelLoadError("the two models differ in architecture or classes: interpolate models of one kind")
    end.net.load_state_dict(interpolate(start.net.state_dict(), end.net.state_dict(), alpha))
    data = b_card.to_dict()
    data["metrics"] = {}
    training = dict(data.get("training") or {})
    training["soup"] = {
        "alpha": alpha,
        "start": {"name": a_card.name, "path": str(start_card), "weights_sha256": a_card.weights_sha256},
        "end": {"name": b_card.name, "path": str(end_card), "weights_sha256": b_card.weights_sha256},
        "command": " ".join(["python -m eurosat_landcover.models.soup", *sys.argv[1:]]),
    }
    data["training"] = training
    return save_checkpoint(end, ModelCard.from_dict(data), out_card)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("start", help="model card JSON of the start (e.g. the parent of a fine-tune)")
    p.add_argument("end", help="model card JSON of the end (e.g. the fine-tuned model)")
    p.add_argument("--alpha", type=float, default=0.5, help="0 = start, 1 = end (default 0.5)")
    p.add_argument("--out", required=True, help="output folder (card + weights, named like END)")
    args = p.parse_args(argv)
    out = Path(args.out) / Path(args.end).name
    if out.resolve() in (Path(args.start).resolve(), Path(args.end).resolve()):
        p.error("--out would overwrite an input model: choose another folder")
    print(f"wrote {soup(args.start, args.end, args.alpha, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
