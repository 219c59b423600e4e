"""Evaluate a model card on EuroSAT-layout data and time its inference.

    python -m eurosat_landcover.models.evaluate --model CARD.json DATA [--split test --seed 42]

``DATA`` is a zip or folder in the EuroSAT layout (``<Class>/<image>``); default: the
shared EuroSAT_RGB.zip.  Without ``--split`` every image in DATA is evaluated; with
``--split train|val|test`` only that part of the project's seeded stratified split.
Prints overall accuracy, per-class precision/recall/F1, the confusion matrix, the most
confused pairs and the inference speed (windows/s); ``--json`` writes the same as JSON,
``--record`` stores them in the card's ``metrics`` (with the exact command).
``--shift NAME|all`` evaluates the same images under the fixed radiometric shifts of
models/radiometric_shifts.py (``all``: unshifted and every shift, with a summary table).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import LandCoverClassifier, default_card_path, load_model
from .dataset import DEFAULT_DATASET, list_eurosat, load_arrays, split_fingerprint, stratified_split
from .devices import autocast_dtype, require_device
from .metrics import classification_metrics, confusion_matrix, format_report, record_in_card
from .radiometric_shifts import SHIFT_NAMES, apply_shift


@torch.no_grad()
def predict_logits(
    model: LandCoverClassifier,
    images,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    amp: bool = True,
    max_batches: int | None = None,
) -> tuple[torch.Tensor, float]:
    """Logits for ``images`` (uint8 N x C x H x W, numpy or tensor) and seconds spent.

    The time covers host->device transfer, normalisation and the forward pass.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x_all = torch.as_tensor(images)
    n = x_all.shape[0] if max_batches is None else min(x_all.shape[0], max_batches * batch_size)
    dtype = autocast_dtype(device) if amp else None
    pin = device.type == "cuda" and not x_all.is_cuda
    was_training = model.training
    model.eval()
    out = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for start in range(0, n, batch_size):
        xb = x_all[start : start + batch_size]
        if pin:
            xb = xb.pin_memory()
        xb = xb.to(device, non_blocking=True).float()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(xb)
        out.append(logits.float().to("cpu"))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    model.train(was_training)
    logits = torch.cat(out) if out else torch.empty(0, 0)
    return logits, seconds


def time_inference(model: LandCoverClassifier, images, batch_size: int = 256, device=None, repeats: int = 1) -> dict:
    """Windows per second of ``model`` on ``images`` (one warm-up batch first)."""
    x = torch.as_tensor(images)
    predict_logits(model, x[:batch_size], batch_size, device)  # warm-up
    best = None
    for _ in range(repeats):
        _, sec = predict_logits(model, x, batch_size, device)
        best = sec if best is None else min(best, sec)
    return {
        "windows": int(x.shape[0]),
        "seconds": round(best, 3),
        "windows_per_second": round(x.shape[0] / best, 1) if best else None,
        "batch_size": batch_size,
    }


def evaluate_arrays(
    model, images, labels, class_names, batch_size=256, device=None, top_pairs=5, repeats: int = 1
) -> dict:
    """Metrics + timing of ``model`` on decoded arrays.

    The timing is the best of ``repeats`` full passes (after a warm-up batch); on a shared
    CPU the best pass is the least disturbed one.  ``seconds_all`` lists every pass.
    """
    x = torch.as_tensor(images)
    if x.shape[0] >= batch_size:
        predict_logits(model, x[:batch_size], batch_size, device)  # warm-up, not timed
    logits, seconds = predict_logits(model, x, batch_size, device)
    passes = [seconds]
    for _ in range(max(1, repeats) - 1):
        passes.append(predict_logits(model, x, batch_size, device)[1])
    best = min(passes)
    pred = logits.argmax(1).numpy()
    cm = confusion_matrix(np.asarray(labels), pred, len(class_names))
    metrics = classification_metrics(cm, class_names, top_pairs=top_pairs)
    metrics["inference"] = {
        "windows": int(x.shape[0]),
        "seconds": round(best, 3),
        "windows_per_second": round(x.shape[0] / best, 1) if best > 0 else None,
        "batch_size": batch_size,
        "passes": len(passes),
        "seconds_all": [round(t, 3) for t in passes],
    }
    return metrics


