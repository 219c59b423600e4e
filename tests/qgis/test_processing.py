"""The Processing algorithm through processing.run and through the real qgis_process command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from eurosat_landcover.models.card import ModelCard
from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback, QgsProject, QgsRasterLayer

from .landcover_helpers import default_card_path, model_card, qgis_process, write_rgb_geotiff  # noqa: F401 (fixture)

ALG = f"{PROVIDER_ID}:classify"


class _Lines(QgsProcessingFeedback):
    """Feedback that keeps the info lines and the progress values."""

    def __init__(self):
        super().__init__()
        self.lines, self.percent = [], []
        self.progressChanged.connect(self.percent.append)

    def pushInfo(self, info):
        self.lines.append(info)
        super().pushInfo(info)


def _model_param(card: Path) -> str:
    return "" if card == default_card_path() else str(card)


def test_algorithm_is_registered(provider):
    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    assert alg is not None and alg.displayName() == "Classify raster (EuroSAT)"
    names = {p.name() for p in alg.parameterDefinitions()}
    assert {
        "INPUT",
        "EXTENT",
        "MODEL",
        "MODE",
        "STRIDE",
        "BATCH_SIZE",
        "DEVICE",
        "BANDS",
        "RADIOMETRY",
        "OUTPUT_FOLDER",
    } <= names


def test_processing_run(provider, qgis_new_project, tmp_path, model_card):  # noqa: F811
    import processing

    raster = write_rgb_geotiff(tmp_path / "scene.tif")
    layer = QgsRasterLayer(str(raster), "scene")
    QgsProject.instance().addMapLayer(layer)
    out = tmp_path / "out"
    feedback = _Lines()
    result = processing.run(
        ALG,
        {
            "INPUT": layer,
            "EXTENT": "500000,501280,4998720,5000000 [EPSG:32632]",  # xmin,xmax,ymin,ymax
            "MODEL": _model_param(model_card),
            "MODE": "windows",
            "STRIDE": 32,
            "BATCH_SIZE": 16,
            "DEVICE": "cpu",
            "BANDS": "1,2,3",
            "RADIOMETRY": "8bit",
            "OUTPUT_FOLDER": str(out),
        },
        feedback=feedback,
    )
    # one line per engine stage from its typed progress; the windows only move the bar
    assert "classifying 9 windows on cpu" in feedback.lines and "building overviews" in feedback.lines
    assert not [line for line in feedback.lines if line.endswith(" windows") and "/" in line], feedback.lines
    assert feedback.percent[-1] == 100
    classes = Path(result["OUTPUT_CLASSES"])
    assert classes.is_file() and classes.parent == out
    assert Path(result["OUTPUT_PROBABILITIES"]).is_file() and Path(result["OUTPUT_SUMMARY"]).is_file()
    area = json.loads(result["AREA_KM2"])
    card = ModelCard.load(model_card)
    assert list(area) == card.class_names
    assert 1.2 < sum(area.values()) < 1.3 * 1.3 + 0.5  # the 1.28 km square, not the whole 3.7 km² layer
    assert result["WINDOWS"] == 9  # (128 - 64) / 32 + 1 = 3 windows per side
    out_layer = QgsRasterLayer(str(classes), "x")
    assert out_layer.extent().width() < 1920


def test_processing_reports_engine_errors(provider, qgis_new_project, tmp_path, model_card):  # noqa: F811
    import processing

    raster = write_rgb_geotiff(tmp_path / "scene.tif")
    with pytest.raises(QgsProcessingException, match="band"):
        processing.run(
            ALG,
            {
                "INPUT": str(raster),
                "MODEL": _model_param(model_card),
                "BANDS": "1,2,9",
                "OUTPUT_FOLDER": str(tmp_path / "o"),
            },
        )
    assert not list((tmp_path / "o").glob("*.tif")) if (tmp_path / "o").exists() else True


def test_qgis_process_run(tmp_path, model_card):  # noqa: F811
    """qgis_process with a fresh profile in tmp, the plugin found through QGIS_PLUGINPATH and enabled."""
    qp = qgis_process(tmp_path, threads=2)
    listed = qp("plugins")
    assert "* eurosat_landcover" in listed.stdout, listed.stdout + listed.stderr

    raster = write_rgb_geotiff(tmp_path / "scene.tif")
    out = tmp_path / "out"
    args = [
        "--json",
        "run",
        ALG,
        "--",
        f"INPUT={raster}",
        f"OUTPUT_FOLDER={out}",
        "MODE=windows",
        "STRIDE=64",
        "DEVICE=cpu",
    ]
    if model_card != default_card_path():
        args.append(f"MODEL={model_card}")
    run = qp(*args)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout[run.stdout.index("{") :])
    results = report["results"]
    assert Path(results["OUTPUT_CLASSES"]).is_file()
    assert Path(results["OUTPUT_CLASSES"]).parent == out
    assert results["WINDOWS"] == 9  # 192 px at stride 64: 3 x 3
    assert sum(json.loads(results["AREA_KM2"]).values()) == pytest.approx(3.6864, rel=0.01)


def test_gui_run_loads_a_styled_land_cover_layer(provider, qgis_new_project, tmp_path, model_card):  # noqa: F811
    """As the Processing dialog does: the classes layer is queued for loading and styled by a post-processor."""
    import processing
    from qgis.core import QgsPalettedRasterRenderer, QgsProcessingContext, QgsProcessingFeedback

    raster = write_rgb_geotiff(tmp_path / "scene.tif", size=128)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    result = processing.run(
        ALG,
        {
            "INPUT": str(raster),
            "MODEL": _model_param(model_card),
            "MODE": "windows",
            "STRIDE": 64,
            "OUTPUT_FOLDER": str(tmp_path / "o"),
        },
        context=context,
        feedback=QgsProcessingFeedback(),
    )
    to_load = context.layersToLoadOnCompletion()
    assert result["OUTPUT_CLASSES"] in to_load
    details = to_load[result["OUTPUT_CLASSES"]]
    assert details.name == "Land cover · scene"  # the run's name, as in the dock (issue 25 item 10)
    layer = QgsRasterLayer(result["OUTPUT_CLASSES"], details.name)
    details.postProcessor().postProcessLayer(layer, context, QgsProcessingFeedback())
    renderer = layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert [c.label for c in renderer.classes()] == ModelCard.load(model_card).class_names


def test_missing_torch_is_explained(provider, tmp_path, monkeypatch):
    import processing
    from eurosat_landcover.toolbelt import dependencies

    monkeypatch.setattr(dependencies, "missing_packages", lambda: ["torch"])
    raster = write_rgb_geotiff(tmp_path / "scene.tif", size=64)
    with pytest.raises(QgsProcessingException, match="pip install"):
        processing.run(ALG, {"INPUT": str(raster), "OUTPUT_FOLDER": str(tmp_path / "o")})


def test_processing_fast_path_parameter_reaches_the_engine(provider, qgis_new_project, tmp_path, monkeypatch):
    """FAST_PATH=int8 is asked of the engine: without calibration data (and no cached INT8 model) the run takes
    the shipped INT8 model, or falls back and its summary says why (models/int8_path.py); either way it says INT8."""
    import processing

    monkeypatch.setenv("EUROSAT_LANDCOVER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EUROSAT_LANDCOVER_CALIBRATION_DATA", str(tmp_path / "absent.zip"))
    from eurosat_landcover.models import model_cache

    model_cache.release()  # an INT8 model an earlier test prepared in this process would be reused
    raster = write_rgb_geotiff(tmp_path / "scene.tif")
    params = {"INPUT": str(raster), "MODE": "windows", "DEVICE": "cpu", "FAST_PATH": "int8"}
    params["OUTPUT_FOLDER"] = str(tmp_path / "o")
    result = processing.run(ALG, params)
    summary = json.loads(Path(result["OUTPUT_SUMMARY"]).read_text())
    reason = summary["fast_path"]["reason"]
    assert "INT8 path not available" in reason or "INT8 (quantization-aware fine-tuned, shipped" in reason, reason
