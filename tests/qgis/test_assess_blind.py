"""Assess page, issue 25: labelling is blind (the map hidden, put back after: item 7), the labelling box
leaves the canvas with the page (item 12), too few labels say how many more each stratum needs (item 8)."""

from __future__ import annotations

from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import write_rgb_geotiff
from .test_assess_page import _create, map_layer, page, wait_tasks  # noqa: F401


def _visible(layer) -> bool:
    return QgsProject.instance().layerTreeRoot().findLayer(layer.id()).itemVisibilityChecked()


def _items_on_canvas(canvas, item) -> bool:
    return item is not None and item.scene() is canvas.scene()


def test_labelling_is_blind_and_the_box_leaves_with_the_page(page, tmp_path, iface, map_layer):  # noqa: F811
    imagery = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif")), "imagery")
    QgsProject.instance().addMapLayer(imagery)
    assert _visible(map_layer) and _visible(imagery)
    page.design.min_per_class.setValue(3)
    page.design.allocation.setCurrentIndex(page.design.allocation.findData("equal"))
    _create(page, tmp_path)
    lab = page.labels
    assert lab.feature() is not None
    canvas = iface.mapCanvas()
    assert _items_on_canvas(canvas, lab.band), "the point's box is shown"
    assert not _visible(map_layer), "the map being assessed is hidden while labelling"
    assert _visible(imagery), "the imagery shows"
    QTest.keyClick(lab, Qt.Key.Key_2)
    assert not _visible(map_layer)
    page.left()  # the analyst went to another page
    assert lab.band is None and lab.marker is None, "the box and the cross leave the canvas"
    assert _visible(map_layer), "the map shows again"
    page.hide()
    page.show()  # back on the page: the current point, blind again
    assert _items_on_canvas(canvas, lab.band) and not _visible(map_layer)
    lab.set_layer(None)
    lab.layer_combo.setLayer(None)
    assert _visible(map_layer)


def test_too_few_labels_say_how_many_more_each_stratum_needs(page, tmp_path, iface):  # noqa: F811
    page.design.min_per_class.setValue(3)
    page.design.allocation.setCurrentIndex(page.design.allocation.findData("equal"))
    page.design.target_se.setValue(0.1)
    _create(page, tmp_path)
    lab = page.labels
    first = lab.feature()
    code = int(first["map_code"])
    key = [Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_4, Qt.Key.Key_5, Qt.Key.Key_6][code]
    QTest.keyClick(lab, key)  # one label, its own map class
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    text = page.analysis.view.toPlainText()
    assert "No results" in text
    cells = [c.strip() for c in text.splitlines()]
    names = ("AnnualCrop", "Forest", "Residential", "SeaLake")
    rows = {c: " ".join(cells[i : i + 4]) for i, c in enumerate(cells) if c in names}  # class, labelled, needs, advice
    assert len(rows) == 4, text
    labelled_name = first["map_class"]
    assert "label 1 more" in rows[labelled_name], text
    for name, line in rows.items():
        if name != labelled_name:
            assert "label 2 more" in line, text
