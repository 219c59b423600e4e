"""Review & correct page, issue 25: keys typed in the dock (items 9), the click that focuses the map
(item 9), the guided review showing the imagery (item 7). Real run, real layers, real widgets and events."""

from __future__ import annotations

import numpy as np
from eurosat_landcover.core.edits import run_files
from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QPoint, Qt
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import QApplication

from .landcover_helpers import model_card  # noqa: F401
from .test_correct import _open, _px, model_run, page, read, run  # noqa: F401


def _visible(layer) -> bool:
    return QgsProject.instance().layerTreeRoot().findLayer(layer.id()).itemVisibilityChecked()


def test_undo_redo_and_digits_typed_in_the_dock(page, iface, run):  # noqa: F811
    files = run_files(run)
    layer = _open(page, run)
    assert page.start_editing(layer)
    page.set_tool("cell")
    before = read(files.corrected)
    x, y = page.session.grid.cell_center(5, 5)
    to = 3 if before[5, 5] != 3 else 4
    page.palette.select(to)
    page.on_drawn("cell", [page.canvas.getCoordinateTransform().toMapCoordinates(_px(page.canvas, x, y))])
    after = read(files.corrected)
    assert after[5, 5] == to
    widget = page.tools.undo  # a button of the page has the keys, not the map
    QTest.keyClick(widget, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(read(files.corrected), before), "Ctrl+Z in the dock undoes"
    QTest.keyClick(widget, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(read(files.corrected), after), "Ctrl+Shift+Z in the dock redoes"
    QTest.keyClick(widget, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # nothing left to redo: no change
    assert np.array_equal(read(files.corrected), after)
    QTest.keyClick(page.palette.buttons[0], Qt.Key.Key_3)
    assert page.current_class == 2, "a digit typed in the dock picks the class"
    QTest.keyClick(page.review.count, Qt.Key.Key_7)  # a field keeps its digits
    assert page.current_class == 2 and "7" in page.review.count.text()


def test_the_click_that_focuses_the_map_paints_nothing(page, iface, run):  # noqa: F811
    files = run_files(run)
    layer = _open(page, run)
    assert page.start_editing(layer)
    page.set_tool("cell")
    canvas = page.canvas
    window = iface.mainWindow()
    window.activateWindow()
    QApplication.setActiveWindow(window)
    before = read(files.corrected)
    x, y = page.session.grid.cell_center(6, 6)
    page.palette.select(3 if before[6, 6] != 3 else 4)
    other = page.tools.brush_size  # the analyst was typing in the dock: the map has no focus
    other.setParent(window)
    other.show()
    other.setFocus(Qt.FocusReason.OtherFocusReason)
    QApplication.processEvents()
    assert not canvas.hasFocus()
    pos = _px(canvas, x, y)
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(pos))
    QApplication.processEvents()
    assert canvas.hasFocus(), "the click gives the map the focus"
    assert np.array_equal(read(files.corrected), before), "and paints nothing"
    QTest.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(pos))
    assert int(read(files.corrected)[6, 6]) == page.current_class, "the next click paints"


def test_the_review_shows_the_imagery_and_puts_the_map_back(page, iface, run, model_run):  # noqa: F811
    image, _ = model_run
    imagery = QgsRasterLayer(str(image), "scene", "gdal")
    QgsProject.instance().addMapLayer(imagery)
    land_cover = _open(page, run)
    files = run_files(run)
    confidence = QgsRasterLayer(str(files.confidence), "Confidence", "gdal")
    QgsProject.instance().addMapLayer(confidence)
    QgsProject.instance().layerTreeRoot().findLayer(confidence.id()).setItemVisibilityChecked(False)
    assert page.start_editing(land_cover)
    corrected = page.layer
    assert _visible(land_cover) and _visible(corrected)
    page.review.mode.setCurrentIndex(page.review.mode.findData("confidence"))
    page.review.count.setValue(4)
    QTest.mouseClick(page.review.start, Qt.MouseButton.LeftButton)
    assert page.review_items
    assert not _visible(land_cover) and not _visible(corrected), "the review shows the imagery"
    assert _visible(imagery)
    page.review.show_map.setChecked(True)
    assert _visible(land_cover) and _visible(corrected)
    page.review.show_map.setChecked(False)
    assert not _visible(land_cover) and not _visible(corrected)
    page.left()  # the analyst went to another page
    assert _visible(land_cover) and _visible(corrected) and not _visible(confidence)
    page.go_to(1)  # back on the page, the next step hides them again
    assert not _visible(land_cover)
    page.stop_editing(quiet=True)
    assert _visible(land_cover) and not _visible(confidence), "each layer as it was before"