DESCRIPTION = "Accuracy, per-class precision/recall/F1, confusion and speed of a model card."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eurosat_landcover.models.evaluate", description=DESCRIPTION)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data",
        nargs="?",
        default=str(DEFAULT_DATASET),
        help="zip or folder in the EuroSAT layout (default: the shared EuroSAT_RGB.zip)",
    )
    p.add_argument("--model", default=None, help="model card JSON (default: the bundled model)")
    p.add_argument(
        "--split",
        choices=("train", "val", "test"),
        default=None,
        help="evaluate only this part of the project's stratified split",
    )
    p.add_argument("--seed", type=int, default=42, help="split seed (with --split)")
    p.add_argument(
        "--fractions",
        type=float,
        nargs=3,
        default=(0.8, 0.1, 0.1),
        metavar=("TRAIN", "VAL", "TEST"),
        help="split fractions (with --split)",
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many images")
    p.add_argument(
        "--repeats", type=int, default=1, help="timed inference passes; the best one is reported (noisy CPUs)"
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="evaluate the INT8 CPU model (models/int8_path.py: quantized from this card, calibrated on "
        "EuroSAT train patches)",
    )
    p.add_argument("--top-pairs", type=int, default=5)
    p.add_argument(
        "--shift",
        choices=("none", *SHIFT_NAMES, "all"),
        default="none",
        help="radiometric shift applied before the model (all = unshifted and every shift)",
    )
    p.add_argument("--json", dest="json_out", default=None, help="write the results as JSON here")
    p.add_argument("--record", action="store_true", help="store the results and this command in the card's metrics")


def _items(args, card) -> tuple[list, dict]:
    """The (member, class index) pairs to evaluate and their fingerprint."""
    listing = list_eurosat(args.data, card.class_names)
    if args.split:
        split = stratified_split(listing, seed=args.seed, fractions=args.fractions, classes=card.class_names)
        items = split[args.split]
        fingerprint = split_fingerprint({args.split: items}, card.class_names)[args.split]
    else:
        index = {c: i for i, c in enumerate(card.class_names)}
        items = sorted((m, index[c]) for c, ms in listing.items() for m in ms)
        fingerprint = split_fingerprint({"all": items}, card.class_names)["all"]
    if args.limit:
        items = items[: args.limit]
    if not items:
        raise SystemExit("no images to evaluate")
    return items, fingerprint


def shift_names(choice: str) -> list[str]:
    """The shifts one ``--shift`` choice evaluates, "none" (unshifted) included where it belongs."""
    return ["none", *SHIFT_NAMES] if choice == "all" else [choice]


def evaluate_shifts(model, images, labels, class_names, names, args, device) -> dict:
    """Metrics of ``model`` per shift name ("none" = the images as they are); timing repeats on "none" only."""
    out = {}
    for name in names:
        x = images if name == "none" else apply_shift(name, torch.from_numpy(images).float(), channel_axis=1)
        repeats = args.repeats if name == "none" else 1
        out[name] = evaluate_arrays(model, x, labels, class_names, args.batch_size, device, args.top_pairs, repeats)
    return out


def format_shift_table(by_shift: dict) -> str:
    """One line per shift: accuracy, macro F1 and the change from the unshifted accuracy."""
    base = by_shift.get("none", {}).get("accuracy")
    lines = [f"{'shift':<20} {'accuracy':>9} {'macro F1':>9} {'change':>8}"]
    for name, m in by_shift.items():
        change = f"{(m['accuracy'] - base) * 100:+.2f}" if base is not None and name != "none" else ""
        lines.append(f"{name:<20} {m['accuracy'] * 100:>8.2f}% {m['macro']['f1']:>9.4f} {change:>8}")
    return "\n".join(lines)


def run(args, command: str) -> dict:
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    device = require_device(args.device)
    card_path = Path(args.model) if args.model else default_card_path()
    model, card = load_model(card_path, device=device)
    int8_note = None
    if getattr(args, "int8", False) and args.record:
        raise SystemExit("--record stores the card's own (fp32) metrics: leave it out with --int8")
    if getattr(args, "int8", False):
        model, int8_note = _int8(model, card, device)
    items, fingerprint = _items(args, card)
    t0 = time.perf_counter()
    images, labels = load_arrays(args.data, items, size=card.patch_size)
    decode_s = time.perf_counter() - t0
    names = shift_names(getattr(args, "shift", "none"))
    by_shift = evaluate_shifts(model, images, labels, card.class_names, names, args, device)
    metrics = by_shift[names[0]]
    for m in by_shift.values():
        m["inference"].update(device=str(device), threads=torch.get_num_threads(), decode_seconds=round(decode_s, 2))
    result = {
        "model": str(card_path),
        "architecture": card.architecture,
        "data": str(args.data),
        "split": args.split,
        "seed": args.seed if args.split else None,
        "fractions": list(args.fractions) if args.split else None,
        "members_sha256": fingerprint["members_sha256"],
        "command": command,
        "int8": int8_note,
        "shift": names[0] if len(names) == 1 else "all",
        **metrics,
    }
    if len(names) > 1 or names[0] != "none":
        result["shifts"] = {k: v for k, v in by_shift.items()}
    print(f"model: {card.name} ({card.architecture}) from {card_path}" + (f"\nINT8: {int8_note}" if int8_note else ""))
    print(f"data: {args.data}" + (f"  split: {args.split} (seed {args.seed})" if args.split else ""))
    for name, m in by_shift.items():
        if len(by_shift) > 1 or name != "none":
            print(f"\n=== radiometric shift: {name} ===")
        print(format_report(m))
    if len(by_shift) > 1 or names[0] != "none":
        print("\naccuracy per radiometric shift (models/radiometric_shifts.py):")
        print(format_shift_table(by_shift))
    _print_speed(metrics["inference"], names[0])
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json_out}")
    if args.record:
        _record(args, card, by_shift, fingerprint, command)
    return result


