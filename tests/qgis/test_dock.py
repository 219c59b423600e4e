"""The real dock on the real QgsProject: choose a raster, run, get a styled group of layers."""

from __future__ import annotations

import pytest
from eurosat_landcover.models.card import ModelCard
from eurosat_landcover.qgis_bridge.task import Status
from eurosat_landcover.ui.dock import LandCoverDock
from qgis.core import (
    Qgis,
    QgsLayerTreeGroup,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import files_under, wait_for_tasks, write_rgb_geotiff


def _groups(prefix="Land cover — "):
    root = QgsProject.instance().layerTreeRoot()
    return [g for g in root.children() if isinstance(g, QgsLayerTreeGroup) and g.name().startswith(prefix)]


def test_dock_shows_model_bands_and_devices(dock, scene, model_card):
    panel = dock.panel
    panel.input.layer_combo.setLayer(scene)
    card = ModelCard.load(model_card)
    assert dock.notice is None
    # classes with colour swatches, bands and the card's metrics
    html = panel.model.classes_label.text()
    for c in card.classes:
        assert c.name in html and c.color in html
    assert "B04" in panel.model.model_info.text()
    # auto-detected band mapping: colour interpretation R, G, B = bands 1, 2, 3
    assert [c.currentData() for c in panel.bands.band_combos] == [1, 2, 3]
    assert panel.bands.value().bands is None  # same as detection -> the engine detects again
    panel.bands.band_combos[0].setCurrentIndex(2)
    assert panel.bands.value().bands == [3, 2, 3]
    assert "Detected" in panel.bands.band_reason.text()
    assert not panel.bands.gsd_warning.isVisibleTo(panel)
    # devices from models.devices
    ids = [panel.options.device_combo.itemData(i) for i in range(panel.options.device_combo.count())]
    assert ids[0] == "auto" and "cpu" in ids
    assert panel.options.device_info.text().startswith("Detected")
    # area estimate of the whole layer: 1.92 km x 1.92 km = 3.69 km², one 192 px map tile (map mode, the default),
    # 5 x 5 windows at stride 32 in windows mode
    assert panel.area.area_info.text().startswith("3.69 km²") and "~1 tiles" in panel.area.area_info.text()
    panel.options.mode_combo.setCurrentIndex(panel.options.mode_combo.findData("windows"))
    assert panel.area.area_info.text().startswith("3.69 km²") and "~25 windows" in panel.area.area_info.text()


def test_gsd_warning_for_coarse_pixels(dock, tmp_path):
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "coarse.tif", size=64, pixel=30.0)), "coarse")
    QgsProject.instance().addMapLayer(layer)
    dock.panel.input.layer_combo.setLayer(layer)
    assert dock.panel.bands.gsd_warning.isVisibleTo(dock.panel)
    assert "30 m" in dock.panel.bands.gsd_warning.text()


def test_dock_follows_the_active_layer(dock, scene, tmp_path, iface):
    """Selecting another raster in the Layers panel selects it on the Classify page (the other pages
    receive the same signal)."""
    other = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "other.tif", size=96)), "other")
    QgsProject.instance().addMapLayer(other)
    dock.panel.input.layer_combo.setLayer(scene)
    iface.setActiveLayer(other)  # emits currentLayerChanged(other), as QGIS does
    assert dock.panel.input.value() is other


