"""What the training windows look like, for the engine's out-of-distribution warning (core/ood.py).

    python -m eurosat_landcover.models.ood_reference [--data EuroSAT_RGB.zip] [--seed 42] [--out FILE]

Over the TRAIN split of the project's seeded stratified split (models/dataset.py), each 64 x 64 patch
(one window, 0-255, as the model sees it) gives :func:`window_stats`: per band the mean and standard
deviation, and the share of bright white pixels (cloud, snow). The file written
(``models/ood_reference.json`` by default) keeps the 0.5 and 99.5 percentiles of the band means and
standard deviations over the split and how many training windows are mostly white; the command and
the split's fingerprint are recorded with them. Not part of the model card: it describes the data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "ood_reference.json"
SUBSAMPLE = 4  # every 4th pixel in each direction: 256 of a window's 4096 pixels
WHITE_MIN = 180.0  # a pixel is bright white when every band is >= this ...
WHITE_SPREAD = 50.0  # ... and its bands differ by at most this (0-255 scale)
WHITE_WINDOW = 0.25  # a window is "white" when at least this share of its pixels is
RANGE_PERCENTILES = (0.5, 99.5)


def window_stats(x: np.ndarray, step: int = SUBSAMPLE) -> dict:
    """(N, C, H, W) windows on the 0-255 scale -> per window: ``mean`` (N, C), ``std`` (N, C),
    ``white`` (N,) share of bright white pixels; every ``step``-th pixel is used (1: ``x`` is
    already subsampled)."""
    s = np.ascontiguousarray(x[:, :, ::step, ::step], dtype=np.float32)  # strided views are 20x slower
    lo, hi = s.min(axis=1), s.max(axis=1)
    white = ((lo >= WHITE_MIN) & (hi - lo <= WHITE_SPREAD)).mean(axis=(1, 2))
    return {"mean": s.mean(axis=(2, 3)), "std": s.std(axis=(2, 3)), "white": white}


def reference(windows_iter) -> dict:
    """Percentile ranges of :func:`window_stats` over every window of ``windows_iter`` (arrays N,C,H,W)."""
    means, stds, whites = [], [], []
    for x in windows_iter:
        st = window_stats(x)
        means.append(st["mean"])
        stds.append(st["std"])
        whites.append(st["white"])
    m, s, w = np.concatenate(means), np.concatenate(stds), np.concatenate(whites)
    pl, ph = RANGE_PERCENTILES
    return {
        "n_windows": int(len(m)),
        "percentiles": list(RANGE_PERCENTILES),
        "band_mean_range": np.percentile(m, [pl, ph], axis=0).T.round(3).tolist(),
        "band_std_range": np.percentile(s, [pl, ph], axis=0).T.round(3).tolist(),
        "white_window_share": round(float((w >= WHITE_WINDOW).mean()), 5),
        "white_rule": {"min": WHITE_MIN, "spread": WHITE_SPREAD, "window_share": WHITE_WINDOW},
        "subsample": SUBSAMPLE,
    }


def load_reference(path: Path = DEFAULT_OUT) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main(argv=None) -> int:
    from .dataset import DEFAULT_DATASET, list_eurosat, read_rgb, split_fingerprint, stratified_split

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATASET), help="EuroSAT RGB zip or folder")
    p.add_argument("--seed", type=int, default=42, help="split seed (the training recipe's)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    split = stratified_split(list_eurosat(args.data), seed=args.seed)
    items = split["train"]

    def batches(size=512):
        for i in range(0, len(items), size):
            chunk = [read_rgb(args.data, m) for m, _ in items[i : i + size]]
            yield np.stack(chunk).transpose(0, 3, 1, 2)

    ref = reference(batches())
    ref["split"] = {"name": "train", "seed": args.seed, **split_fingerprint({"train": items})["train"]}
    ref["command"] = "python -m eurosat_landcover.models.ood_reference" + (
        f" --seed {args.seed}" if args.seed != 42 else ""
    )
    tmp = Path(args.out + ".partial")
    tmp.write_text(json.dumps(ref, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(json.dumps({k: v for k, v in ref.items() if k != "split"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
