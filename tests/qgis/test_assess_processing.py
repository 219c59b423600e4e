"""The assessment algorithms through processing.run and through the real qgis_process.bin."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from osgeo import ogr
from qgis.core import QgsApplication, QgsProcessingException, QgsVectorLayer

from .landcover_helpers import qgis_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from assessment_testlib import NAMES, blocky_map, write_classes

DESIGN = f"{PROVIDER_ID}:create_sampling_design"
ASSESS = f"{PROVIDER_ID}:accuracy_assessment"


def _label_all(gpkg, wrong_every=6):
    """Label every point: the map class, except every sixth point, which is really Pasture."""
    ds = ogr.Open(str(gpkg), 1)
    lyr = ds.GetLayerByName("sample_points")
    for f in lyr:
        ref = 5 if f.GetField("point_id") % wrong_every == 0 else f.GetField("map_code")
        f.SetField("ref_code", ref)
        f.SetField("ref_class", NAMES[ref])
        f.SetField("status", "labelled")
        lyr.SetFeature(f)
    ds = None


def test_algorithms_are_registered(provider):
    for alg_id in (DESIGN, ASSESS):
        alg = QgsApplication.processingRegistry().algorithmById(alg_id)
        assert alg is not None and alg.group() == "Accuracy assessment"


def test_design_and_assessment_through_processing_run(provider, tmp_path):
    import processing

    tif = write_classes(tmp_path / "scene_classes.tif", blocky_map())
    out = processing.run(
        DESIGN,
        {
            "INPUT": str(tif),
            "EXPECTED_UA": "0.9, SeaLake=0.95",
            "TARGET_SE": 0.02,
            "MIN_PER_CLASS": 20,
            "SEED": 7,
            "OUTPUT": str(tmp_path / "sample.gpkg"),
        },
    )
    assert out["POINTS"] == json.loads(out["PLAN"])["n_total"] > 80
    layer = QgsVectorLayer(out["OUTPUT"] + "|layername=sample_points", "s", "ogr")
    assert layer.isValid() and layer.featureCount() == out["POINTS"]
    del layer  # a layer outside any project must not outlive QGIS (a pytest.raises traceback below would keep it)
    with pytest.raises(QgsProcessingException, match="already exists"):
        processing.run(DESIGN, {"INPUT": str(tif), "OUTPUT": str(tmp_path / "sample.gpkg")})
    with pytest.raises(QgsProcessingException, match="class 'Jungle' is not in the map"):
        processing.run(DESIGN, {"INPUT": str(tif), "EXPECTED_UA": "Jungle=0.5", "OUTPUT": str(tmp_path / "j.gpkg")})
    with pytest.raises(QgsProcessingException, match="no point of the sample is labelled yet"):
        processing.run(ASSESS, {"REFERENCE": out["OUTPUT"] + "|layername=sample_points"})
    _label_all(out["OUTPUT"])
    res = processing.run(ASSESS, {"REFERENCE": out["OUTPUT"] + "|layername=sample_points", "KAPPA": True})
    data = json.loads(Path(res["OUTPUT_JSON"]).read_text())
    assert Path(res["OUTPUT_JSON"]).name == "scene_classes_assessment.json"
    assert Path(res["OUTPUT_HTML"]).is_file() and Path(res["OUTPUT_CSV"]).is_file()
    assert 0.7 < res["OVERALL_ACCURACY"] < 0.95 and "kappa" in data["results"]
    assert {c["class"] for c in json.loads(res["RESULTS"])} >= {"Forest", "Pasture"}


def test_the_gui_loads_the_sample_styled(provider, tmp_path, qgis_new_project):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    tif = write_classes(tmp_path / "scene_classes.tif", blocky_map())
    alg = QgsApplication.processingRegistry().createAlgorithmById(DESIGN)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    params = {"INPUT": str(tif), "SAMPLE_SIZE": 40, "MIN_PER_CLASS": 5, "OUTPUT": str(tmp_path / "gui.gpkg")}
    results, ok = alg.run(params, context, QgsProcessingFeedback())
    assert ok and results["POINTS"] == 40
    queued = context.layersToLoadOnCompletion()
    uri = f"{tmp_path / 'gui.gpkg'}|layername=sample_points"
    assert uri in queued and queued[uri].name.startswith("Accuracy sample")
    layer = QgsVectorLayer(uri, "s", "ogr")
    queued[uri].postProcessor().postProcessLayer(layer, context, QgsProcessingFeedback())
    assert layer.renderer().type() == "categorizedSymbol"
    assert [c.label() for c in layer.renderer().categories()] == ["to label", "labelled", "unsure", "skipped"]


def test_qgis_process_runs_both_algorithms(tmp_path):
    qp = qgis_process(tmp_path)
    tif = write_classes(tmp_path / "scene_classes.tif", blocky_map())
    gpkg = tmp_path / "sample.gpkg"
    run = qp(
        "--json",
        "run",
        DESIGN,
        "--",
        f"INPUT={tif}",
        f"OUTPUT={gpkg}",
        "SAMPLE_SIZE=60",
        "MIN_PER_CLASS=10",
        "ALLOCATION=equal",
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(run.stdout[run.stdout.index("{") :])
    assert report["results"]["POINTS"] == 60 and gpkg.is_file()
    _label_all(gpkg)
    (tmp_path / "out").mkdir()
    run = qp(
        "--json", "run", ASSESS, "--", f"REFERENCE={gpkg}|layername=sample_points", f"OUTPUT_FOLDER={tmp_path / 'out'}"
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(run.stdout[run.stdout.index("{") :])["results"]
    assert Path(results["OUTPUT_HTML"]).parent == tmp_path / "out"
    assert 0.5 < results["OVERALL_ACCURACY"] < 1.0