def test_run_adds_a_styled_group(dock, scene, tmp_path, iface, model_card):
    panel = dock.panel
    panel.input.layer_combo.setLayer(scene)
    panel.area.set_mode("layer")
    out = tmp_path / "out"
    panel.options.output_widget.setFilePath(str(out))
    QTest.mouseClick(panel.report.run_button, Qt.MouseButton.LeftButton)
    assert panel.queue.tasks, "no task was started"
    assert panel.report.cancel_button.isEnabled()
    wait_for_tasks()
    assert not panel.queue.tasks

    criticals = iface.messageBar().get_messages(Qgis.MessageLevel.Critical)
    assert not criticals, criticals
    (group,) = _groups("Land cover — scene — ")
    layers = [node.layer() for node in group.findLayers()]
    card = ModelCard.load(model_card)
    # land cover: paletted with the card's names and colours
    land = layers[0]
    assert land.name() == "Land cover · scene"  # the run's name: what the CLI names the files of scene.tif
    assert land.source().endswith("/scene_classes.tif"), land.source()
    renderer = land.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    classes = renderer.classes()
    assert [c.label for c in classes] == card.class_names
    assert [c.color.name() for c in classes] == [c.lower() for c in card.class_colors]
    assert [c.value for c in classes] == list(range(len(card.classes)))
    # confidence, then one hidden probability layer per class
    assert layers[1].name() == "Confidence · scene"
    probs = layers[2:]
    assert [p.name() for p in probs] == [f"P({n}) · scene" for n in card.class_names]
    for i, p in enumerate(probs, start=1):
        r = p.renderer()
        assert isinstance(r, QgsSingleBandPseudoColorRenderer) and r.band() == i
        assert r.classificationMin() == 0
        items = r.shader().rasterShaderFunction().colorRampItemList()
        assert items[0].label == "0" and items[-1].label == "1"
        assert not group.findLayer(p.id()).isVisible()
    assert group.findLayer(land.id()).isVisible()
    # message bar summary: area per class and the run time
    successes = iface.messageBar().get_messages(Qgis.MessageLevel.Success)
    assert any("km²" in m and "scene" in m for m in successes), successes
    assert "Last run" in panel.report.summary_label.text()
    assert "Radiometry: 8-bit values used as they are: from the data type" in panel.report.summary_label.text()
    assert panel.report.progress_bar.value() == 100
    assert not panel.report.cancel_button.isEnabled()
    # outputs in the chosen folder
    names = files_under(out)
    assert any(n.endswith("_classes.tif") for n in names), names
    assert not [n for n in names if "partial" in n]


