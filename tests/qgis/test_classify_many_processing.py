"""Processing algorithm "Classify many rasters" through processing.run and the real qgis_process.

qgis_process starts the Dask workers itself: its sys.executable is QGIS's binary, so this also
checks that the workers are started with the Python interpreter QGIS embeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from osgeo import gdal
from qgis.core import QgsProject, QgsRasterLayer

from .landcover_helpers import qgis_process

pytest.importorskip("distributed")

ALG = f"{PROVIDER_ID}:classify_many"
SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "eurosat_mosaic_rgb.tif"


def _inputs(tmp_path: Path) -> list[Path]:
    warped = tmp_path / "sample_wgs84.tif"
    gdal.Warp(str(warped), str(SAMPLE), dstSRS="EPSG:4326")
    return [SAMPLE, warped]


def test_processing_run_classifies_each_layer(provider, qgis_new_project, tmp_path):
    import processing

    layers = [QgsRasterLayer(str(p), p.stem) for p in _inputs(tmp_path)]
    QgsProject.instance().addMapLayers(layers)
    out = tmp_path / "out"
    result = processing.run(
        ALG,
        {
            "INPUTS": layers,
            "MODE": "windows",
            "STRIDE": 3,
            "WORKERS": 1,
            "BLOCK_SIZE": 256,
            "DEVICE": "cpu",
            "OUTPUT_FOLDER": str(out),
        },
    )
    assert result["FAILED"] == 0
    summary = json.loads(Path(result["OUTPUT_SUMMARY"]).read_text())
    assert set(summary["rasters"]) == {"eurosat_mosaic_rgb", "sample_wgs84"}
    classes = QgsRasterLayer(summary["rasters"]["eurosat_mosaic_rgb"]["outputs"]["classes"], "classes")
    assert classes.isValid() and classes.width() == 12 and classes.height() == 8  # 768 x 512 px at stride 64


def test_qgis_process_starts_workers_with_python(tmp_path):
    qp = qgis_process(tmp_path, timeout=400)
    out = tmp_path / "out"
    run = qp("--json", "run", ALG, "--", f"INPUTS={SAMPLE}", "STRIDE=3", "WORKERS=1", f"OUTPUT_FOLDER={out}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(run.stdout[run.stdout.index("{") :])["results"]
    assert results["FAILED"] == 0
    assert (out / "eurosat_mosaic_rgb_classes.tif").is_file()
