#!/usr/bin/env python3
"""Accuracy on real, labelled Sentinel-2 patches (benchmarks/data/real_s2; provenance in its README).

    PYTHONPATH=... python benchmarks/eval_real.py [--mode both] [--model CARD.json] [--map-model CARD.json]
        [--stride 16] [--radiometry auto] [--verbose] [--sources ...]

Every patch is exported as an analyst would: a plain GeoTIFF, bands B04/B03/B02, no metadata, and
classified with ``classify()`` at the given options (defaults: the product's), in windows mode (the
window classifier, stride 16) and in map mode (the per-pixel model, ``--mode map``): one column each
(``--mode`` picks one). A patch is a hit when its top class by area is one of the EuroSAT classes its
labels map to (labels_to_eurosat.json); the same rule in both modes.
Sources:
- ``bigearthnet_l2a``: BigEarthNet-S2 L2A patches (sen2cor, 2017-2018, no offset), UInt16;
- ``bigearthnet_l2a_offset1000_stac``: the same DNs + 1000 (the processing-baseline-04.00 offset)
  with a STAC item beside the file whose ``raster:bands`` carry scale 0.0001 and offset -0.1;
- ``eurosat_ms_l1c``: the 53 EuroSAT MS GeoTIFFs (L1C, UInt16; 50 + rico-hdl's 3) as 3-band files;
- ``eurosat_ms_8bit``: the same as 8-bit RGB, ``clip(DN / 2750 * 255)`` (EuroSAT's RGB rule).
Patches BigEarthNet lists as covered by seasonal snow are reported, and left out of the share
("snow-free"); each run's out-of-distribution warning is counted too, and the share among the
snow-free runs without one (what a user who heeds the warning sees). Prints a table and one JSON line.

``--l2a-add R,G,B`` adds DNs to the L2A patches' B04/B03/B02 before they are written (an experiment: a
hand-made top-of-atmosphere-like rendering, the path radiance that L1C carries and L2A removed; e.g.
the median dark-object levels of the 50 EuroSAT L1C tiles, 459,693,865). ``--sources`` picks rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "real_s2"
# BigEarthNet's own list of patches with seasonal snow (patches_with_seasonal_snow.csv, bigearthnet_common)
SEASONAL_SNOW = {"S2B_MSIL2A_20180204T94161_57_38"}


def _write(path: Path, arr: np.ndarray, like: str) -> None:
    """(3, H, W) array -> plain GeoTIFF with ``like``'s georeference and nothing else."""
    from osgeo import gdal, gdal_array

    src = gdal.Open(like)
    dt = gdal_array.NumericTypeCodeToGDALTypeCode(arr.dtype)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1], 3, dt)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    for i in range(3):
        ds.GetRasterBand(i + 1).WriteArray(arr[i])
    ds = None


def _read(paths) -> np.ndarray:
    from osgeo import gdal

    return np.stack([gdal.Open(str(p)).ReadAsArray() for p in paths])


def stac_item(tif: Path) -> dict:
    """A minimal STAC item for ``tif`` as Earth Search / the Copernicus catalogue publish L2A >= 04.00."""
    bands = [{"data_type": "uint16", "nodata": 0, "scale": 0.0001, "offset": -0.1} for _ in range(3)]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/raster/v1.1.0/schema.json"],
        "id": tif.stem,
        "properties": {"processing:level": "L2A", "s2:processing_baseline": "05.09"},
        "assets": {"visual": {"href": f"./{tif.name}", "raster:bands": bands}},
    }


def bigearthnet_cases(tmp: Path, offset: bool, add=(0.0, 0.0, 0.0)):
    mapping = json.loads((DATA / "labels_to_eurosat.json").read_text())
    for d in sorted((DATA / "bigearthnet_l2a").iterdir()):
        meta = json.loads((d / f"{d.name}_labels_metadata.json").read_text())
        files = [d / f"{d.name}_{b}.tif" for b in ("B04", "B03", "B02")]
        arr = _read(files).astype(np.uint16)
        if any(add):
            arr = np.clip(arr + np.asarray(add)[:, None, None], 0, 65535).round().astype(np.uint16)
        out = tmp / (d.name + ("_offset.tif" if offset else ".tif"))
        if offset:
            arr = arr + np.uint16(1000)
        _write(out, arr, str(files[0]))
        if offset:
            out.with_suffix(".json").write_text(json.dumps(stac_item(out)))
        want = sorted({c for lab in meta["labels"] for c in mapping.get(lab, [])})
        yield d.name, out, want, d.name in SEASONAL_SNOW


def eurosat_cases(tmp: Path, eight_bit: bool):
    from osgeo import gdal

    for f in sorted((DATA / "eurosat_ms_l1c").glob("*.tif")) + sorted((DATA / "eurosat_ms_l1c_rico_hdl").glob("*.tif")):
        path = f
        if eight_bit:
            dn = gdal.Open(str(f)).ReadAsArray().astype(np.float64)
            path = tmp / (f.stem + "_8bit.tif")
            _write(path, np.clip(dn / 2750 * 255, 0, 255).round().astype(np.uint8), str(f))
        yield f.stem, path, [f.stem.split("_")[0]], False


