"""Run the engine with other releases of torch/torchvision/timm/safetensors and compare with the venv's.

Each FOLDER holds packages installed with ``pip install --no-deps --target FOLDER ...`` (e.g. the lower
bounds of toolbelt/requirements.py); it is put first on the path of a fresh interpreter, which classifies
the bundled sample raster with the bundled model. The script prints the versions each run imported, its
area per class, and the share of output cells whose class equals the venv's own run.

    .venv/bin/python scripts/check_version_bounds.py /tmp/lower-bounds [...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"

_RUN = """
import json, sys
import numpy, safetensors, timm, torch, torchvision
from osgeo import gdal
from eurosat_landcover.cli import main
code = main(["classify", sys.argv[1], sys.argv[2], "--quiet", "--mode", "windows", "--stride", "32", "--device", "cpu"])
classes = gdal.Open(sys.argv[3]).ReadAsArray()
versions = {m.__name__: m.__version__ for m in (torch, torchvision, timm, safetensors, numpy)}
print(json.dumps({"code": code, "versions": versions, "classes": classes.ravel().tolist()}))
"""


def classify(folder: str, out: Path) -> dict:
    env = dict(os.environ)
    if folder:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (folder, env.get("PYTHONPATH", "")) if p)
    classes = out / f"{SAMPLE.stem}_classes.tif"
    result = subprocess.run(
        [sys.executable, "-c", _RUN, str(SAMPLE), str(out), str(classes)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{folder or 'venv'}: failed\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    summary = json.loads((out / f"{SAMPLE.stem}_summary.json").read_text())
    report["areas"] = summary.get("area_km2") or summary.get("areas_km2") or summary.get("area_per_class_km2")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="package folders to compare with the venv")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        reference = classify("", Path(tmp) / "venv")
        print(f"venv: {reference['versions']}")
        for i, folder in enumerate(args.folders):
            other = classify(folder, Path(tmp) / f"run{i}")
            same = sum(a == b for a, b in zip(reference["classes"], other["classes"]))
            share = same / max(len(reference["classes"]), 1)
            print(f"{folder}: {other['versions']}")
            print(f"  cells with the venv's class: {same}/{len(reference['classes'])} ({share:.2%})")
            print(f"  areas: {other['areas']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
