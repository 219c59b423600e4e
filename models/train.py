"""Train a EuroSAT RGB classifier.

    python -m eurosat_landcover.models.train [DATA] --arch tf_efficientnet_lite0 --out runs/lite0

DATA: zip or folder in the EuroSAT layout (default: the shared EuroSAT_RGB.zip).  Images
are decoded once into memory (uint8), split by a seeded stratified split (recorded in the
card), augmented on the fly (dihedral flips/rotations, mild zoom, brightness/contrast)
and fed to the network through :class:`LandCoverClassifier` (normalisation included).
The best epoch on the *validation* split is written as ``<out>/<name>.safetensors`` +
``<out>/<name>.json``; only then is the test split evaluated, once, and recorded in the
card with the exact command.  ``<out>/last.pt`` holds the full training state for
``--resume``.  Runs unchanged on CUDA (AMP, data on the device) and on CPU.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

from .augment import add_photometric_arguments, augment_batch
from .dataset import DEFAULT_DATASET
from .train_steps import LOG, checkpoint, record_epoch, resume, run_test, set_up, train_one_epoch, validate

__all__ = ["augment_batch", "build_parser", "main", "train"]


# --------------------------------------------------------------------------- CLI
DESCRIPTION = "Train a EuroSAT land-cover classifier and write safetensors + model card."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eurosat_landcover.models.train",
        description=DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="?", default=str(DEFAULT_DATASET), help="EuroSAT-layout zip or folder")
    p.add_argument("--arch", default="tf_efficientnet_lite0", help="architecture (see registry)")
    p.add_argument("--out", default="runs/train", help="output folder (card, weights, log, last.pt)")
    p.add_argument("--name", default=None, help="card/weights file stem (default eurosat_rgb_<arch>)")
    p.add_argument("--title", default=None, help="human title in the card")
    p.add_argument(
        "--classes",
        nargs="+",
        default=None,
        metavar="NAME",
        help="class folders to learn, in the model's output order (default: the ten EuroSAT classes when "
        "the data's class folders are EuroSAT's, else every class folder, sorted)",
    )
    p.add_argument(
        "--pretrained",
        choices=("auto", "yes", "no"),
        default="auto",
        help="offline ImageNet init: auto = when available for the architecture",
    )
    p.add_argument("--freeze-backbone", action="store_true", help="train the classifier head only")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the head")
    p.add_argument("--backbone-lr-mult", type=float, default=1.0, help="backbone LR = lr x this (pretrained backbones)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", choices=("onecycle", "cosine", "plateau"), default="onecycle")
    p.add_argument("--warmup-epochs", type=float, default=1.0, help="warm-up (onecycle/cosine)")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--clip-grad", type=float, default=2.0, help="max gradient norm (0 = off)")
    p.add_argument("--patience", type=int, default=3, help="early stopping on val accuracy (0 = off)")
    p.add_argument("--zoom", type=float, nargs=2, default=(0.85, 1.0), metavar=("MIN", "MAX"))
    p.add_argument("--jitter", type=float, default=0.1, help="brightness/contrast jitter")
    add_photometric_arguments(p)
    p.add_argument(
        "--texture-classes",
        nargs="+",
        default=None,
        metavar="CLASS",
        help="give the noise only to samples of these classes (e.g. SeaLake: rough open water); default all",
    )
    p.add_argument("--no-augment", action="store_true")
    p.add_argument(
        "--init-from",
        default=None,
        metavar="CARD",
        help="fine-tune: start from this model card's weights (same architecture) instead of ImageNet",
    )
    p.add_argument(
        "--val-shifts",
        action="store_true",
        help="also score validation under the radiometric evaluation shifts; select epochs on the mean",
    )
    p.add_argument("--seed", type=int, default=42, help="training seed (init, order, augmentation)")
    p.add_argument("--split-seed", type=int, default=42, help="seed of the train/val/test split")
    p.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--patch-size", type=int, default=64)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--max-train-batches", type=int, default=None, help="per epoch (short runs)")
    p.add_argument("--max-eval-batches", type=int, default=None, help="val/test batches (short runs)")
    p.add_argument("--log-every", type=int, default=50, help="batches between log lines")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--skip-test", action="store_true", help="do not evaluate the test split")


# --------------------------------------------------------------------------- training
def _setup_logging(out: Path) -> logging.Handler:
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    LOG.addHandler(handler)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) for h in LOG.handlers):
        sh = logging.StreamHandler(sys.stdout)
        sh.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(sh)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    return handler


def _command(argv: list[str]) -> str:
    return "python -m eurosat_landcover.models.train " + shlex.join(argv)


def train(args, argv: list[str] | None = None, command: str | None = None) -> dict:
    """Run a training described by parsed ``args``; returns a summary dict (card_path, accuracies)."""
    out = Path(args.out)
    handler = _setup_logging(out)
    try:
        return _train(args, command or _command(argv or []), out)
    finally:
        LOG.removeHandler(handler)
        handler.close()


def _train(args, command: str, out: Path) -> dict:
    """The steps of models/train_steps.py in order: set-up, resume, epochs, test."""
    t_start = time.time()
    run = set_up(args, command, out)
    if args.resume:
        resume(run)
    stopped_early = False
    for epoch in range(run.state["epoch"] + 1, args.epochs + 1):
        if args.patience and run.state["bad_epochs"] >= args.patience:
            stopped_early = True
            break
        trained = train_one_epoch(run, epoch)
        val_loss, val_acc = validate(run)
        improved = record_epoch(run, epoch, trained, val_loss, val_acc)
        checkpoint(run, epoch, improved)
    else:
        state = run.state
        stopped_early = bool(args.patience and state["bad_epochs"] >= args.patience and state["epoch"] < args.epochs)
    if stopped_early:
        LOG.info("early stopping: no val improvement for %d epochs", args.patience)
    train_seconds = time.time() - t_start
    LOG.info("best val acc %.4f at epoch %d; %.0f s", run.state["best_acc"], run.state["best_epoch"], train_seconds)
    return run_test(run, train_seconds, stopped_early)


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(raw)
    if args.freeze_backbone and args.pretrained == "no":
        LOG.warning("--freeze-backbone with a random backbone trains only a linear probe")
    train(args, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
