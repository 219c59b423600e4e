"""``python -m eurosat_landcover finetune IMAGE LABELS OUT_CARD.json [--class-field NAME] [--model CARD]``.

Fine-tunes a model on the analyst's labels (core/finetune): LABELS is an edit log (``*_edits.gpkg``), an
assessment sample, or any OGR point/polygon layer with a class field. Progress on stderr, the new card's
record (examples, recipe, figures before/after) as JSON on stdout. Nothing is written on a refusal.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from .common import Command

DESCRIPTION = "fine-tune a model on an analyst's corrections or labels (edit log, sample or point/polygon layer)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="the raster the labels were made on")
    p.add_argument("labels", help="edit log (*_edits.gpkg), assessment sample, or a point/polygon layer")
    p.add_argument("out_card", metavar="OUT_CARD.json", help="the new model card (its .safetensors goes beside it)")
    p.add_argument("--class-field", help="the layer's class field (class names or codes)")
    p.add_argument(
        "--model",
        metavar="CARD",
        help="the model to start from, a window classifier or a map card (default: an edit log's run's model when "
        "that run read IMAGE, else the bundled model)",
    )
    p.add_argument("--replay-data", metavar="ZIP", help="EuroSAT RGB zip whose TRAIN patches are replayed")
    p.add_argument(
        "--sample-holdout",
        type=float,
        default=0.0,
        metavar="F",
        help="an assessment sample: fraction of its points kept out of training (0..1)",
    )
    from ..models.finetune_recipe import CALIBRATIONS, TRAINABLE, Recipe

    default = Recipe()
    p.add_argument(
        "--train",
        choices=TRAINABLE,
        default=default.trainable,
        help=f"norm: first conv + batch-norm scales/shifts; adapt: those + the last stage and head; "
        f"head: the classifier only (default {default.trainable})",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=default.epochs,
        help="at most this many epochs of weight training (early stopping ends sooner; 0: the weights stay the "
        f"parent's, the input calibration alone adapts; default {default.epochs})",
    )
    p.add_argument(
        "--calibration",
        choices=CALIBRATIONS,
        default=default.calibration,
        help="the new card's input calibration (a colour transform applied to every window before the network): "
        "look = the inverse of the analyst's look fitted from the labels, fit = fitted by gradient through the "
        "frozen network, off = none (default %(default)s)",
    )
    p.add_argument(
        "--time-limit", type=float, default=default.time_limit_s, metavar="S", help="stop training after S seconds"
    )
    p.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's)")
    p.add_argument("--bands", nargs="+", type=int, metavar="N", help="1-based source bands (default: detected)")
    p.add_argument("--radiometry", default="auto", help="auto, 8bit, sentinel2_l1c, sentinel2_l2a, percentile")
    p.add_argument(
        "--replay-per-class", type=int, default=default.replay_per_class, metavar="N", help="replayed patches per class"
    )
    p.add_argument(
        "--selection-per-class",
        type=int,
        default=default.selection_per_class,
        metavar="N",
        help="EuroSAT validation patches per class that choose the epoch (0: the held-out labels alone)",
    )
    p.add_argument(
        "--test-every",
        type=int,
        default=1,
        metavar="K",
        help="measure on every K-th EuroSAT test patch (default 1: all; quick checks only)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT_CARD and its weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import ClassificationError
    from ..core.finetune.run import finetune_from_labels
    from ..core.numeric import check_number
    from ..models.finetune import Recipe
    from .common import ProgressBar

    if not 0.0 <= args.sample_holdout < 1.0:  # a half-open range: check_number's bounds are closed
        raise ClassificationError(f"--sample-holdout must be in 0..1, got {args.sample_holdout}")
    check_number("--epochs", args.epochs, 0, whole=True)
    check_number("--time-limit", args.time_limit, 1)
    check_number("--replay-per-class", args.replay_per_class, 0, whole=True)
    check_number("--selection-per-class", args.selection_per_class, 0, whole=True)
    if args.threads is not None:
        check_number("--threads", args.threads, 1, whole=True)
    recipe = Recipe(
        trainable=args.train,
        epochs=args.epochs,
        calibration=args.calibration,
        time_limit_s=args.time_limit,
        seed=args.seed,
        threads=args.threads,
        replay_per_class=args.replay_per_class,
        selection_per_class=args.selection_per_class,
        test_every=args.test_every,
    )
    record = finetune_from_labels(
        args.image,
        args.labels,
        args.out_card,
        class_field=args.class_field,
        model=args.model,
        replay_data=args.replay_data,
        sample_holdout=args.sample_holdout,
        bands=args.bands,
        radiometry=args.radiometry,
        recipe=recipe,
        overwrite=args.overwrite,
        progress=None if args.quiet else ProgressBar(),
        is_cancelled=getattr(args, "stop_requested", None),
        command="python -m eurosat_landcover " + shlex.join(sys.argv[1:]),
    )
    if not args.quiet:
        print(file=sys.stderr)
    json.dump(record, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


COMMANDS = (Command("finetune", DESCRIPTION, add_arguments, run),)