def test_run_on_drawn_rectangle_in_another_crs(dock, scene, tmp_path, iface):
    """A rectangle drawn in EPSG:3857 is transformed to the raster's UTM CRS."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform

    panel = dock.panel
    panel.input.layer_combo.setLayer(scene)
    web = QgsCoordinateReferenceSystem("EPSG:3857")
    utm_rect = QgsRectangle(500000, 5000000 - 1280, 500000 + 1280, 5000000)  # top-left 1.28 km square
    ct = QgsCoordinateTransform(scene.crs(), web, QgsProject.instance())
    panel.area.set_drawn_rectangle(ct.transformBoundingBox(utm_rect), web)
    assert panel.area.mode() == "drawn"
    request = panel.build_request()
    assert "UTM zone 32N" in request.bounds_crs
    xmin, ymin, xmax, ymax = request.bounds
    assert abs(xmin - 500000) < 30 and abs(ymax - 5000000) < 30
    assert abs((xmax - xmin) - 1280) < 40 and abs((ymax - ymin) - 1280) < 40
    panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    assert panel.run() is not None
    wait_for_tasks()
    (group,) = _groups()
    land = group.findLayers()[0].layer()
    ext = land.extent()
    assert ext.xMinimum() == pytest.approx(500000, abs=11) and ext.yMaximum() == pytest.approx(5000000, abs=11)
    assert ext.width() < 1920 and ext.height() < 1920  # the drawn area, not the whole 1.92 km layer


def test_selection_extent_and_incomplete_form(dock, scene, iface, tmp_path):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    panel = dock.panel
    panel.input.layer_combo.setLayer(scene)
    poly = QgsVectorLayer("Polygon?crs=EPSG:32632", "fields", "memory")
    f = QgsFeature()
    f.setGeometry(QgsGeometry.fromRect(QgsRectangle(500100, 4999000, 500900, 4999800)))
    poly.dataProvider().addFeatures([f])
    QgsProject.instance().addMapLayer(poly)
    panel.area.set_mode("selection")
    panel.area.polygon_combo.setLayer(poly)
    panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    assert panel.run() is None  # nothing selected: a readable warning, no task
    warnings = iface.messageBar().get_messages(Qgis.MessageLevel.Warning)
    assert any("select" in m.lower() for m in warnings), warnings
    poly.selectAll()
    request = panel.build_request()
    assert list(request.bounds) == pytest.approx([500100, 4999000, 500900, 4999800])


def test_settings_are_remembered(dock, scene, tmp_path, iface):
    panel = dock.panel
    panel.options.batch_spin.setValue(17)
    panel.area.set_mode("canvas")
    panel.options.output_widget.setFilePath(str(tmp_path / "remembered"))
    panel.options.open_check.setChecked(False)
    panel.save_settings()
    again = LandCoverDock(iface, iface.mainWindow())
    try:
        p2 = again.panel
        assert p2.options.batch_spin.value() == 17
        assert p2.area.mode() == "canvas"
        assert p2.options.output_widget.filePath() == str(tmp_path / "remembered")
        assert not p2.options.open_check.isChecked()
        assert p2.model.value() == panel.model.value()
    finally:
        again.shutdown()
        again.deleteLater()


def test_two_runs_queue_and_both_finish(dock, scene, tmp_path):
    """Runs queue in the dock and run one after the other, each with its own output names."""
    panel = dock.panel
    panel.input.layer_combo.setLayer(scene)
    panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    first, second = panel.run(), panel.run()
    assert first is not None and second is not None and len(panel.queue.tasks) == 2
    assert panel.queue.running is first and panel.queue.pending == [second]  # one after the other
    assert panel.queue.wait(180)
    wait_for_tasks()
    assert second.started_at >= first.finished_at
    assert first.outcome.status is second.outcome.status is Status.SUCCEEDED, (first.outcome, second.outcome)
    assert first.outcome.result.classes_path != second.outcome.result.classes_path
    groups = _groups("Land cover — scene")
    assert sorted(g.name().split(" — ")[1] for g in groups) == ["scene", "scene_2"]  # issue 25 item 10
    names = [lyr.name() for lyr in QgsProject.instance().mapLayers().values()]
    assert len(names) == len(set(names)) and "Land cover · scene_2" in names


def test_large_run_takes_the_cpu_fast_path_inside_qgis(dock, tmp_path, iface):
    """A raster of 2,209 windows (>= AUTO_MIN_WINDOWS at stride 32) runs in the QgsTask on the traced
    module (TorchScript + oneDNN Graph, models/fast_path.py) and QGIS gets the same styled group."""
    from eurosat_landcover.models.fast_path import AUTO_MIN_WINDOWS

    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "big.tif", size=1536)), "big")
    QgsProject.instance().addMapLayer(layer)
    panel = dock.panel
    panel.input.layer_combo.setLayer(layer)
    panel.options.mode_combo.setCurrentIndex(panel.options.mode_combo.findData("windows"))
    panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    task = panel.run()
    assert task is not None and panel.queue.wait(300)
    wait_for_tasks()
    assert task.outcome.status is Status.SUCCEEDED, task.outcome
    result = task.outcome.result
    assert result.windows >= AUTO_MIN_WINDOWS
    model_path = result.summary["fast_path"]
    if result.device.startswith("cpu"):  # the fast path is the CPU's; a GPU run stays eager
        assert model_path["path"] == "torchscript+onednn", model_path
    assert not iface.messageBar().get_messages(Qgis.MessageLevel.Critical)
    (group,) = _groups("Land cover — big — ")
    assert group.findLayers()[0].layer().name() == "Land cover · big"


def test_sentinel2_13_bands_are_mapped(dock, repo_root, tmp_path):
    """A real 13-band Sentinel-2 L1C GeoTIFF (uint16 DNs): B04, B03, B02 = bands 4, 3, 2, L1C scaling."""
    import shutil

    src = repo_root / "sample_data" / "sentinel2_13band.tif"
    if not src.is_file():
        pytest.skip("sample_data/sentinel2_13band.tif is not there")
    path = tmp_path / "s2.tif"
    shutil.copy(src, path)
    layer = QgsRasterLayer(str(path), "s2")
    QgsProject.instance().addMapLayer(layer)
    panel = dock.panel
    panel.input.layer_combo.setLayer(layer)
    assert [c.currentData() for c in panel.bands.band_combos] == [4, 3, 2]
    assert "Sentinel-2 L1C" in panel.bands.radiometry_combo.itemText(panel.bands.radiometry_combo.findData("auto"))
    assert "13 bands" in panel.bands.band_reason.text()
