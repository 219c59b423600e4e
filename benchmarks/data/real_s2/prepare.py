#!/usr/bin/env python3
"""How this folder's data were made (provenance; rerun to check). Not needed to use them.

    python benchmarks/data/real_s2/prepare.py BIGEARTHNET_S2_EXAMPLE_DIR EUROSAT_MS_SAMPLE_ZIP

- ``bigearthnet_l2a/<patch>/``: the B02, B03, B04 GeoTIFFs and ``labels_metadata.json`` of the six
  BigEarthNet-S2 v1.0 patches in ``BigEarthNet-S2-Example.tar.bz2`` of kai-tub/bigearthnet_common
  (commit 2010779b6efc97eaf0f189d2cbdf8a3af75b71ba), copied byte for byte.
- ``eurosat_ms_l1c/<Class>_<n>.tif``: bands B04, B03, B02 (in that order) of the 50 EuroSAT MS
  GeoTIFFs of /work/shared/datasets/eurosat-ms-sample/EuroSAT_MS_sample.zip, values and
  georeference unchanged, no metadata (DEFLATE).
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

from osgeo import gdal

HERE = Path(__file__).resolve().parent


def copy_bigearthnet(example_dir: Path) -> None:
    for patch in sorted(p for p in example_dir.iterdir() if p.is_dir()):
        dst = HERE / "bigearthnet_l2a" / patch.name
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


if __name__ == "__main__":
    copy_bigearthnet(Path(sys.argv[1]))
    extract_eurosat(Path(sys.argv[2]))
