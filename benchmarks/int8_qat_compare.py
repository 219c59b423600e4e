#!/usr/bin/env python3
"""The calibrated INT8 model (post-training quantization) against a quantization-aware fine-tuned one, in one
run: cell agreement with fp32 at stride 16 on 4 mosaics of VALIDATION patches and on the sample
(sample_data/eurosat_mosaic_rgb.tif, EuroSAT test patches), and top-1 agreement on the test split's patches.

    EUROSAT_LANDCOVER_CALIBRATION_DATA=/work/shared/datasets/eurosat-rgb/EuroSAT_RGB.zip \\
        PYTHONPATH=.pp nice -n 10 .venv/bin/python -P benchmarks/int8_qat_compare.py [--shipped FOLDER]

``--shipped``: the folder holding ``<card name>_int8.json`` / ``.pt`` (default models/weights/, the shipped
model; models/int8_qat.py's ``--out`` folder for a run's best). Cells follow the engine (models/int8_cells.py:
the same agreement on the sample as two ``classify()`` runs). Torch on one thread; the CPU is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shipped", default=None)
    args = ap.parse_args()
    import torch
    from osgeo import gdal

    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT.parent))
    from bench_int8 import cpu_line
    from eurosat_landcover.models import int8_path, int8_shipped, model_cache
    from eurosat_landcover.models.checkpoint import default_card_path
    from eurosat_landcover.models.dataset import list_eurosat, load_arrays, stratified_split
    from eurosat_landcover.models.graph_cache import model_identity
    from eurosat_landcover.models.int8_cells import cell_agreement, reference_cells, val_mosaics
    from eurosat_landcover.models.lazy_model import materialise

    torch.set_num_threads(1)
    print(f"CPU: {cpu_line()}; torch {torch.__version__}, 1 thread; load average {os.getloadavg()[0]:.1f}")
    model, card, _ = model_cache.cached_model(default_card_path(), "cpu")
    eager = materialise(model).eval()
    source = int8_path.calibration_source()
    found = int8_shipped.find(model_identity(model), 3, card.patch_size, Path(args.shipped) if args.shipped else None)
    if found is None or source is None:
        raise SystemExit("needs a shipped INT8 model for the bundled weights and the EuroSAT zip")
    qat, _ = int8_path.from_shipped(eager, *found)
    ptq, _, described, _ = int8_path.build(eager, card, None, card.patch_size)  # no key: the calibrated path
    print(f"shipped: {found[1]['method']} ({found[0]}); calibrated: {described}")
    sample = gdal.Open(str(ROOT / "sample_data" / "eurosat_mosaic_rgb.tif")).ReadAsArray()
    sets = {"validation mosaics": reference_cells(eager, val_mosaics(source, card)), "sample": None}
    sets["sample"] = reference_cells(eager, [sample])
    test = stratified_split(list_eurosat(source, card.class_names), classes=card.class_names)["test"]
    images, labels = load_arrays(source, test, size=card.patch_size)
    x = torch.from_numpy(images).float()
    with torch.inference_mode():
        ref = torch.cat([eager(x[i : i + 256]).argmax(1) for i in range(0, len(x), 256)])
    print()
    print("| INT8 model | cells agreeing, validation mosaics | cells agreeing, sample | test accuracy change |")
    print("|---|---:|---:|---:|")
    acc32 = float((ref.numpy() == labels).mean())
    for name, fn in (("calibrated (post-training)", ptq), ("quantization-aware fine-tuned", qat)):
        cells = [cell_agreement(fn, sets[k]) for k in ("validation mosaics", "sample")]
        with torch.inference_mode():
            pred = torch.cat([fn(x[i : i + 256]).argmax(1) for i in range(0, len(x), 256)])
        change = 100 * (float((pred.numpy() == labels).mean()) - acc32)
        print(f"| {name} | {cells[0]:.2%} | {cells[1]:.2%} | {change:+.2f} points |")
    n = sum(s[-1].size for s in sets["validation mosaics"])
    print(
        f"\n{n} validation cells, {sets['sample'][0][-1].size} sample cells (stride 16); fp32 test accuracy "
        f"{acc32:.2%} on {len(test)} patches; load average at the end {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