SOURCES = {
    "bigearthnet_l2a": lambda tmp, add: bigearthnet_cases(tmp, offset=False, add=add),
    "bigearthnet_l2a_offset1000_stac": lambda tmp, add: bigearthnet_cases(tmp, offset=True, add=add),
    "eurosat_ms_l1c": lambda tmp, add: eurosat_cases(tmp, eight_bit=False),
    "eurosat_ms_8bit": lambda tmp, add: eurosat_cases(tmp, eight_bit=True),
}


def evaluate(cases, model, mode: str, args, out_root: Path) -> dict:
    """Classify every case in ``mode`` with ``model`` (a loaded ``(net, card)`` pair); the share of hits."""
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    rows = []
    for name, path, want, snow in cases:
        req = ClassificationRequest(
            path,
            out_root / mode / name,
            stride=args.stride,
            radiometry=args.radiometry,
            fast_path="off",
            overwrite=True,
            mode=mode,
        )
        res = classify(req, model=model)
        top = max(res.area_km2, key=res.area_km2.get)
        ood = res.summary.get("out_of_distribution") or {}
        rows.append(
            {
                "patch": name,
                "top": top,
                "labels": want,
                "hit": top in want,
                "snow": snow,
                "radiometry": res.radiometry.get("method"),
                "offset": res.radiometry.get("offset", 0.0),
                "ood": bool(ood.get("warning")),
            }
        )
    clear = [r for r in rows if not r["snow"]]
    trusted = [r for r in clear if not r["ood"]]
    return {
        "n": len(rows),
        "hits": sum(r["hit"] for r in rows),
        "n_snow_free": len(clear),
        "hits_snow_free": sum(r["hit"] for r in clear),
        "share_snow_free": round(sum(r["hit"] for r in clear) / max(1, len(clear)), 4),
        "ood_warnings": sum(r["ood"] for r in rows),
        "n_snow_free_no_ood": len(trusted),
        "hits_snow_free_no_ood": sum(r["hit"] for r in trusted),
        "patches": rows,
    }


def _row_line(rows: dict) -> str:
    """One patch, one column per mode: top class, hit or MISS, then the first mode's radiometry and flags."""
    first = next(iter(rows.values()))
    cols = " ".join(f"{r['top']:21s} {'hit ' if r['hit'] else 'MISS'}" for r in rows.values())
    flags = (" snow" if first["snow"] else "") + "".join(f" OOD({m})" for m, r in rows.items() if r["ood"])
    off = f" -{first['offset']:g}" if first["offset"] else ""
    return f"    {first['patch']:40s} {cols} {first['radiometry']}{off}{flags}  labels {','.join(first['labels'])}"


def _source_line(src: str, by_mode: dict) -> str:
    parts = []
    for mode, r in by_mode.items():
        parts.append(
            f"{mode}: {r['hits_snow_free']}/{r['n_snow_free']} snow-free ({100 * r['share_snow_free']:.1f} %), "
            f"{r['hits']}/{r['n']} all, OOD {r['ood_warnings']}/{r['n']}, "
            f"no-warning {r['hits_snow_free_no_ood']}/{r['n_snow_free_no_ood']}"
        )
    return f"{src:34s} " + " | ".join(parts)


def load_models(args) -> dict:
    """{mode: (net, card)} for the modes asked: ``--model`` for windows, ``--map-model`` for map."""
    import torch
    from eurosat_landcover.core.stages.model import model_for, read_card

    models = {}
    for mode in MODES_OF[args.mode]:
        card = read_card(args.model if mode == "windows" else args.map_model, mode)
        models[mode] = (model_for(card, torch.device("cpu")), card)
    return models


MODES_OF = {"windows": ("windows",), "map": ("map",), "both": ("windows", "map")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="windows-mode model card JSON (default: the bundled model)")
    p.add_argument("--map-model", default=None, help="map-mode model card JSON (default: the bundled map model)")
    p.add_argument("--mode", choices=tuple(MODES_OF), default="both", help="windows, map or both (default both)")
    p.add_argument("--stride", type=int, default=16, help="windows mode's stride (default 16)")
    p.add_argument("--radiometry", default="auto")
    p.add_argument("--verbose", action="store_true", help="one line per patch")
    p.add_argument("--sources", default=",".join(SOURCES), help="comma-separated subset of: " + ", ".join(SOURCES))
    p.add_argument("--l2a-add", default="0,0,0", help="DNs added to the L2A patches' B04,B03,B02 (an experiment)")
    args = p.parse_args(argv)

    models = load_models(args)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_engine import cpu_name

    add = tuple(float(v) for v in args.l2a_add.split(","))
    names = "  ".join(f"{m}: {c.name} ({c.weights_sha256[:8]})" for m, (_, c) in models.items())
    print(
        f"cpu: {cpu_name()}  {names}  stride {args.stride}  radiometry {args.radiometry}"
        + (f"  L2A + {args.l2a_add}" if any(add) else "")
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for src in args.sources.split(","):
            cases = list(SOURCES[src](tmp, add))
            by_mode = {m: evaluate(cases, models[m], m, args, tmp / "runs" / src) for m in models}
            results[src] = by_mode
            print(_source_line(src, by_mode))
            if args.verbose:
                for i in range(len(cases)):
                    print(_row_line({m: r["patches"][i] for m, r in by_mode.items()}))
    summary = {
        src: {m: {k: v for k, v in r.items() if k != "patches"} for m, r in by_mode.items()}
        for src, by_mode in results.items()
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
