"""The sample GeoPackage: its point layer and its design table, written under a temporary name; read back."""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .allocation import DesignSpec
from .errors import AssessmentError
from .maps import MapInfo, confidence_at
from .sampling import Sample

LAYER = "sample_points"
DESIGN_TABLE = "sample_design"
STATUS_LABELLED = "labelled"
STATUS_UNSURE = "unsure"
STATUS_SKIPPED = "skipped"
SCHEMA_VERSION = 1


def _partial(path: Path) -> Path:
    return path.with_name(f"{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")


def write_sample(path, sample: Sample, info: MapInfo, spec: DesignSpec, overwrite: bool = False) -> Path:
    """The sample as a GeoPackage point layer (+ a table with the design), under a temporary name, renamed."""
    from osgeo import ogr, osr

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        path = path.with_suffix(".gpkg")
    if path.exists() and not overwrite:
        raise AssessmentError(f"{path} already exists: choose another name or allow overwriting")
    if not path.parent.is_dir():
        raise AssessmentError(f"folder {path.parent} does not exist")
    tmp = _partial(path)
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(str(tmp))
    if ds is None:
        raise AssessmentError(f"cannot write {tmp.parent}: is the folder writable?")
    try:
        srs = osr.SpatialReference()
        if info.crs_wkt:
            srs.ImportFromWkt(info.crs_wkt)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        lyr = ds.CreateLayer(LAYER, srs if info.crs_wkt else None, ogr.wkbPoint, ["FID=fid"])
        for name, ftype in (
            ("point_id", ogr.OFTInteger),
            ("stratum", ogr.OFTString),
            ("map_code", ogr.OFTInteger),
            ("map_class", ogr.OFTString),
            ("ref_class", ogr.OFTString),
            ("ref_code", ogr.OFTInteger),
            ("status", ogr.OFTString),
            ("labelled_utc", ogr.OFTString),
            ("model_confidence", ogr.OFTReal),
        ):
            lyr.CreateField(ogr.FieldDefn(name, ftype))
        conf = confidence_at(info.path, sample.rows, sample.cols)  # the model's confidence, when the run has it
        rng = np.random.default_rng(spec.seed + 1)
        order = rng.permutation(len(sample.x))  # labelling order: mixed strata, so no class is seen in a row
        defn = lyr.GetLayerDefn()
        lyr.StartTransaction()
        for pid, i in enumerate(order, start=1):
            f = ogr.Feature(defn)
            code = int(sample.codes[i])
            f.SetField("point_id", pid)
            f.SetField("stratum", info.name(code) if spec.method == "stratified" else "all")
            f.SetField("map_code", code)
            f.SetField("map_class", info.name(code))
            f.SetFieldNull("ref_class")
            f.SetFieldNull("ref_code")
            f.SetField("status", "")
            f.SetFieldNull("labelled_utc")
            if conf is not None and np.isfinite(conf[i]):
                f.SetField("model_confidence", round(float(conf[i]), 4))
            else:
                f.SetFieldNull("model_confidence")
            f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({sample.x[i]!r} {sample.y[i]!r})"))
            lyr.CreateFeature(f)
        lyr.CommitTransaction()
        tab = ds.CreateLayer(DESIGN_TABLE, None, ogr.wkbNone)
        tab.CreateField(ogr.FieldDefn("key", ogr.OFTString))
        tab.CreateField(ogr.FieldDefn("value", ogr.OFTString))
        design = design_record(sample, info, spec)
        for key, value in design.items():
            f = ogr.Feature(tab.GetLayerDefn())
            f.SetField("key", key)
            f.SetField("value", json.dumps(value))
            tab.CreateFeature(f)
        ds.FlushCache()
        ds = None
        os.replace(tmp, path)
    except Exception:
        ds = None
        for p in tmp.parent.glob(tmp.name + "*"):
            p.unlink(missing_ok=True)
        raise
    return path


def design_record(sample: Sample, info: MapInfo, spec: DesignSpec) -> dict:
    """What the analysis needs besides the labels, stored in the GeoPackage's ``sample_design`` table."""
    realised: dict = {}
    for c in sample.codes:
        realised[str(int(c))] = realised.get(str(int(c)), 0) + 1
    return {
        "schema_version": SCHEMA_VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "method": spec.method,
        "spec": {
            k: (v if not isinstance(v, dict) else {str(a): b for a, b in v.items()}) for k, v in asdict(spec).items()
        },
        "plan": sample.plan.to_dict(),
        "points": int(len(sample.x)),
        "points_per_map_class": realised,
        "notes": sample.notes,
        "map": info.to_dict(),
    }


def read_design(path) -> dict:
    """The ``sample_design`` table of a sample GeoPackage ({} when there is none)."""
    from osgeo import ogr

    ds = ogr.Open(str(path))
    if ds is None:
        raise AssessmentError(f"cannot open {path} as a GeoPackage")
    tab = ds.GetLayerByName(DESIGN_TABLE)
    out: dict = {}
    if tab is None:
        return out
    for f in tab:
        try:
            out[f.GetField("key")] = json.loads(f.GetField("value"))
        except (TypeError, ValueError):
            continue
    return out
