"""Accuracy assessment of the bundled model's map of the sample mosaic, labelled from the mosaic's truth.

    .venv/bin/python scripts/assess_demo.py [--out runs/assess_demo] [--stride 16] [--screenshot docs/...png]

1. classifies ``sample_data/eurosat_mosaic_rgb.tif`` (12 x 8 EuroSAT RGB patches of 64 px, 10 m, UTM 32N) with
   the bundled model (reuses the map when it is already there);
2. draws a stratified random sample on the map (core.accuracy.design, the code behind the Assess page);
3. labels every point from ``sample_data/eurosat_mosaic_rgb_truth.json`` (the class of the EuroSAT patch the
   point falls in), standing in for an analyst;
4. runs the analysis (core.accuracy.report) and prints the adjusted areas with their 95 % CIs next to the true
   areas of the mosaic (each patch is 0.4096 km²);
5. with ``--screenshot``, opens the HTML report in headless chromium and saves a PNG of it.

Every figure the README quotes about this demo comes from this script's output.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def label_from_truth(gpkg: Path, truth: dict, names: list) -> int:
    from osgeo import ogr

    x0 = min(b["bounds"][0] for b in truth["blocks"])
    y1 = max(b["bounds"][3] for b in truth["blocks"])
    size = truth["block_px"] * truth["gsd_m"]
    grid = {(b["row"], b["col"]): b["class"] for b in truth["blocks"]}
    ds = ogr.Open(str(gpkg), 1)
    lyr = ds.GetLayerByName("sample_points")
    n = 0
    lyr.StartTransaction()
    for f in lyr:
        g = f.GetGeometryRef()
        key = (int((y1 - g.GetY()) // size), int((g.GetX() - x0) // size))
        name = grid[key]
        f.SetField("ref_class", name)
        f.SetField("ref_code", names.index(name))
        f.SetField("status", "labelled")
        f.SetField("labelled_utc", "truth")
        lyr.SetFeature(f)
        n += 1
    lyr.CommitTransaction()
    ds = None
    return n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "runs" / "assess_demo"))
    p.add_argument("--stride", type=int, default=16)
    p.add_argument("--target-se", type=float, default=0.02)
    p.add_argument("--min-per-class", type=int, default=20)
    p.add_argument("--seed", type=int, default=2014)
    p.add_argument("--screenshot", help="PNG of the HTML report (headless chromium)")
    args = p.parse_args()
    sys.path.insert(0, str(REPO.parent))
    from eurosat_landcover.core.accuracy.design import DesignSpec, create_sampling_design
    from eurosat_landcover.core.accuracy.report import run_assessment

    raster = REPO / "sample_data" / "eurosat_mosaic_rgb.tif"
    truth = json.loads((REPO / "sample_data" / "eurosat_mosaic_rgb_truth.json").read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    classes = out / f"{raster.stem}_classes.tif"
    if not classes.is_file():
        cmd = [sys.executable, "-m", "eurosat_landcover", "classify", str(raster), str(out),
               "--mode", "windows", "--stride", str(args.stride), "--quiet"]  # fmt: skip
        print("classifying:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=REPO.parent, stdout=subprocess.DEVNULL)
    sample = out / f"{raster.stem}_sample.gpkg"
    spec = DesignSpec(target_se=args.target_se, min_per_class=args.min_per_class, seed=args.seed)
    design = create_sampling_design(classes, sample, spec, overwrite=True)
    plan = design["plan"]
    print(f"sample: {design['points']} points (target SE {args.target_se} asks for {plan['n_from_se']}), "
          f"min {args.min_per_class} per class, seed {args.seed}")  # fmt: skip
    labelled = label_from_truth(sample, truth, truth["classes"])
    print(f"labelled from the mosaic's truth: {labelled}")
    res = run_assessment(sample=sample, overwrite=True)
    a = res["assessment"]
    lo, hi = a.ci(a.overall, a.overall_se)
    print(f"overall accuracy {100 * a.overall:.1f} % (95 % CI {100 * lo:.1f}-{100 * hi:.1f} %)")
    block_km2 = (truth["block_px"] * truth["gsd_m"]) ** 2 / 1e6
    true_km2 = {c: 0.0 for c in truth["classes"]}
    for b in truth["blocks"]:
        true_km2[b["class"]] += block_km2
    covered = 0
    rows = a.per_class()
    print(f"{'class':<22}{'mapped':>9}{'adjusted':>10}{'95 % CI':>20}{'true':>8}  in CI   UA     PA")
    for r in rows:
        t = true_km2.get(r["name"], 0.0)
        c_lo, c_hi = r["adjusted_km2_ci95"]
        inside = c_lo - 1e-9 <= t <= c_hi + 1e-9
        covered += inside
        ua = "" if r["users_accuracy"] is None else f"{r['users_accuracy']:.2f}"
        pa = "" if r["producers_accuracy"] is None else f"{r['producers_accuracy']:.2f}"
        print(f"{r['name']:<22}{r['mapped_km2']:9.2f}{r['adjusted_km2']:10.2f}   {c_lo:7.2f} - {c_hi:6.2f}"
              f"{t:8.2f}  {'yes' if inside else 'NO':<5} {ua:<6} {pa}")  # fmt: skip
    worst = max(rows, key=lambda r: abs(r["mapped_km2"] - true_km2.get(r["name"], 0.0)))
    print(f"largest mapped-area error: {worst['name']}, {worst['mapped_km2'] - true_km2[worst['name']]:+.2f} km²")
    print(f"true area inside the 95 % CI for {covered} of {len(rows)} classes")
    for b in a.by_confidence:
        acc = "" if b["accuracy"] is None else f"accuracy {b['accuracy']:.2f} ± {a.z * b['accuracy_se']:.2f}"
        mean = "" if b["mean_confidence"] is None else f"mean confidence {b['mean_confidence']:.2f}, "
        print(f"confidence {b['bin'][0]:.1f}-{b['bin'][1]:.1f}: {b['n']:4d} points, "
              f"{100 * b['area_share']:5.1f} % of the map, {mean}{acc}")  # fmt: skip
    print("outputs:", res["json"], res["html"], sep="\n  ")
    if args.screenshot:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            print("chromium not found: no screenshot", file=sys.stderr)
            return 1
        shot = Path(args.screenshot).resolve()
        subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={shot}",
             "--window-size=1100,1900", Path(res["html"]).resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        print("screenshot:", shot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
