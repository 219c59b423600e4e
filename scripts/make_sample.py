#!/usr/bin/env python3
"""Build the bundled sample data in sample_data/ (run from the repository root with the venv):

    .venv/bin/python scripts/make_sample.py [--rgb-zip ZIP] [--ms-zip ZIP]

- eurosat_mosaic_rgb.tif: 12 x 8 blocks of 64 px (768 x 512 px, 10 m pixels, EPSG:32632),
  each block one TEST-split EuroSAT RGB patch (models.dataset.stratified_split(zip, seed=42)
  ["test"], so the default model never trained on it), ~10 per class, shuffled with seed 0;
  lossless DEFLATE so the pipeline sees the exact patch pixels.
  eurosat_mosaic_rgb_truth.json / .csv: the true class of every block (row, col, bounds).
- sentinel2_13band.tif: one real 13-band Sentinel-2 L1C EuroSAT tile (uint16 DNs, bands
  B01..B12, B8A) copied out of the MS sample zip, one whose RGB twin is not in the RGB zip
  (part of the 10 % kept out of training data altogether).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "sample_data"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rgb-zip", default=SHARED / "eurosat-rgb" / "EuroSAT_RGB.zip", type=Path)
    p.add_argument("--ms-zip", default=SHARED / "eurosat-ms-sample" / "EuroSAT_MS_sample.zip", type=Path)
    p.add_argument("--out", default=OUT, type=Path)
    p.add_argument("--columns", type=int, default=12)
    p.add_argument("--rows", type=int, default=8)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT.parent))
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    try:
        from eurosat_landcover.models.dataset import EUROSAT_CLASSES, stratified_split
        from mosaic_testlib import build_mosaic
    except ImportError:  # not installed as a package: the venv link is missing
        print("run with the project venv (.venv/bin/python) so eurosat_landcover is importable", file=sys.stderr)
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    test = stratified_split(args.rgb_zip, seed=42)["test"]
    n = args.columns * args.rows
    per_class: dict[int, list] = {}
    for member, ci in test:
        per_class.setdefault(ci, []).append((member, ci))
    picked, i = [], 0
    while len(picked) < n:  # round robin over the classes: ~n/10 each
        for ci in sorted(per_class):
            if len(picked) < n and i < len(per_class[ci]):
                picked.append(per_class[ci][i])
        i += 1
    random.Random(0).shuffle(picked)
    tif = args.out / "eurosat_mosaic_rgb.tif"
    truth = build_mosaic(
        args.rgb_zip,
        picked,
        tif,
        columns=args.columns,
        class_names=EUROSAT_CLASSES,
        epsg=32632,
        origin=(480000.0, 5300000.0),
        truth_path=args.out / "eurosat_mosaic_rgb_truth.json",
    )
    print(f"wrote {tif} ({tif.stat().st_size / 1e6:.2f} MB, {len(truth['blocks'])} blocks)")

    with zipfile.ZipFile(args.rgb_zip) as z:
        rgb_names = set(z.namelist())
    with zipfile.ZipFile(args.ms_zip) as z:
        ms = sorted(m for m in z.namelist() if m.endswith(".tif"))
        held_out = [m for m in ms if f"EuroSAT_RGB/{m.split('/')[-2]}/{Path(m).stem}.jpg" not in rgb_names]
        pick = next((m for m in held_out if "/Residential/" in m), held_out[0] if held_out else ms[0])
        dst = args.out / "sentinel2_13band.tif"
        with z.open(pick) as fsrc, dst.open("wb") as fdst:
            shutil.copyfileobj(fsrc, fdst)
    (args.out / "sentinel2_13band.txt").write_text(
        f"{pick} from EuroSAT_MS_sample.zip; label: {pick.split('/')[-2]}; 13 bands uint16 Sentinel-2 L1C DNs, "
        "order B01 B02 B03 B04 B05 B06 B07 B08 B09 B10 B11 B12 B8A; not in the RGB training zip.\n"
        "EuroSAT (Helber et al. 2019), MIT licence.\n",
        encoding="utf-8",
    )
    print(f"wrote {dst} ({pick}, {dst.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