def _print_speed(inf: dict, shift: str) -> None:
    print(
        f"\ninference{'' if shift == 'none' else f' ({shift})'}: {inf['windows']} windows in {inf['seconds']:.2f} s = "
        f"{inf['windows_per_second']} windows/s (batch {inf['batch_size']}, {inf['device']}, "
        f"{inf['threads']} threads, best of {inf['passes']} pass(es); decoding took {inf['decode_seconds']} s, "
        "not counted)"
    )


def _record(args, card, by_shift: dict, fingerprint: dict, command: str) -> None:
    """Store the results in the card: unshifted under the split's key (and the CPU/GPU speed),
    each shift under ``<key>_shift_<name>``, and a ``radiometric_shifts`` summary of accuracies."""
    key = args.split or f"eval_{Path(args.data).stem}"
    for name, m in by_shift.items():
        record_in_card(
            card.metrics, key if name == "none" else f"{key}_shift_{name}", m, fingerprint["members_sha256"], command
        )
    if "none" in by_shift:
        inf = by_shift["none"]["inference"]
        card.metrics[f"inference_{inf['device'].split(':')[0]}"] = {**inf, "command": command}
    shifted = {k: v["accuracy"] for k, v in by_shift.items() if k != "none"}
    if shifted:
        summary = card.metrics.setdefault("radiometric_shifts", {})
        summary.update(split=key, members_sha256=fingerprint["members_sha256"], command=command)
        summary.setdefault("accuracy", {}).update(shifted)
    card.save(card.path)
    print(f"recorded in {card.path}")


def _int8(model, card, device):
    """``(INT8 module, its report's reason)``; exits with the reason when the INT8 model cannot be built."""
    from .int8_path import prepare

    if device.type != "cpu":
        raise SystemExit("--int8 runs on the CPU: add --device cpu")
    module, report = prepare(model, len(card.bands), card.patch_size)
    if report.path != "int8":
        raise SystemExit(f"no INT8 model: {report.reason}")
    return module, report.reason


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(raw)
    command = "python -m eurosat_landcover.models.evaluate " + shlex.join(raw)
    run(args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
