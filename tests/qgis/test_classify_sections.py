"""The Classify page's sections alone: each exposes value() and emits `changed` when the analyst acts."""

from __future__ import annotations

import pytest
from eurosat_landcover.models.card import ModelCard
from eurosat_landcover.qgis_bridge.request_builder import RequestError
from eurosat_landcover.ui.classify.area_picker import AreaPicker
from eurosat_landcover.ui.classify.band_picker import BandChoice, BandPicker
from eurosat_landcover.ui.classify.input_section import InputSection
from eurosat_landcover.ui.classify.model_picker import ModelPicker
from eurosat_landcover.ui.classify.options_section import OptionsSection
from eurosat_landcover.ui.settings import DockSettings
from qgis.core import QgsProject, QgsRasterLayer, QgsRectangle

from .landcover_helpers import clean_settings, model_card, write_rgb_geotiff  # noqa: F401 (fixtures)


@pytest.fixture
def scene(qgis_new_project, tmp_path):
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif", size=64)), "scene")
    QgsProject.instance().addMapLayer(layer)
    return layer


def _recorder(signal) -> list:
    seen = []
    signal.connect(lambda *args: seen.append(args[0] if args else None))
    return seen


def test_input_section_value_and_active_layer(iface, scene, tmp_path):
    other = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "other.tif", size=32)), "other")
    QgsProject.instance().addMapLayer(other)
    section = InputSection(iface)
    seen = _recorder(section.changed)
    section.set_value(scene)
    assert section.value() is scene and seen[-1] is scene
    assert section.layer_info.text().startswith("64 × 64 px · 3 band(s) 8-bit · EPSG:32632")
    iface.setActiveLayer(other)  # emits currentLayerChanged(other), as QGIS does
    assert section.value() is other and seen[-1] is other
    section.release()


def test_model_picker_add_choose_remove(qgis_app, clean_settings, model_card, tmp_path):  # noqa: F811
    settings = DockSettings.load()
    picker = ModelPicker(settings)
    picker.set_mode("windows")  # the mode of the window classifier added below, whatever the default mode
    seen = _recorder(picker.changed)
    assert picker.value() == ""  # the bundled model first
    copy = tmp_path / "copy.json"
    assert not picker.add_model(str(copy))  # no such card: refused, nothing emitted
    assert seen == []
    assert picker.add_model(str(model_card))
    assert picker.value() == str(model_card.resolve()) and isinstance(seen[-1], ModelCard)
    assert picker.card().class_names[0] in picker.classes_label.text()
    assert "px windows" in picker.model_info.text()
    assert DockSettings.load().extra_models == [str(model_card.resolve())]  # remembered
    picker.remove_current()
    assert picker.value() == "" and DockSettings.load().extra_models == []
    assert len(seen) == 2


def test_model_picker_follows_the_mode(qgis_app, clean_settings, model_card):  # noqa: F811
    """Map mode: the bundled entry is the bundled map card, a window classifier is listed greyed out and a map card
    can be chosen; back in windows mode the map card is greyed out and the choice falls back to the bundled one."""
    from eurosat_landcover.models.checkpoint import default_map_card_path

    picker = ModelPicker(DockSettings.load())
    picker.set_mode("windows")  # whatever the default mode

    def item(path):  # fill() makes the items anew
        return picker.model_combo.model().item(picker.model_combo.findData(str(path)))

    window_card, map_card = str(model_card.resolve()), str(default_map_card_path().resolve())
    assert picker.add_model(window_card) and picker.value() == window_card
    seen = _recorder(picker.changed)
    picker.set_mode("map")
    assert picker.value() == "" and picker.card().architecture == "tf_efficientnet_lite0_map"
    assert seen[-1] is picker.card()
    info = picker.model_info.text()  # the map model has no windows (it said "64 px windows")
    assert "a class for every pixel" in info and "windows" not in info, info
    assert not item(window_card).isEnabled() and "Mode = Windows" in item(window_card).toolTip()
    assert picker.add_model(map_card) and picker.value() == map_card and item(map_card).isEnabled()
    picker.set_mode("windows")
    assert picker.value() == "" and picker.card().architecture == "tf_efficientnet_lite0"
    assert not item(map_card).isEnabled() and item(window_card).isEnabled()
    assert DockSettings.load().extra_models == [window_card, map_card]  # both remembered


def test_band_picker_detects_and_emits_a_choice(scene, model_card):  # noqa: F811
    picker = BandPicker()
    seen = _recorder(picker.changed)
    picker.set_source(scene, ModelCard.load(model_card))
    assert seen == []  # filling it is not a change by the analyst
    assert picker.value() == BandChoice(None, "auto")  # equals the detection: the engine detects again
    assert "Detected" in picker.band_reason.text()
    picker.band_combos[0].setCurrentIndex(2)
    assert seen[-1] == BandChoice([3, 2, 3], "auto")
    picker.radiometry_combo.setCurrentIndex(picker.radiometry_combo.findData("percentile"))
    assert seen[-1] == BandChoice([3, 2, 3], "percentile")


def test_options_section_strides_and_changes(qgis_app, clean_settings):  # noqa: F811
    section = OptionsSection(DockSettings.load())
    seen = _recorder(section.changed)
    strides = [section.stride_combo.itemData(i) for i in range(section.stride_combo.count())]
    assert strides == [8, 16, 32, 64] and section.value().stride == 32
    assert section.stride_combo.currentText() == "32 px · 50 % overlap · 320 m cells"
    section.set_model_geometry(32, 20.0)  # a model with 32 px windows at 20 m
    assert [section.stride_combo.itemData(i) for i in range(section.stride_combo.count())] == [8, 16, 32]
    assert seen == []
    section.batch_spin.setValue(7)
    section.stride_combo.setCurrentIndex(section.stride_combo.findData(16))
    assert seen[-1].batch_size == 7 and seen[-1].stride == 16


def test_area_picker_modes(iface, scene):
    canvas = iface.mapCanvas()
    picker = AreaPicker(canvas, lambda rect, crs: f"{rect.width():.0f} m wide")
    try:
        seen = _recorder(picker.changed)
        picker.set_layer(scene)
        assert picker.value() == (None, None) and picker.area_info.text() == "640 m wide"
        picker.set_mode("drawn")  # no rectangle yet: the tool is armed, the value says what is missing
        assert picker.draw_button.isChecked() and canvas.mapTool() is picker.map_tool
        with pytest.raises(RequestError, match="draw a rectangle"):
            picker.value()
        rect = QgsRectangle(500000, 4999700, 500300, 5000000)
        picker.set_drawn_rectangle(rect, scene.crs())
        assert picker.value() == (rect, scene.crs()) and picker.area_info.text() == "300 m wide"
        picker.set_mode("selection")
        assert not picker.draw_button.isChecked() and picker.map_tool.rectangle is None
        with pytest.raises(RequestError, match="polygon layer"):
            picker.value()
        assert len(seen) >= 4
        tool = picker.map_tool
    finally:
        picker.release()
    assert canvas.mapTool() is not tool and picker.map_tool is None
    assert not [i for i in canvas.scene().items() if type(i).__name__ in ("QgsRubberBand", "_LabelItem")]
