"""Train and evaluate several architectures with the same recipe; print one table.

    python -m eurosat_landcover.models.compare --archs resnet18 tf_efficientnet_lite0 \\
        --epochs 1 --max-train-batches 60 --out runs/compare --table runs/compare.md

Every architecture gets the training recipe of ``models.train`` (all its options apply)
and is scored on the same split: best validation accuracy, test accuracy, parameters,
weights size and CPU inference speed (windows/s at ``--bench-batch``).
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from . import train as train_mod
from .checkpoint import load_model
from .evaluate import time_inference
from .registry import ARCHITECTURES, count_parameters

DESCRIPTION = "Train/evaluate several architectures with one recipe and print a comparison table."
DEFAULT_ARCHS = ("tf_efficientnet_lite0", "resnet18")


def add_arguments(p: argparse.ArgumentParser) -> None:
    train_mod.add_arguments(p)
    p.set_defaults(out="runs/compare", epochs=1)
    p.add_argument(
        "--archs",
        nargs="+",
        default=list(DEFAULT_ARCHS),
        help=f"architectures to compare (known: {', '.join(ARCHITECTURES)})",
    )
    p.add_argument("--table", default=None, help="also write the table (markdown) here")
    p.add_argument("--bench-batch", type=int, default=64, help="batch size of the CPU speed test")
    p.add_argument("--bench-windows", type=int, default=1024, help="windows in the CPU speed test")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="skip training where <out>/<arch> already holds a card (re-measures speed only)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eurosat_landcover.models.compare", description=DESCRIPTION)
    add_arguments(p)
    return p


def cpu_speed(model, windows: int, batch: int, patch: int, bands: int = 3) -> float:
    model = model.to("cpu").eval()
    x = torch.randint(0, 256, (windows, bands, patch, patch), dtype=torch.uint8)
    return time_inference(model, x, batch_size=batch, device="cpu", repeats=3)["windows_per_second"]  # best of 3


def format_table(rows: list[dict]) -> str:
    head = "| architecture | init | epochs | val acc | test acc | params (M) | size (MB) | CPU windows/s | run s |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['arch']} | failed: {r['error']} |  |  |  |  |  |  |  |")
            continue
        lines.append(
            f"| {r['arch']} | {r['init']} | {r['epochs']} | {r['val_acc'] * 100:.2f} % | "
            f"{r['test_acc'] * 100:.2f} % | {r['params_m']:.2f} | {r['size_mb']:.1f} | "
            f"{r['cpu_wps']:.0f} | {r['train_s']:.0f} |"
        )
    return "\n".join(lines)


def run(args, command: str) -> list[dict]:
    rows = []
    base = Path(args.out)
    for arch in args.archs:
        if arch not in ARCHITECTURES:
            rows.append({"arch": arch, "error": "unknown architecture"})
            continue
        a = copy.copy(args)
        a.arch, a.out, a.name, a.resume = arch, str(base / arch), None, False
        t0 = time.time()
        try:
            existing = sorted(Path(a.out).glob("*.json"))
            if args.reuse and existing:
                model, card = load_model(existing[0], device="cpu")
                res = {
                    "card_path": str(existing[0]),
                    "val_accuracy": card.metrics.get("val", {}).get("accuracy", float("nan")),
                    "test_accuracy": card.metrics.get("test", {}).get("accuracy", float("nan")),
                }
            else:
                res = train_mod.train(a, command=f"{command}  # arch {arch}")
                model, card = load_model(res["card_path"], device="cpu")
            torch.set_num_threads(args.threads or os.cpu_count() or 1)
            rows.append(
                {
                    "arch": arch,
                    "init": "ImageNet" if card.training.get("init", "").startswith("ImageNet") else "scratch",
                    "epochs": card.training.get("epochs_run"),
                    "val_acc": res["val_accuracy"],
                    "test_acc": res.get("test_accuracy", float("nan")),
                    "params_m": count_parameters(model) / 1e6,
                    "size_mb": card.weights_path.stat().st_size / 1e6,
                    "cpu_wps": cpu_speed(model, args.bench_windows, args.bench_batch, card.patch_size),
                    "train_s": float(card.training.get("seconds", time.time() - t0)),
                }
            )
        except Exception as exc:  # one failing architecture must not lose the others
            rows.append({"arch": arch, "error": f"{type(exc).__name__}: {exc}"[:200]})
        print(format_table(rows[-1:]), flush=True)
    recipe = (
        f"recipe: epochs {args.epochs}, max train batches/epoch {args.max_train_batches or 'all'}, "
        f"batch {args.batch_size}, lr {args.lr}, schedule {args.schedule}, label smoothing "
        f"{args.label_smoothing}, split seed {args.split_seed}; CPU speed: batch {args.bench_batch}, "
        f"{torch.get_num_threads()} threads, best of 3 passes over {args.bench_windows} random windows; "
        "run s = wall time of the training run (decode, train, validate, test)"
    )
    text = f"{format_table(rows)}\n\n{recipe}\ncommand: `{command}`\n"
    print("\n" + text)
    if args.table:
        Path(args.table).parent.mkdir(parents=True, exist_ok=True)
        Path(args.table).write_text(text)
    return rows


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(raw)
    run(args, "python -m eurosat_landcover.models.compare " + shlex.join(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
