"""The dock's CPU path choice (Automatic, Fast, Plain PyTorch, INT8): chosen with the keyboard on the real
combo box, remembered between sessions, and carried into the engine's request."""

from __future__ import annotations

from eurosat_landcover.core.request import FAST_PATH_MODES
from eurosat_landcover.ui.classify.options_section import FAST_PATH_LABELS, OptionsSection
from eurosat_landcover.ui.settings import DockSettings
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import clean_settings  # noqa: F401 (fixture)


def test_every_engine_path_is_offered_once():
    assert [ident for ident, _ in FAST_PATH_LABELS] == list(FAST_PATH_MODES)


def test_int8_choice_is_remembered(qgis_app, clean_settings):  # noqa: F811
    section = OptionsSection(DockSettings.load())
    seen = []
    section.changed.connect(seen.append)
    assert section.value().fast_path == "auto"
    section.show()
    section.fast_path_combo.setFocus()
    for _ in range(3):  # Automatic -> Fast -> Plain PyTorch -> INT8
        QTest.keyClick(section.fast_path_combo, Qt.Key.Key_Down)
    assert section.value().fast_path == "int8" and seen[-1].fast_path == "int8"
    settings = DockSettings.load()
    settings.fast_path = section.value().fast_path
    settings.save()
    assert OptionsSection(DockSettings.load()).value().fast_path == "int8"
    settings.fast_path = "turbo"  # an unknown stored value falls back to Automatic
    settings.save()
    assert DockSettings.load().fast_path == "auto"


def test_the_choice_reaches_the_request(dock, tmp_path):
    from qgis.core import QgsProject, QgsRasterLayer

    from .landcover_helpers import write_rgb_geotiff

    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif")), "scene")
    QgsProject.instance().addMapLayer(layer)
    panel = dock.panel
    panel.input.layer_combo.setLayer(layer)
    panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    assert panel.build_request().fast_path == "auto"
    panel.options.fast_path_combo.setCurrentIndex(panel.options.fast_path_combo.findData("int8"))
    assert panel.build_request().fast_path == "int8"
    panel.save_settings()
    assert DockSettings.load().fast_path == "int8"
