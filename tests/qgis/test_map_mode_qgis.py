"""Map mode in QGIS: the dock's Mode choice (keyboard on the real combo box, remembered) and the
Processing algorithm's MODE parameter producing 10 m rasters on the input grid."""

from __future__ import annotations

import json
from pathlib import Path

from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from eurosat_landcover.ui.classify.options_section import OptionsSection
from eurosat_landcover.ui.settings import DockSettings
from qgis.core import QgsApplication, QgsProcessingFeedback, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import clean_settings, write_rgb_geotiff  # noqa: F401 (fixture)

ALG = f"{PROVIDER_ID}:classify"


def test_dock_mode_choice_disables_stride_and_is_remembered(qgis_app, clean_settings):  # noqa: F811
    """A new user gets map mode (issue 22), the stride off; one who chose windows keeps it between sessions."""
    section = OptionsSection(DockSettings.load())
    seen = []
    section.changed.connect(seen.append)
    assert section.value().mode == "map" and not section.stride_combo.isEnabled()
    assert section.stride_combo.isHidden() and section.stride_label.isHidden()  # no "160 m cells" beside 10 m pixels
    section.show()
    section.mode_combo.setFocus()
    QTest.keyClick(section.mode_combo, Qt.Key.Key_Up)
    assert section.value().mode == "windows" and seen[-1].mode == "windows"
    assert section.stride_combo.isEnabled() and not section.stride_combo.isHidden()
    assert not section.stride_label.isHidden()
    settings = DockSettings.load()
    settings.mode = section.value().mode
    settings.save()
    again = OptionsSection(DockSettings.load())
    assert again.value().mode == "windows" and again.stride_combo.isEnabled()
    QTest.keyClick(again.mode_combo, Qt.Key.Key_Down)
    assert again.value().mode == "map" and not again.stride_combo.isEnabled()


def test_processing_map_mode_writes_10m_rasters(provider, qgis_new_project, tmp_path):
    import processing

    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    assert "MODE" in {p.name() for p in alg.parameterDefinitions()}
    # map mode is the default: the help no longer opens with "Slides a classifier", WINDOWS counts its tiles
    assert not alg.shortHelpString().startswith("Slides")
    assert "map mode: tiles" in alg.outputDefinition("WINDOWS").description()
    raster = write_rgb_geotiff(tmp_path / "scene.tif", size=160)
    layer = QgsRasterLayer(str(raster), "scene")
    QgsProject.instance().addMapLayer(layer)
    lines = []
    feedback = QgsProcessingFeedback()
    feedback.pushInfo = lambda info: lines.append(info)  # the log lines, as the dialog shows them
    result = processing.run(
        ALG,
        {"INPUT": layer, "MODE": "map", "DEVICE": "cpu", "BANDS": "1,2,3", "OUTPUT_FOLDER": str(tmp_path / "o")},
        feedback=feedback,
    )
    # the run's line counts tiles, as its progress did ("1 windows in 3.2 s on cpu (0 windows/s)" before)
    done = [line for line in lines if " s on cpu (" in line]
    assert len(done) == 1 and done[0].startswith("1 tiles in ") and done[0].endswith(" tiles/s)"), lines
    classes = QgsRasterLayer(result["OUTPUT_CLASSES"], "classes")
    assert classes.isValid() and (classes.width(), classes.height()) == (160, 160)
    assert classes.extent() == layer.extent() and classes.rasterUnitsPerPixelX() == 10.0
    summary = json.loads(Path(result["OUTPUT_SUMMARY"]).read_text())
    assert summary["mode"] == "map" and summary["model"]["architecture"] == "tf_efficientnet_lite0_map"
    assert abs(sum(json.loads(result["AREA_KM2"]).values()) - 160 * 160 * 1e-4) < 1e-6
