"""The four export algorithms through processing.run: outputs, overwrite refusal, a layer as input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from qgis.core import QgsProcessingException, QgsRasterLayer, QgsVectorLayer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from export_testlib import CLASSES, write_run


def test_export_algorithms(provider, qgis_new_project, tmp_path):
    import processing

    run = write_run(tmp_path / "run")
    out = tmp_path / "out"
    ids = {a.id() for a in provider.algorithms()}
    assert {f"{PROVIDER_ID}:export_{k}" for k in ("raster", "polygons", "report", "map")} <= ids

    r = processing.run(f"{PROVIDER_ID}:export_raster", {"SUMMARY": str(run), "FORMAT": 1, "OUTPUT_FOLDER": str(out)})
    layer = QgsRasterLayer(r["OUTPUT"], "lc")
    assert layer.isValid() and [c.label for c in layer.renderer().classes()] == [n for n, _c in CLASSES]
    assert len(json.loads(r["FILES"])) == 12

    r = processing.run(
        f"{PROVIDER_ID}:export_polygons",
        {"SUMMARY": str(run), "MMU_HA": 2.0, "DISSOLVE": True, "OUTPUT_FOLDER": str(out)},
    )
    vl = QgsVectorLayer(r["OUTPUT"], "poly", "ogr")
    assert vl.isValid() and vl.renderer().type() == "categorizedSymbol" and r["POLYGONS"] == vl.featureCount()

    r = processing.run(f"{PROVIDER_ID}:export_report", {"SUMMARY": str(run), "TITLE": "T", "OUTPUT_FOLDER": str(out)})
    assert Path(r["CSV"]).is_file() and "<h1>T</h1>" in Path(r["HTML"]).read_text(encoding="utf-8")

    # a land-cover layer as input (its summary is found beside it)
    lc = QgsRasterLayer(str(run.parent / "demo_classes.tif"), "Land cover")
    r = processing.run(
        f"{PROVIDER_ID}:export_map",
        {"LAYER": lc, "PAGE_SIZE": "A5", "ORIENTATION": 1, "DPI": 50, "OUTPUT_FOLDER": str(out)},
    )
    assert Path(r["PDF"]).is_file() and Path(r["PNG"]).is_file()

    # layers outside a project must be gone before an exception's traceback can keep this frame (and them) alive
    # past QGIS's exit, where deleting them crashes the interpreter
    del layer, vl, lc
    # no overwrite without OVERWRITE, then with it
    with pytest.raises(QgsProcessingException, match="already exist"):
        processing.run(f"{PROVIDER_ID}:export_report", {"SUMMARY": str(run), "OUTPUT_FOLDER": str(out)})
    processing.run(f"{PROVIDER_ID}:export_report", {"SUMMARY": str(run), "OVERWRITE": True, "OUTPUT_FOLDER": str(out)})
    with pytest.raises(QgsProcessingException, match="run summary"):
        processing.run(f"{PROVIDER_ID}:export_report", {"OUTPUT_FOLDER": str(out)})
    assert not list(out.glob(".export-*"))
