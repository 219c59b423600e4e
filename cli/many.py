"""``python -m eurosat_landcover classify-many INPUT... OUTDIR``: many rasters, or huge ones in
blocks, on a Dask cluster (a LocalCluster of worker processes, or ``--scheduler tcp://HOST:PORT``).

Progress after each block on stderr (blocks and windows done, windows/s, time left), the merged
summary as JSON on stdout. Exit 0 when every input succeeded, 1 when some failed (named on
stderr, the others finished), 2 for an error that stopped the job, 130/143 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import Command, ProgressBar, add_run_options, note_unused_stride, stride_of


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..core.scaleout.run import DEFAULT_BLOCK_SIZE, DEFAULT_RETRIES

    p.add_argument("inputs", nargs="+", metavar="INPUT", help="rasters, folders, globs or .txt lists of paths")
    p.add_argument("outdir", help="output folder (created if missing)")
    p.add_argument(
        "--scheduler",
        default="local",
        help="'local' (a LocalCluster on this machine, the default) or a scheduler address tcp://HOST:PORT",
    )
    p.add_argument("--workers", type=int, help="worker processes of the local cluster (default: CPU cores)")
    p.add_argument(
        "--block-size",
        type=int,
        default=DEFAULT_BLOCK_SIZE,
        metavar="PX",
        help=f"split rasters larger than PX x PX px (at the model's gsd) into blocks (default {DEFAULT_BLOCK_SIZE}); "
        "--mode map runs each raster whole",
    )
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES, help="retries of a failed block (default 2)")
    add_run_options(p)


def options_from_args(args: argparse.Namespace) -> dict:
    """The per-run options of ``classify`` as ClassificationRequest fields."""
    return {
        "model_card": args.model,
        "stride": stride_of(args),
        "mode": args.mode,
        "bounds": args.bounds,
        "bounds_crs": args.bounds_crs,
        "bands": args.bands,
        "radiometry": args.radiometry,
        "device": args.device,
        "batch_size": args.batch_size,
        "threads": 1 if args.threads is None else args.threads,
        "fast_path": args.fast_path,
        "probabilities_dtype": "float32" if args.float_probabilities else "uint8",
        "write_probabilities": not args.no_probabilities,
        "overwrite": args.overwrite,
        "max_pixels": args.max_pixels,
    }


def run(args: argparse.Namespace) -> int:
    from ..core.scaleout.run import classify_many

    bar = None if args.quiet else ProgressBar()
    summary = classify_many(
        args.inputs,
        args.outdir,
        {k: v for k, v in options_from_args(args).items() if v is not None},
        scheduler=args.scheduler,
        workers=args.workers,
        block_size=args.block_size,
        retries=args.retries,
        progress=(lambda p: bar.draw(p.fraction, str(p))) if bar else None,
    )
    json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    note_unused_stride(args)
    for name, why in summary["failures"].items():
        print(f"failed: {name}: {why}", file=sys.stderr)
    return 1 if summary["failures"] else 0


COMMANDS = (
    Command("classify-many", "classify many rasters, or huge ones in blocks, on a Dask cluster", add_arguments, run),
)
