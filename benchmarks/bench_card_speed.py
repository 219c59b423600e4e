#!/usr/bin/env python3
"""CPU speed of two model cards on the same decoded test split, measured alternately (A, B, A, B, ...).

    PYTHONPATH=... python benchmarks/bench_card_speed.py CARD_A.json CARD_B.json [--rounds 4] [--threads 1]

The model card's ``inference_cpu`` figure is one ``python -m eurosat_landcover.models.evaluate ...
--record`` run; on a shared CPU two such runs minutes apart are not comparable. Here both models see the
same arrays (EuroSAT test split, seed 42, decoded once) in alternating rounds of ``models.evaluate``'s own
timed pass (``evaluate_arrays``, best of ``--repeats`` passes per round), so load changes hit both alike.
Prints the CPU, the load average, every round, the ratio of the best rounds (B / A) and the median of
the per-round ratios (each round's A and B run back to back).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("card_a")
    p.add_argument("card_b")
    p.add_argument("--data", default=None, help="EuroSAT RGB zip or folder (default: the shared one)")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3, help="timed passes per round (best counts)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)

    from eurosat_landcover.models.checkpoint import load_model
    from eurosat_landcover.models.dataset import DEFAULT_DATASET, list_eurosat, load_arrays, stratified_split
    from eurosat_landcover.models.evaluate import evaluate_arrays

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_engine import cpu_name

    torch.set_num_threads(args.threads)
    models = {k: load_model(Path(c), device="cpu") for k, c in (("A", args.card_a), ("B", args.card_b))}
    card = models["A"][1]
    data = args.data or str(DEFAULT_DATASET)
    items = stratified_split(list_eurosat(data, card.class_names), seed=42, classes=card.class_names)["test"]
    images, labels = load_arrays(data, items, size=card.patch_size)
    print(f"cpu: {cpu_name()}  threads {args.threads}  batch {args.batch_size}  windows {len(items)}")
    best = {"A": [], "B": []}
    for r in range(args.rounds):
        for k in ("A", "B") if r % 2 == 0 else ("B", "A"):
            model, c = models[k]
            cpu = torch.device("cpu")
            m = evaluate_arrays(model, images, labels, c.class_names, args.batch_size, cpu, 1, args.repeats)
            inf = m["inference"]
            best[k].append(inf["windows_per_second"])
            print(
                f"round {r + 1} {k} ({c.weights_sha256[:8]}): {inf['windows_per_second']} windows/s "
                f"(passes {inf['seconds_all']} s), accuracy {m['accuracy'] * 100:.2f} %, load {os.getloadavg()[0]:.2f}"
            )
    a, b = max(best["A"]), max(best["B"])
    median = statistics.median(bb / aa for aa, bb in zip(best["A"], best["B"]))
    print(f"best: A {a} windows/s, B {b} windows/s, B / A = {b / a:.3f}; per-round B / A median {median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
