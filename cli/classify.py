"""``python -m eurosat_landcover classify INPUT OUTDIR [options]``: one raster, the JSON summary on
stdout, progress on stderr."""

from __future__ import annotations

import argparse
import json
import sys

from .common import Command, ProgressBar, add_run_options, note_unused_stride, stride_of


def _add_classify(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="raster to classify (any format GDAL reads)")
    p.add_argument("outdir", help="output folder (created if missing)")
    add_run_options(p)
    p.add_argument("--name", help="output file prefix (default: the input's file name)")


def _run_classify(args: argparse.Namespace) -> int:
    from ..core.gdalutil import configure_gdal_for_batch
    from ..core.pipeline import classify
    from ..core.request import ClassificationRequest

    configure_gdal_for_batch()

    req = ClassificationRequest(
        input_path=args.input,
        output_dir=args.outdir,
        model_card=args.model,
        bands=args.bands,
        radiometry=args.radiometry,
        bounds=args.bounds,
        bounds_crs=args.bounds_crs,
        stride=stride_of(args),
        mode=args.mode,
        batch_size=args.batch_size,
        device=args.device,
        probabilities_dtype="float32" if args.float_probabilities else "uint8",
        write_probabilities=not args.no_probabilities,
        name=args.name,
        threads=args.threads,
        fast_path=args.fast_path,
        overwrite=args.overwrite,
        max_pixels=args.max_pixels,
    )
    progress = None if args.quiet else ProgressBar()
    try:
        result = classify(req, progress=progress, is_cancelled=getattr(args, "stop_requested", None))
    except KeyboardInterrupt as exc:  # Ctrl+C or a signal once the outputs were complete: they stay
        result = getattr(exc, "outputs_complete", None)
        if result is None:
            raise
        print("\nnote: interrupted after the outputs were complete: they are kept", file=sys.stderr)
    args.outputs_kept = True
    note_unused_stride(args)
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    json.dump(result.summary, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


COMMANDS = (Command("classify", "classify a raster with a EuroSAT model", _add_classify, _run_classify),)
