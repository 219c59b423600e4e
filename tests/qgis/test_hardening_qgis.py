"""Hardening in QGIS: Processing's OVERWRITE parameter (an existing output name is refused without it,
replaced with it, an input never) and the plugin's unload releasing the models kept by earlier runs."""

from __future__ import annotations

import eurosat_landcover
import pytest
from eurosat_landcover.eurosat_processing import classify_algorithm
from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from eurosat_landcover.models import model_cache
from qgis.core import QgsApplication, QgsProcessingException

from .landcover_helpers import default_card_path, model_card, write_rgb_geotiff  # noqa: F401 (fixture)

ALG = f"{PROVIDER_ID}:classify"


@pytest.fixture
def fixed_name(monkeypatch):
    """Processing names each run after the layer and the time; a fixed name makes a collision."""
    real = classify_algorithm.build_request

    def build(layer, folder, options, *args, **kw):
        options.name = "fixed"
        return real(layer, folder, options, *args, **kw)

    monkeypatch.setattr(classify_algorithm, "build_request", build)


def _params(raster, out, card, **over):
    return {
        "INPUT": str(raster),
        "MODEL": "" if card == default_card_path() else str(card),
        "STRIDE": 64,
        "DEVICE": "cpu",
        "OUTPUT_FOLDER": str(out),
        **over,
    }


def test_overwrite_parameter(provider, tmp_path, model_card, fixed_name):  # noqa: F811
    import processing

    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    param = alg.parameterDefinition("OVERWRITE")
    assert param is not None and param.defaultValue() is False
    raster = write_rgb_geotiff(tmp_path / "scene.tif", size=128)
    out = tmp_path / "out"
    out.mkdir()
    (out / "fixed_summary.json").write_text("my notes")
    with pytest.raises(QgsProcessingException, match=r"fixed_summary.json already exists in .*allow overwriting"):
        processing.run(ALG, _params(raster, out, model_card))
    assert sorted(p.name for p in out.iterdir()) == ["fixed_summary.json"]
    assert (out / "fixed_summary.json").read_text() == "my notes"
    result = processing.run(ALG, _params(raster, out, model_card, OVERWRITE=True))
    assert (out / "fixed_summary.json").read_text() != "my notes"
    assert result["OUTPUT_CLASSES"] == str(out / "fixed_classes.tif")


def test_overwrite_never_replaces_the_input(provider, tmp_path, model_card, monkeypatch):  # noqa: F811
    import processing

    real = classify_algorithm.build_request

    def build(layer, folder, options, *args, **kw):
        options.name = "scene"
        return real(layer, folder, options, *args, **kw)

    monkeypatch.setattr(classify_algorithm, "build_request", build)
    raster = write_rgb_geotiff(tmp_path / "scene_classes.tif", size=128)
    before = raster.read_bytes()
    with pytest.raises(QgsProcessingException, match="would replace the input file"):
        processing.run(ALG, _params(raster, tmp_path, model_card, OVERWRITE=True))
    assert raster.read_bytes() == before


def test_unload_releases_the_kept_models(iface):
    from eurosat_landcover.qgis_bridge.compat import avoid_triton_llvm_clash

    avoid_triton_llvm_clash()  # as every plugin path does before loading a model (xvfb maps libLLVM)
    model_cache.cached_model(default_card_path(), "cpu")
    assert model_cache.stats()["models"] >= 1
    plugin = eurosat_landcover.classFactory(iface)
    plugin.initGui()
    plugin.unload()
    assert model_cache.stats()["models"] == 0 and model_cache.stats()["traced"] == 0


# ---------------------------------------------------------------------- the dock asks before replacing
@pytest.fixture
def fixed_page_name(classify_page, monkeypatch):
    """The page names runs after the layer and the time; a fixed name makes a collision."""
    from eurosat_landcover.ui.classify import page as page_module

    real = page_module.build_request

    def build(layer, folder, options, *args, **kw):
        options.name = "fixed"
        return real(layer, folder, options, *args, **kw)

    monkeypatch.setattr(page_module, "build_request", build)
    return classify_page


@pytest.mark.parametrize("answer", ["No", "Yes"])
def test_the_dock_asks_before_replacing_existing_files(fixed_page_name, scene, tmp_path, monkeypatch, answer):
    from qgis.PyQt.QtWidgets import QMessageBox

    from .landcover_helpers import wait_for_tasks

    page = fixed_page_name
    out = tmp_path / "out"
    out.mkdir()
    (out / "fixed_confidence.qml").write_text("my style")
    asked = []

    def question(parent, title, text, *args):
        asked.append(text)
        return getattr(QMessageBox, answer)

    monkeypatch.setattr(QMessageBox, "question", question)
    page.input.layer_combo.setLayer(scene)
    page.options.output_widget.setFilePath(str(out))
    task = page.run()
    assert len(asked) == 1 and "fixed_confidence.qml" in asked[0] and "Replace them" in asked[0]
    if answer == "No":
        assert task is None
        assert sorted(p.name for p in out.iterdir()) == ["fixed_confidence.qml"]
        assert (out / "fixed_confidence.qml").read_text() == "my style"
    else:
        assert task is not None and task.request.overwrite
        wait_for_tasks()
        assert (out / "fixed_classes.tif").is_file() and (out / "fixed_confidence.qml").read_text() != "my style"


def test_the_dock_never_offers_to_replace_the_input(classify_page, tmp_path, monkeypatch, qgis_new_project):
    from eurosat_landcover.ui.classify import page as page_module
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.PyQt.QtWidgets import QMessageBox

    raster = write_rgb_geotiff(tmp_path / "scene_classes.tif", size=128)
    layer = QgsRasterLayer(str(raster), "scene")
    QgsProject.instance().addMapLayer(layer)
    real = page_module.build_request

    def build(layer, folder, options, *args, **kw):
        options.name = "scene"
        return real(layer, folder, options, *args, **kw)

    monkeypatch.setattr(page_module, "build_request", build)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: pytest.fail("must not ask"))
    classify_page.input.layer_combo.setLayer(layer)
    classify_page.options.output_widget.setFilePath(str(tmp_path))
    assert classify_page.run() is None
    assert raster.read_bytes() and sorted(p.name for p in tmp_path.iterdir()) == ["scene_classes.tif"]
