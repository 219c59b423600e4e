#!/usr/bin/env python3
"""Why open sea reads as Forest: the real L2A sea patches against EuroSAT's SeaLake and Forest training patches.

    PYTHONPATH=... python benchmarks/diag_sea.py [--data EuroSAT_RGB.zip] [--model CARD.json]

The sea patches are the BigEarthNet patches of benchmarks/data/real_s2 whose labels map to SeaLake and
nothing else (chosen from the labels alone). Each is exported as in ``eval_real.py`` (plain 3-band
B04/B03/B02 UInt16) and scaled to 0-255 as the engine scales it (``detect_band_mapping`` +
``make_radiometry``, the product's automatic choice); the 64 px windows at stride 16 are compared with
every SeaLake and Forest patch of the bundled model's training split (``stratified_split``, seed 42),
per band (R, G, B):
- ``mean``: the window's mean value (0-255);
- ``std``: its standard deviation (contrast);
- ``grad``: the mean absolute difference between neighbouring pixels (fine texture: waves, canopy).
For each sea patch the median over its windows is printed with its percentile rank among the SeaLake
and the Forest training patches. Then the windows classifier on the sea windows: as exported, with their
fine texture smoothed away (a binomial filter, mean kept), with SeaLake's brightness (each band's mean
moved to the SeaLake training median, texture kept), and both; the same transforms on 64 SeaLake and 64
Forest training patches are the controls (a transform that breaks real SeaLake patches proves nothing).
A diagnosis, not a tuning: nothing here changes the product.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BANDS = ("R", "G", "B")
FEATURES = ("mean", "std", "grad")


def features(win: np.ndarray) -> np.ndarray:
    """(3, H, W) 0-255 window -> (3 features, 3 bands): mean, std, mean |neighbour difference|."""
    w = win.astype(np.float64)
    grad = (np.abs(np.diff(w, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(w, axis=2)).mean(axis=(1, 2))) / 2
    return np.stack([w.mean(axis=(1, 2)), w.std(axis=(1, 2)), grad])


def sea_patches(tmp: Path) -> dict:
    """{patch: (3, 120, 120) float 0-255 as the engine scales it} for the patches labelled SeaLake only."""
    from eurosat_landcover.core.bands import detect_band_mapping
    from eurosat_landcover.core.radiometry import make_radiometry
    from eurosat_landcover.core.stages.model import read_card
    from eval_real import bigearthnet_cases
    from osgeo import gdal

    card = read_card(None)
    out = {}
    for name, path, want, snow in bigearthnet_cases(tmp, offset=False):
        if want != ["SeaLake"] or snow:
            continue
        m = detect_band_mapping(str(path), card)
        raw = gdal.Open(str(path)).ReadAsArray(band_list=m.bands)
        rad = make_radiometry(m.radiometry, card, m.radiometry_reason, None, m.radiometry_params)
        out[name] = (np.asarray(rad.apply(raw), dtype=np.float64), f"{m.radiometry} offset {rad.offset:g}")
    return out


def windows(img: np.ndarray, size: int = 64, stride: int = 16) -> list:
    h, w = img.shape[1:]
    return [
        img[:, y : y + size, x : x + size]
        for y in range(0, h - size + 1, stride)
        for x in range(0, w - size + 1, stride)
    ]


def training_patches(data: str, classes=("SeaLake", "Forest")) -> dict:
    """{class: (N, 3, 64, 64) uint8} of the training split (what the model learned from)."""
    from eurosat_landcover.models.dataset import list_eurosat, read_rgb, stratified_split

    split = stratified_split(list_eurosat(data))
    out = {}
    for c in classes:
        members = [m for m, _ in split["train"] if m.split("/")[-2] == c]
        out[c] = np.stack([read_rgb(data, m).transpose(2, 0, 1) for m in members])
    return out


def rank(value: float, population: np.ndarray) -> float:
    """Percentile rank of ``value`` in ``population`` (0-100)."""
    return float((population < value).mean() * 100)


def classify(net, wins: list, classes: list) -> dict:
    import torch

    with torch.inference_mode():
        logits = net(torch.from_numpy(np.stack(wins)).float())
    top = logits.argmax(1).tolist()
    probs = torch.softmax(logits, 1).mean(0)
    return {
        "top": {classes[k]: top.count(k) for k in sorted(set(top))},
        "p_sealake": round(float(probs[classes.index("SeaLake")]), 3),
        "p_forest": round(float(probs[classes.index("Forest")]), 3),
    }


def smooth(w: np.ndarray, passes: int = 4) -> np.ndarray:
    """Binomial [1, 2, 1] / 4 filter along both axes, ``passes`` times (edges repeated): fine texture
    (waves, canopy) goes, the mean and the broad pattern stay."""
    out = w.astype(np.float64)
    for _ in range(passes):
        for axis in (1, 2):
            pad = np.pad(out, [(0, 0)] + [(1, 1) if a == axis else (0, 0) for a in (1, 2)], mode="edge")
            a, b, c = (np.take(pad, range(k, k + out.shape[axis]), axis=axis) for k in (0, 1, 2))
            out = (a + 2 * b + c) / 4
    return out


def counterfactuals(wins: list, ref: np.ndarray) -> dict:
    """The windows as given, smoothed, with SeaLake's brightness (each band's mean moved to the SeaLake
    training median, texture kept), and both."""
    mean_t = ref[0][:, None, None]  # SeaLake training median of each band's mean
    out = {"as given": wins, "smoothed": [], "SeaLake brightness": [], "smoothed + SeaLake brightness": []}
    for w in wins:
        mu = w.mean(axis=(1, 2), keepdims=True)
        sm = smooth(w)
        out["smoothed"].append(sm)
        out["SeaLake brightness"].append(np.clip(w - mu + mean_t, 0, 255))
        out["smoothed + SeaLake brightness"].append(np.clip(sm - mu + mean_t, 0, 255))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="/work/shared/datasets/eurosat-rgb/EuroSAT_RGB.zip", help="EuroSAT RGB zip")
    p.add_argument("--model", default=None, help="windows-mode model card (default: the bundled model)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from eurosat_landcover.models.checkpoint import load_model

    net, card = load_model(args.model, "cpu")
    classes = [c.name for c in card.classes]
    train = training_patches(args.data)
    feats = {c: np.stack([features(x) for x in arr]) for c, arr in train.items()}  # (N, 3 feat, 3 bands)
    print(
        f"model {card.name} ({card.weights_sha256[:8]}); training patches: "
        + ", ".join(f"{c} {len(a)}" for c, a in train.items())
    )
    print("\nEuroSAT training patches, median [5th-95th percentile], R/G/B on 0-255:")
    for c, f in feats.items():
        for i, feat in enumerate(FEATURES):
            q = np.percentile(f[:, i], [50, 5, 95], axis=0)
            print(
                f"  {c:8s} {feat:5s} "
                + "  ".join(f"{b} {q[0, k]:5.1f} [{q[1, k]:5.1f}-{q[2, k]:5.1f}]" for k, b in enumerate(BANDS))
            )
    ref = np.median(feats["SeaLake"], axis=0)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        seas = sea_patches(Path(tmp))
    for name, (img, how) in seas.items():
        wins = windows(img)
        f = np.median(np.stack([features(w) for w in wins]), axis=0)
        print(
            f"\n{name} ({how}; {len(wins)} windows), median over its windows, percentile rank among SeaLake / Forest:"
        )
        for i, feat in enumerate(FEATURES):
            sl, fo = feats["SeaLake"][:, i], feats["Forest"][:, i]
            cells = [
                f"{b} {f[i, k]:5.1f} ({rank(f[i, k], sl[:, k]):3.0f} / {rank(f[i, k], fo[:, k]):3.0f})"
                for k, b in enumerate(BANDS)
            ]
            print(f"  {feat:5s} " + "  ".join(cells))
        rough = [rank(f[i, k], feats["SeaLake"][:, i, k]) for i in (1, 2) for k in range(3)]
        n_rough = int((feats["SeaLake"][:, 2] >= f[2]).all(axis=1).sum())
        print(
            f"  SeaLake training patches with texture (grad) >= this sea's in all three bands: "
            f"{n_rough} of {len(feats['SeaLake'])}"
        )
        report[name] = {
            "features": f.round(2).tolist(),
            "sealake_ranks_std_grad": [round(r) for r in rough],
            "rough_sealake": n_rough,
        }
        for label, ws in counterfactuals(wins, ref).items():
            r = classify(net, ws, classes)
            report[name][label] = r
            print(
                f"  classifier, {label:30s}: top {r['top']}, "
                f"mean P(SeaLake) {r['p_sealake']}, P(Forest) {r['p_forest']}"
            )
    # controls: the same transforms on training patches (a sound transform keeps SeaLake SeaLake)
    rng = np.random.default_rng(0)
    for c in ("SeaLake", "Forest"):
        sample = [x.astype(np.float64) for x in train[c][rng.choice(len(train[c]), 64, replace=False)]]
        report[f"control_{c}_train"] = {}
        print(f"\ncontrol, 64 random {c} training patches through the same transforms:")
        for label, ws in counterfactuals(sample, ref).items():
            r = classify(net, ws, classes)
            report[f"control_{c}_train"][label] = r
            print(f"  classifier, {label:30s}: top {r['top']}, P(SeaLake) {r['p_sealake']}, P(Forest) {r['p_forest']}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
