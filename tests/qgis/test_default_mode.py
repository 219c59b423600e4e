"""Issue 22: map mode is the default of every entry point (the command line, QGIS Processing, the dock and
the Python API), each reading core/request.py DEFAULT_MODE; in the dock a drawn area then snaps to whole
10 m pixels (the cells of a map-mode run), not to the stride's cells, and the run's report names the mode."""

from __future__ import annotations

import pytest
from eurosat_landcover.core.request import DEFAULT_MODE, ClassificationRequest
from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from eurosat_landcover.ui.classify.run_report import result_log_lines
from qgis.core import QgsApplication, QgsPointXY, QgsProject, QgsRasterLayer
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt

from .landcover_helpers import clean_settings, wait_for_tasks, write_rgb_geotiff  # noqa: F401 (fixture)

X0, Y1 = 500000.0, 5000000.0  # write_rgb_geotiff's origin, 10 m pixels


def test_every_entry_point_defaults_to_map_mode(qgis_app, provider, clean_settings):  # noqa: F811
    from eurosat_landcover.cli.app import build_parser
    from eurosat_landcover.qgis_bridge.request_builder import RunOptions
    from eurosat_landcover.ui.classify.options_section import OptionsSection
    from eurosat_landcover.ui.settings import DockSettings

    assert DEFAULT_MODE == "map"
    assert ClassificationRequest("in.tif", "out").mode == "map"  # the Python API
    for command in ("classify", "classify-many"):
        assert build_parser().parse_args([command, "in.tif", "out"]).mode == "map", command
    registry = QgsApplication.processingRegistry()
    for name in ("classify", "classify_many"):
        alg = registry.algorithmById(f"{PROVIDER_ID}:{name}")
        assert alg.parameterDefinition("MODE").defaultValue() == "map", name
    assert RunOptions().mode == "map"  # the dock's and Processing's request builder
    fresh = DockSettings.load()  # a new user: nothing remembered
    assert fresh.mode == "map" and OptionsSection(fresh).value().mode == "map"


def _ev(canvas, kind, x, y):
    p = canvas.getCoordinateTransform().transform(QgsPointXY(x, y))
    pos = QPoint(round(p.x()), round(p.y()))
    buttons = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    return QgsMapMouseEvent(canvas, kind, pos, Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)


def test_a_new_users_drawn_area_runs_in_map_mode_on_whole_pixels(dock, tmp_path, iface):
    """The stride's cells (320 m by default) widened a drawn area before, though a map-mode cell is a pixel."""
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif", size=320)), "scene")
    QgsProject.instance().addMapLayer(layer)
    panel = dock.panel
    panel.input.layer_combo.setLayer(layer)
    assert panel.options.value().mode == "map" and panel.options.value().stride == 32
    canvas = panel.canvas
    canvas.resize(800, 800)
    canvas.setDestinationCrs(layer.crs())
    canvas.setExtent(layer.extent())
    canvas.refresh()
    panel.area.set_mode("drawn")
    tool = panel.area.map_tool
    a, b = (X0 + 333.0, Y1 - 257.0), (X0 + 1514.0, Y1 - 1391.0)  # inside 320 m cells, off the 10 m pixels
    tool.canvasPressEvent(_ev(canvas, QEvent.Type.MouseButtonPress, *a))
    tool.canvasMoveEvent(_ev(canvas, QEvent.Type.MouseMove, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
    tool.canvasReleaseEvent(_ev(canvas, QEvent.Type.MouseButtonRelease, *b))
    rect = panel.area.drawn_rect
    edges = (rect.xMinimum() - X0, Y1 - rect.yMaximum(), rect.xMaximum() - X0, Y1 - rect.yMinimum())
    assert all(e / 10 == pytest.approx(round(e / 10)) for e in edges), edges  # whole 10 m pixels
    drawn = (a[0] - X0, Y1 - a[1], b[0] - X0, Y1 - b[1])
    assert all(abs(e - d) <= 15 for e, d in zip(edges, drawn)), (edges, drawn)  # not widened to 320 m cells
    panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    task = panel.run()
    assert task is not None
    wait_for_tasks(300)
    result = task.outcome.result
    assert result.summary["mode"] == "map"
    land = QgsRasterLayer(str(result.classes_path), "r")
    assert land.rasterUnitsPerPixelX() == pytest.approx(10.0)
    assert land.extent().area() == pytest.approx(rect.area(), rel=1e-9)  # what the rubber band showed
    # the dock says which mode ran, and counts tiles (it said "windows" for a map run's tiles)
    assert "Mode: map (a class for every 10 m pixel)" in panel.report.summary_label.text()
    assert panel.report.status_label.text().startswith(f"Done: {result.windows} tiles · ")
    assert "  mode: map (a class for every 10 m pixel)" in result_log_lines("scene", result, 1.0)


def test_an_added_model_selects_its_own_mode(dock, tmp_path):
    """A card the analyst adds runs in one mode only (a fine-tuned classifier: windows; a map model: map): the
    mode follows it. Improve the model's "Re-classify with the new model" stopped on the classifier it had just
    made, in the default map mode. The bundled entry runs in either mode and leaves the mode as it is."""
    import shutil

    from eurosat_landcover.models.checkpoint import default_card_path, default_map_card_path

    panel = dock.panel
    assert panel.options.value().mode == "map"
    cards = {}
    for kind, src in (("classifier", default_card_path()), ("map", default_map_card_path())):
        folder = tmp_path / kind
        folder.mkdir()
        for f in src.parent.glob(src.stem + ".*"):  # the card and its weights, as a fine-tune writes them
            shutil.copy(f, folder / f.name)
        cards[kind] = folder / src.name
    assert panel.model.add_model(str(cards["classifier"]))
    assert panel.options.value().mode == "windows" and panel.options.stride_combo.isEnabled()
    assert panel.model.add_model(str(cards["map"]))
    assert panel.options.value().mode == "map"
    assert panel.model.add_model(str(cards["classifier"]))
    panel.model.model_combo.setCurrentIndex(panel.model.model_combo.findData(""))  # the bundled model
    assert panel.options.value().mode == "windows"
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif", size=128)), "scene")
    QgsProject.instance().addMapLayer(layer)
    panel.input.layer_combo.setLayer(layer)
    panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    assert panel.build_request().mode == "windows"


def test_settings_saved_before_the_switch_take_map_mode_once(qgis_app, clean_settings):  # noqa: F811
    """Before version 2 the dock saved every field, so a stored "windows" was the old default for almost every
    user: such settings take map mode once; a windows choice saved since (version 2) is kept."""
    from eurosat_landcover.ui.settings import PREFIX, SETTINGS_VERSION, DockSettings
    from qgis.core import QgsSettings

    s = QgsSettings()
    s.setValue(PREFIX + "mode", "windows")  # as an earlier version saved it, with no settings version
    s.setValue(PREFIX + "stride", 64)
    old = DockSettings.load()
    assert old.mode == "map" and old.stride == 64 and old.settings_version == SETTINGS_VERSION == 2
    old.mode = "windows"  # the analyst chooses windows again
    old.save()
    assert DockSettings.load().mode == "windows"  # kept from now on
