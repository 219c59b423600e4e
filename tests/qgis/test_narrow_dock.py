"""Issue 25 item 6: every page of the real dock lays out in a 300 px wide dock. No page needs horizontal
scrolling (its content's minimum width, from the real widgets' size hints, fits the scroll area's viewport),
every tab is reachable without scroll arrows, and no label shows a number cut (unwrapped text fits)."""

from __future__ import annotations

import re

import pytest
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QAbstractScrollArea, QComboBox, QLabel, QLayout, QScrollArea

from .landcover_helpers import model_card, wait_for_tasks  # noqa: F401
from .test_correct import model_run, run  # noqa: F401

DOCK_WIDTH = 300
PAGES = ["classifyPage", "CorrectPage", "AssessPage", "ExportPage", "explainPage", "setupPage"]


def _settle():
    for _ in range(5):
        QCoreApplication.processEvents()


def too_wide(body, width: int) -> list:
    """Layouts and widgets inside ``body`` whose minimum width exceeds ``width`` (what forces sideways scrolling)."""
    from qgis.PyQt.QtWidgets import QWidget

    out = [
        (type(w).__name__, w.objectName(), getattr(w, "text", lambda: "")(), w.minimumSizeHint().width())
        for w in body.findChildren(QWidget)
        if w.isVisibleTo(body) and max(w.minimumSizeHint().width(), w.minimumWidth()) > width - 60
    ]
    for lay in body.findChildren(QLayout):
        parent = lay.parentWidget()
        if parent is not None and parent.isVisibleTo(body) and lay.minimumSize().width() > width:
            names = [lay.itemAt(i).widget() for i in range(lay.count())]
            what = [(type(w).__name__, w.objectName() or getattr(w, "text", lambda: "")()) for w in names if w]
            out.append((type(parent).__name__, parent.objectName(), lay.minimumSize().width(), what[:6]))
    return out


@pytest.fixture
def narrow_dock(dock, scene, iface):
    window = iface.mainWindow()
    window.resize(1600, 1000)
    dock.setFixedWidth(DOCK_WIDTH)
    _settle()
    yield dock
    wait_for_tasks(180)  # the Setup page asks torch for the device in a task when first shown
    dock.setMinimumWidth(0)
    dock.setMaximumWidth(16777215)


def check_fits(page, name):
    """The page's content fits the viewport of its scroll area; no number is cut."""
    scroll = page.findChild(QScrollArea)
    assert scroll is not None, f"{name} does not scroll vertically"
    body = scroll.widget()
    viewport = scroll.viewport().width()
    assert viewport <= DOCK_WIDTH
    need = body.minimumSizeHint().width()
    assert need <= viewport, f"{name} needs {need} px in a {viewport} px viewport: {too_wide(body, viewport)}"
    assert scroll.horizontalScrollBar().maximum() == 0, f"{name} scrolls sideways"
    # numbers are not cut: every visible label that does not wrap shows its whole text
    for label in body.findChildren(QLabel):
        if not label.isVisibleTo(body) or label.wordWrap() or not label.text() or "<" in label.text():
            continue
        if re.search(r"\d", label.text()):
            needed = label.fontMetrics().horizontalAdvance(label.text())
            assert needed <= label.width() + 1, f"{name}: '{label.text()}' is cut ({needed} > {label.width()} px)"
    # combos show their class names in full or elide them with the full text in a tooltip
    for combo in body.findChildren(QComboBox):
        if combo.isVisibleTo(body) and combo.count() and combo.currentText():
            fits = combo.fontMetrics().horizontalAdvance(combo.currentText()) <= combo.width() - 24
            assert fits or combo.toolTip(), f"{name}: combo '{combo.currentText()}' is cut without a tooltip"


@pytest.mark.parametrize("name", PAGES)
def test_no_page_needs_horizontal_scrolling_at_300_px(narrow_dock, name):
    page = narrow_dock.workspace.show_page(name)
    _settle()
    check_fits(page, name)


def test_the_correct_page_while_editing_fits_300_px_and_shows_the_edit_state(narrow_dock, run):  # noqa: F811
    from qgis.core import QgsPointXY, QgsProject, QgsRasterLayer

    layer = QgsRasterLayer(str(run), "Land cover", "gdal")
    QgsProject.instance().addMapLayer(layer)
    page = narrow_dock.workspace.show_page("CorrectPage")
    assert page.start_editing(layer)
    g = page.session.grid
    for i, (r, c) in enumerate(((2, 2), (5, 7), (9, 3), (12, 12))):
        page.palette.select(i + 2)
        x, y = g.cell_center(r, c)
        page.on_drawn("cell", [page._to_canvas().transform(QgsPointXY(x, y))])
    _settle()
    check_fits(page, "CorrectPage (editing)")
    table = page.log_view.table
    state = table.columnCount() - 1
    assert table.horizontalHeaderItem(state).text() == "state"
    assert table.columnViewportPosition(state) + table.columnWidth(state) <= table.viewport().width()
    assert table.rowCount() == 4 and table.viewport().height() >= 4 * table.rowHeight(0), "four edits in sight"
    page.stop_editing(quiet=True)


def test_every_page_is_reachable_at_300_px(narrow_dock):
    ws = narrow_dock.workspace
    _settle()
    bar = ws.tabs.tabBar()
    if bar.isVisible():  # the tabs fit: no scroll arrows
        assert bar.sizeHint().width() <= ws.tabs.width(), "tabs hide behind scroll arrows"
    else:  # the page selector stands in for them
        assert ws.selector.isVisible() and ws.selector.count() == len(PAGES)
        for i, name in enumerate(PAGES):
            ws.selector.setCurrentIndex(i)
            assert ws.tabs.currentWidget().objectName() == name
    assert not [w for w in narrow_dock.findChildren(QAbstractScrollArea) if w.horizontalScrollBar().isVisible()]


def test_run_and_its_progress_show_without_scrolling_on_a_1000_px_screen(narrow_dock):
    page = narrow_dock.workspace.show_page("classifyPage")
    _settle()
    report = page.report
    assert report.isVisible()
    scroll = page.findChild(QScrollArea)
    assert not scroll.isAncestorOf(report), "Run and the progress bar stay below the scrolling sections"
    top = report.mapTo(narrow_dock, report.rect().topLeft()).y()
    assert top + report.height() <= narrow_dock.height()
