"""``python -m eurosat_landcover predict IMAGE [--top-k 3] [--gradcam OUT.png] [--class NAME] [--model CARD]``.

Classifies one image file (core/predict.py): prints how the image was fed to the model (as is,
resized or windowed), the top-k classes with their probabilities (``--json``: the same as JSON on
stdout), and with ``--gradcam`` writes a PNG of the patch beside its Grad-CAM heat map (for the top
class, or ``--class``). Files are written under a temporary name and renamed; an existing file is
never replaced without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.predict import MODES
from .common import Command

DESCRIPTION = "classify one image file (JPEG/PNG/GeoTIFF): top-k classes, optional Grad-CAM heat map"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="JPEG, PNG or GeoTIFF patch of any size")
    p.add_argument("--top-k", type=int, default=3, help="how many classes to print (default 3)")
    p.add_argument("--gradcam", metavar="OUT.png", help="write the patch and its Grad-CAM heat map to this PNG")
    p.add_argument("--class", dest="target", metavar="NAME", help="class the heat map explains (default: the top one)")
    p.add_argument("--model", metavar="CARD", help="model card JSON (default: the bundled model)")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="auto",
        help="auto: windows at the model's gsd for a georeferenced raster, else resize to one window; "
        "resize; window (default auto)",
    )
    p.add_argument("--bands", nargs="+", type=int, metavar="N", help="1-based source bands for the model")
    p.add_argument(
        "--radiometry",
        default="auto",
        help="auto, 8bit, sentinel2_l1c, sentinel2_l2a, percentile, sentinel2_offset1000",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--opacity", type=float, default=0.5, help="heat-map opacity in the PNG, 0..1 (default 0.5)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --gradcam file")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import ClassificationError
    from ..core.numeric import check_number
    from ..core.predict import heat_map_picture, predict_image, write_png

    check_number("--top-k", args.top_k, 1, 1000, whole=True)
    check_number("--opacity", args.opacity, 0, 1)
    out = Path(args.gradcam) if args.gradcam else None
    if out is not None:
        if out.suffix.lower() != ".png":
            raise ClassificationError(f"--gradcam writes a PNG: give a name ending in .png, not {out.name}")
        if out.exists() and not args.overwrite:
            raise ClassificationError(f"{out} exists: choose another name or pass --overwrite")
    elif args.target is not None:
        raise ClassificationError("--class chooses the class of the heat map: give --gradcam OUT.png too")
    from ..models.gradcam import GradCamUnavailable

    try:
        pred = predict_image(
            args.image,
            args.model,
            mode=args.mode,
            device=args.device,
            gradcam=out is not None,
            target=args.target,
            bands=args.bands,
            radiometry=args.radiometry,
        )
    except GradCamUnavailable as exc:  # one readable line, like every other error
        raise ClassificationError(str(exc)) from None
    if out is not None:
        write_png(out, heat_map_picture(pred, args.opacity), overwrite=args.overwrite)
    if args.json:
        d = pred.to_dict(args.top_k)
        d["gradcam_png"] = str(out) if out is not None else None
        json.dump(d, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    w, h = pred.size_px
    print(f"image: {pred.image} ({w} x {h} px)")
    print(f"model: {pred.model} on {pred.device}")
    print(f"input: {pred.how_text}")
    for note in pred.notes:
        print(f"note: {note}")
    width = max(len(c) for c in pred.class_names)
    for rank, (cls, prob) in enumerate(pred.top(args.top_k), 1):
        print(f"{rank:>3}. {cls:<{width}}  {prob:.4f}")
    if out is not None:
        print(f"grad-cam: {pred.class_names[pred.target]} -> {out}")
    return 0


COMMANDS = (Command("predict", DESCRIPTION, add_arguments, run),)
