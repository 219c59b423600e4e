"""Cancelling, removing the input, closing the project or unloading mid-run: no layers, no files."""

from __future__ import annotations

import pytest
from eurosat_landcover.qgis_bridge.task import Status
from qgis.core import Qgis, QgsLayerTreeGroup, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import (  # noqa: F401 (fixtures)
    clean_settings,
    default_card_path,
    files_under,
    model_card,
    process_events_until,
    wait_for_tasks,
    write_rgb_geotiff,
)


@pytest.fixture
def running(dock, tmp_path):
    """A dock whose classification of a 640 px raster at stride 16 (1369 windows) is under way."""
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "big.tif", size=640)), "big")
    QgsProject.instance().addMapLayer(layer)
    panel = dock.panel
    panel.input.layer_combo.setLayer(layer)
    panel.area.set_mode("layer")
    panel.options.mode_combo.setCurrentIndex(panel.options.mode_combo.findData("windows"))  # a long run
    panel.options.stride_combo.setCurrentIndex(panel.options.stride_combo.findData(16))
    out = tmp_path / "out"
    panel.options.output_widget.setFilePath(str(out))
    task = panel.run()
    assert task is not None
    assert process_events_until(lambda: task.latest.done > 0 or not panel.queue.tasks, 120)
    assert panel.queue.tasks, "the run finished before it could be cancelled"
    return dock, task, layer, out


def _no_result(out):
    root = QgsProject.instance().layerTreeRoot()
    groups = [g for g in root.children() if isinstance(g, QgsLayerTreeGroup)]
    assert groups == []
    assert files_under(out) == [], files_under(out)


def test_cancel_button(running, iface):
    dock, task, _layer, out = running
    QTest.mouseClick(dock.panel.report.cancel_button, Qt.MouseButton.LeftButton)
    wait_for_tasks()
    assert task.outcome.status is Status.CANCELLED and task.outcome.result is None
    _no_result(out)
    assert "Cancelled" in dock.panel.report.status_label.text()
    assert not dock.panel.report.cancel_button.isEnabled()
    assert not iface.messageBar().get_messages(Qgis.MessageLevel.Critical)
    assert any("cancelled" in m for m in iface.messageBar().get_messages(Qgis.MessageLevel.Info))


def test_removing_the_input_layer_cancels(running):
    dock, task, layer, out = running
    QgsProject.instance().removeMapLayer(layer.id())
    wait_for_tasks()
    assert task.outcome.status is Status.CANCELLED
    _no_result(out)
    assert "removed" in dock.panel.report.status_label.text()


def test_closing_the_project_cancels(running):
    _dock, task, _layer, out = running
    QgsProject.instance().clear()
    wait_for_tasks()
    assert task.outcome.status is Status.CANCELLED
    _no_result(out)


def test_shutdown_cancels_and_waits(running):
    dock, task, _layer, out = running
    dock.shutdown()  # as plugin.unload() does
    assert not dock.panel.queue.tasks
    wait_for_tasks()
    assert task.outcome.status is Status.CANCELLED
    _no_result(out)


def test_plugin_unload_mid_run(iface, qgis_new_project, clean_settings, model_card, tmp_path):  # noqa: F811
    """plugin.unload() while a run is under way: cancelled, map tool and canvas items gone, no files."""
    import eurosat_landcover

    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "big.tif", size=640)), "big")
    QgsProject.instance().addMapLayer(layer)
    canvas = iface.mapCanvas()
    tool_before = canvas.mapTool()
    plugin = eurosat_landcover.classFactory(iface)
    plugin.initGui()
    plugin.action.trigger()
    panel = plugin.dock.panel
    if model_card != default_card_path():
        panel.model.add_model(str(model_card))
    panel.input.layer_combo.setLayer(layer)
    panel.area.set_mode("drawn")  # arms the rectangle tool
    assert canvas.mapTool() is panel.area.map_tool
    panel.area.set_drawn_rectangle(layer.extent(), layer.crs())
    panel.options.mode_combo.setCurrentIndex(panel.options.mode_combo.findData("windows"))  # a long run
    panel.options.stride_combo.setCurrentIndex(panel.options.stride_combo.findData(16))
    out = tmp_path / "out"
    panel.options.output_widget.setFilePath(str(out))
    task = panel.run()
    assert process_events_until(lambda: task.latest.done > 0 or not panel.queue.tasks, 120)
    plugin.unload()
    wait_for_tasks()
    assert task.outcome.status is Status.CANCELLED
    _no_result(out)
    assert canvas.mapTool() is tool_before
    items = [i for i in canvas.scene().items() if type(i).__name__ in ("QgsRubberBand", "_LabelItem")]
    assert items == []


def test_cancel_drops_queued_runs(running, iface):
    dock, task, _layer, out = running
    queued = dock.panel.run()
    assert dock.panel.queue.pending == [queued]
    dock.panel.cancel_all()
    assert dock.panel.queue.pending == [] and queued.outcome.status is Status.CANCELLED
    wait_for_tasks()
    assert task.outcome.status is Status.CANCELLED and queued.outcome.result is None
    _no_result(out)
