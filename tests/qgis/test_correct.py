"""Review & correct page: real GeoTIFF runs (a real model forward pass), real layers in the real project,
QgsMapMouseEvents on the real map tools and key events on the real canvas. Every check reads the files."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from eurosat_landcover.core.edits import EditSession, run_files
from eurosat_landcover.core.edits.raster import build_corrected
from eurosat_landcover.ui.correct.page import CorrectPage
from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsPalettedRasterRenderer,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
)
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt
from qgis.PyQt.QtTest import QTest

from .landcover_helpers import model_card, wait_for_tasks, write_rgb_geotiff  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from edits_testlib import bfs_region, centres_inside, folder_state, read_only_folder


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read(path) -> np.ndarray:
    ds = gdal.Open(str(path))  # kept alive while its band is read
    return ds.GetRasterBand(1).ReadAsArray()


def classify(image: Path, out: Path, name: str, card: Path, stride: int = 8) -> Path:
    from eurosat_landcover.core.pipeline import classify as run
    from eurosat_landcover.core.request import ClassificationRequest

    req = ClassificationRequest(
        input_path=image, output_dir=out, model_card=card, stride=stride, device="cpu", name=name
    )
    return Path(run(req).classes_path)


@pytest.fixture(scope="module")
def model_run(tmp_path_factory, model_card):  # noqa: F811
    """One real classification (192 px RGB, stride 8 -> 24 x 24 cells of 80 m), shared read-only."""
    base = tmp_path_factory.mktemp("correct_run")
    image = write_rgb_geotiff(base / "scene.tif")
    classes = classify(image, base / "out", "scene", model_card)
    return image, classes


@pytest.fixture
def run(model_run, tmp_path):
    """A private copy of the run's folder (the tests write corrections beside it)."""
    _, classes = model_run
    folder = shutil.copytree(classes.parent, tmp_path / "out")
    return Path(folder) / classes.name


@pytest.fixture
def page(iface, qgis_new_project):
    canvas = iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32632"))
    p = CorrectPage(iface)
    yield p
    p.shutdown()
    p.deleteLater()


def _open(page, path: Path, name="Land cover"):
    layer = QgsRasterLayer(str(path), name, "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    canvas = page.canvas
    canvas.setExtent(layer.extent())
    canvas.refresh()
    return layer


def _px(canvas, x, y) -> QPoint:
    p = canvas.getCoordinateTransform().transform(QgsPointXY(x, y))
    return QPoint(round(p.x()), round(p.y()))


def _ev(canvas, kind, pos: QPoint, button=Qt.MouseButton.LeftButton):
    buttons = button if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    return QgsMapMouseEvent(canvas, kind, pos, button, buttons, Qt.KeyboardModifier.NoModifier)


def _click(tool, canvas, pos: QPoint, button=Qt.MouseButton.LeftButton):
    tool.canvasPressEvent(_ev(canvas, QEvent.Type.MouseButtonPress, pos, button))
    tool.canvasReleaseEvent(_ev(canvas, QEvent.Type.MouseButtonRelease, pos, button))


def _drag(tool, canvas, points):
    tool.canvasPressEvent(_ev(canvas, QEvent.Type.MouseButtonPress, points[0]))
    for p in points[1:-1]:
        tool.canvasMoveEvent(_ev(canvas, QEvent.Type.MouseMove, p))
    tool.canvasReleaseEvent(_ev(canvas, QEvent.Type.MouseButtonRelease, points[-1]))


def _map(canvas, pos: QPoint):
    p = canvas.getCoordinateTransform().toMapCoordinates(pos.x(), pos.y())
    return p.x(), p.y()


def _key(canvas, key, mods=Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(canvas, key, mods)


def _warnings(iface):
    return iface.messageBar().get_messages(Qgis.MessageLevel.Warning)


def test_page_is_a_workspace_page():
    from eurosat_landcover.ui.pages import PAGES

    assert (".correct.page", "CorrectPage") in PAGES


def test_each_tool_undo_redo_change_exactly_the_expected_cells(page, iface, run):
    files = run_files(run)
    model_sha = sha(run)
    layer = _open(page, run)
    page.layer_combo.setLayer(layer)
    QTest.mouseClick(page.edit_button, Qt.MouseButton.LeftButton)
    assert page.session is not None, _warnings(iface)
    canvas = page.canvas
    corrected = QgsProject.instance().mapLayersByName("Land cover (corrected)")
    assert len(corrected) == 1 and isinstance(corrected[0].renderer(), QgsPalettedRasterRenderer)
    assert [c.label for c in corrected[0].renderer().classes()][:2] == [n for n, _ in page.palette.classes[:2]]
    assert len(page.palette.buttons) == 10 and page.palette.buttons[9].text().startswith("0 ")
    g = page.session.grid
    expected = read(run).copy()
    valid = expected != 255
    history = [expected.copy()]

    def check():
        got = read(files.corrected)
        assert np.array_equal(got, expected), np.argwhere(got != expected)[:5]
        history.append(expected.copy())

    # key 3 picks the third class; a click sets one cell
    _key(canvas, Qt.Key.Key_3)
    assert page.current_class == 2
    r, c = 4, 5
    if expected[r, c] == 2:
        _key(canvas, Qt.Key.Key_4)
    to = page.current_class
    QTest.mouseClick(page.tools.buttons["cell"], Qt.MouseButton.LeftButton)
    _click(canvas.mapTool(), canvas, _px(canvas, *g.cell_center(r, c)))
    expected[r, c] = to
    check()

    # brush 1 cell wide along row 8, cols 2..10
    _key(canvas, Qt.Key.Key_0)
    assert page.current_class == 9
    page.tools.brush_size.setValue(1)
    page.set_tool("brush")
    pts = [_px(canvas, *g.cell_center(8, col)) for col in range(2, 11)]
    _drag(canvas.mapTool(), canvas, pts)
    expected[8, 2:11] = np.where(valid[8, 2:11], 9, expected[8, 2:11])
    check()

    # polygon: 4 clicks + right click; cells whose centre is inside
    _key(canvas, Qt.Key.Key_6)
    page.set_tool("polygon")
    corners = [(12, 2), (12, 9), (18, 9), (18, 2)]
    pix = [_px(canvas, *g.cell_center(rr, cc)) for rr, cc in corners]
    tool = canvas.mapTool()
    for p in pix:
        _click(tool, canvas, p)
    _click(tool, canvas, pix[0], Qt.MouseButton.RightButton)
    (x0, y0), (x1, y1) = _map(canvas, pix[0]), _map(canvas, pix[2])
    expected[centres_inside(g, x0, y0, x1, y1) & valid] = 5
    check()

    # lasso (freehand) around rows 2..6, cols 14..20
    _key(canvas, Qt.Key.Key_2)
    page.set_tool("lasso")
    x0, y0 = g.cell_center(2, 14)
    x1, y1 = g.cell_center(6, 20)
    x0, y0, x1, y1 = x0 - 30, y0 + 30, x1 + 30, y1 - 30
    path = [(x0, y0), ((x0 + x1) / 2, y0), (x1, y0), (x1, y1), (x0, y1)]
    pix = [_px(canvas, *p) for p in path]
    _drag(canvas.mapTool(), canvas, pix)
    (mx0, my0), (mx1, my1) = _map(canvas, pix[0]), _map(canvas, pix[3])
    expected[centres_inside(g, mx0, my0, mx1, my1) & valid] = 1
    check()

    # flood the 4-connected region under a click
    _key(canvas, Qt.Key.Key_8)
    page.set_tool("flood")
    r, c = 20, 20
    if expected[r, c] == 7:
        _key(canvas, Qt.Key.Key_9)
    to = page.current_class
    region = bfs_region(expected, r, c)
    _click(canvas.mapTool(), canvas, _px(canvas, *g.cell_center(r, c)))
    expected[region] = to
    check()

    # recode inside a polygon, then the whole layer, with the from -> to table
    src = int(expected[15, 15])
    page.tools.recode.table.setRowCount(0)
    page.tools.recode.add_row(src, (src + 1) % 10)
    page.set_tool("recode")
    x0, y0 = g.cell_center(13, 13)
    x1, y1 = g.cell_center(22, 22)
    pix = [_px(canvas, *p) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    tool = canvas.mapTool()
    for p in pix:
        _click(tool, canvas, p)
    _click(tool, canvas, pix[0], Qt.MouseButton.RightButton)
    (mx0, my0), (mx1, my1) = _map(canvas, pix[0]), _map(canvas, pix[2])
    expected[centres_inside(g, mx0, my0, mx1, my1) & (expected == src)] = (src + 1) % 10
    check()
    a = int(expected[0, 0])
    page.tools.recode.table.setRowCount(0)
    page.tools.recode.add_row(a, (a + 2) % 10)
    QTest.mouseClick(page.tools.recode.whole, Qt.MouseButton.LeftButton)
    expected[expected == a] = (a + 2) % 10
    check()

    # Ctrl+Z twice, Ctrl+Shift+Z once: the files follow exactly
    _key(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(read(files.corrected), history[-2])
    _key(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(read(files.corrected), history[-3])
    assert len(page.session.edits()) == 5 and page.log_view.table.rowCount() == 5
    _key(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(read(files.corrected), history[-2])
    live = read(files.corrected)

    # log rows: one per change, in order, cells as counted on the file
    rows = page.session.edits()
    assert [e.tool for e in rows] == ["cell", "brush", "polygon", "lasso", "flood", "recode"]
    assert [e.cells for e in rows] == [int((history[i] != history[i + 1]).sum()) for i in range(6)]
    assert page.log_view.table.item(0, 1).text() == "recode"  # newest first
    # clicking a row zooms to that edit
    page.log_view.table.cellClicked.emit(len(rows) - 3, 0)  # the polygon (rows 12..18, cols 2..9)
    assert canvas.extent().contains(page.session.grid.cell_center(15, 5)[0], page.session.grid.cell_center(15, 5)[1])

    # rebuild-from-log equals the live result; the model output is byte-identical
    build_corrected(run, page.session.edits("active"), files.folder / "rebuilt.tif", 0)
    assert np.array_equal(read(files.folder / "rebuilt.tif"), live)
    page.stop_editing()
    assert sha(run) == model_sha
    s = EditSession.open(run)
    assert not s.rebuilt_on_open and np.array_equal(s.read(), live)
    s.close()
    assert _warnings(iface) == []


def test_apply_corrections_on_a_fresh_run_gives_the_same_raster(page, iface, run, model_run, model_card, tmp_path):  # noqa: F811
    from eurosat_landcover.processing.provider import LandCoverProvider
    from qgis.core import QgsApplication

    import processing

    files = run_files(run)
    layer = _open(page, run)
    assert page.start_editing(layer)
    g = page.session.grid
    canvas = page.canvas
    page.set_tool("polygon")
    _key(canvas, Qt.Key.Key_5)
    pix = [_px(canvas, *g.cell_center(rr, cc)) for rr, cc in ((3, 3), (3, 15), (15, 15), (15, 3))]
    for p in pix:
        _click(canvas.mapTool(), canvas, p)
    _click(canvas.mapTool(), canvas, pix[0], Qt.MouseButton.RightButton)
    page.set_tool("cell")
    _key(canvas, Qt.Key.Key_1)
    _click(canvas.mapTool(), canvas, _px(canvas, *g.cell_center(20, 2)))
    live = read(files.corrected)
    page.stop_editing()

    image, _ = model_run
    fresh = classify(image, tmp_path / "fresh", "scene_again", model_card)
    fresh_sha = sha(fresh)
    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("eurosat_landcover")
    if provider is None:
        provider = LandCoverProvider()
        registry.addProvider(provider)
    try:
        out = processing.run("eurosat_landcover:apply_corrections", {"INPUT": str(fresh), "EDIT_LOG": str(files.log)})
    finally:
        if provider is not None and registry.providerById("eurosat_landcover") is provider:
            registry.removeProvider(provider)
    ffiles = run_files(fresh)
    assert Path(out["OUTPUT"]) == ffiles.corrected and out["EDITS"] == 2
    assert np.array_equal(read(ffiles.corrected), live)
    assert sha(fresh) == fresh_sha
    # the carried-over log belongs to the fresh run: the page can go on editing it, no rebuild needed
    s = EditSession.open(fresh)
    assert not s.rebuilt_on_open and [e.tool for e in s.edits()] == ["polygon", "cell"]
    s.close()


def test_review_steps_in_confidence_order(page, iface, run):
    files = run_files(run)
    layer = _open(page, run)
    assert page.start_editing(layer)
    canvas = page.canvas
    page.review.mode.setCurrentIndex(page.review.mode.findData("confidence"))
    page.review.count.setValue(6)
    QTest.mouseClick(page.review.start, Qt.MouseButton.LeftButton)
    conf = read(files.confidence)
    rows, cols = np.nonzero(conf != 255)
    order = np.lexsort((cols, rows, conf[rows, cols]))[:6]
    assert [(i.row, i.col) for i in page.review_items] == [(int(rows[k]), int(cols[k])) for k in order]
    first = page.review_items[0]
    assert canvas.extent().contains(*page.session.grid.cell_center(first.row, first.col))
    assert "Cell 1 of 6" in page.review.current.text() and "%" in page.review.current.text()
    _key(canvas, Qt.Key.Key_Return)  # accept
    assert page.review.progress.text() == "reviewed 1 of 6 doubtful cells" and page.review_index == 1
    second = page.review_items[1]
    before = read(files.corrected)
    want = 3 if before[second.row, second.col] != 3 else 4
    _key(canvas, getattr(Qt, f"Key_{want + 1}"))  # the right class for this cell
    after = read(files.corrected)
    changed = np.argwhere(after != before)
    assert changed.tolist() == [[second.row, second.col]] and after[second.row, second.col] == want
    assert page.session.edits()[-1].tool == "review"
    assert page.session.log.reviewed("cell") == {(first.row, first.col), (second.row, second.col)}
    assert page.review.progress.text() == "reviewed 2 of 6 doubtful cells"
    marks = {(m.center().x(), m.center().y()) for m in page.reviewed_marks}  # canvas CRS = raster CRS here
    assert marks == {page.session.grid.cell_center(i.row, i.col) for i in (first, second)}
    # undoing the correction makes the cell doubtful again; redo reviews it again
    _key(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(read(files.corrected), before)
    assert page.review.progress.text() == "reviewed 1 of 6 doubtful cells" and len(page.reviewed_marks) == 1
    _key(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(read(files.corrected), after)
    assert page.session.log.reviewed("cell") == {(first.row, first.col), (second.row, second.col)}
    assert page.review.progress.text() == "reviewed 2 of 6 doubtful cells"
    # tile walk: the whole map in tiles of 8 cells, in order
    page.review.mode.setCurrentIndex(page.review.mode.findData("tiles"))
    page.review.count.setValue(8)
    QTest.mouseClick(page.review.start, Qt.MouseButton.LeftButton)
    assert len(page.review_items) == 9 and (page.review_items[1].xoff, page.review_items[1].yoff) == (8, 0)
    _key(canvas, Qt.Key.Key_Return)
    assert page.review.progress.text() == "reviewed 1 of 9 tiles"


def test_refusals_leave_files_unchanged(page, iface, run, tmp_path):
    files = run_files(run)
    canvas = page.canvas
    # a layer that is not a plugin land-cover layer
    plain = _open(page, write_rgb_geotiff(tmp_path / "plain.tif"), "plain")
    before = folder_state(tmp_path)
    assert not page.start_editing(plain)
    assert len(_warnings(iface)) == 1 and "not a land-cover map made by this plugin" in _warnings(iface)[0]
    assert folder_state(tmp_path) == before and page.session is None
    iface.messageBar().clear_messages()

    # an edit outside the raster, then the layer removed mid-edit
    layer = _open(page, run)
    assert page.start_editing(layer)
    state = folder_state(files.folder)
    page.set_tool("cell")
    g = page.session.grid
    ext = layer.extent()
    canvas.setExtent(ext.buffered(ext.width()))
    _click(canvas.mapTool(), canvas, _px(canvas, ext.xMinimum() - ext.width() / 2, ext.yMaximum()))
    assert len(_warnings(iface)) == 1 and "outside the raster" in _warnings(iface)[0]
    assert folder_state(files.folder) == state
    iface.messageBar().clear_messages()
    tool = canvas.mapTool()
    canvas.setExtent(ext)
    QgsProject.instance().removeMapLayer(page.layer.id())
    assert page.session is None
    infos = iface.messageBar().get_messages(Qgis.MessageLevel.Info)
    assert len(infos) == 1 and "was removed: editing stopped" in infos[0]
    _click(tool, canvas, _px(canvas, *g.cell_center(3, 3)))  # a click that arrives after the removal
    assert len(_warnings(iface)) == 1 and "no land-cover layer is being edited" in _warnings(iface)[0]
    assert folder_state(files.folder) == state
    iface.messageBar().clear_messages()

    # a log that belongs to another raster
    other = shutil.copytree(files.folder, tmp_path / "other")
    other_classes = Path(other) / run.name
    ds = gdal.Open(str(other_classes), gdal.GA_Update)  # another raster with the same name and grid
    band = ds.GetRasterBand(1)
    arr = band.ReadAsArray()
    arr[0, 0] = (arr[0, 0] + 1) % 10
    band.WriteArray(arr)
    ds = None
    other_layer = _open(page, other_classes, "other")
    ostate = folder_state(other)
    assert not page.start_editing(other_layer)
    assert len(_warnings(iface)) == 1 and "belongs to another raster" in _warnings(iface)[0]
    assert folder_state(other) == ostate
    iface.messageBar().clear_messages()

    # a read-only output folder
    ro = shutil.copytree(files.folder, tmp_path / "ro")
    for f in ("scene_corrected.tif", "scene_edits.gpkg", "scene_corrected.qml"):
        (Path(ro) / f).unlink()
    ro_layer = _open(page, Path(ro) / run.name, "ro")
    rstate = folder_state(ro)
    with read_only_folder(Path(ro)):
        assert not page.start_editing(ro_layer)
    assert len(_warnings(iface)) == 1 and "read-only" in _warnings(iface)[0]
    assert folder_state(ro) == rstate


def test_large_map_is_written_in_a_background_task(page, iface, run, monkeypatch, tmp_path):
    from eurosat_landcover.ui.correct import page as page_mod

    monkeypatch.setattr(page_mod, "BACKGROUND_CELLS", 1)  # this small map takes the large-map path
    files = run_files(run)
    plain = _open(page, write_rgb_geotiff(tmp_path / "plain.tif"), "plain")
    layer = _open(page, run)
    for active in (plain, layer, plain, layer):  # the layer box follows the active layer
        iface.setActiveLayer(active)
        assert page.layer_combo.currentLayer() is active
    assert page.start_editing(layer)
    assert page.session.needs_rebuild and not page.tools.isEnabled() and page.layer is None
    wait_for_tasks()
    assert not page.session.needs_rebuild and page.tools.isEnabled() and page.layer is not None
    assert np.array_equal(read(files.corrected), read(run))
    canvas = page.canvas
    page.set_tool("cell")
    g = page.session.grid
    before = read(files.corrected)
    _key(canvas, Qt.Key.Key_1 if before[2, 2] != 0 else Qt.Key.Key_2)
    _click(canvas.mapTool(), canvas, _px(canvas, *g.cell_center(2, 2)))
    after = read(files.corrected)
    assert np.argwhere(after != before).tolist() == [[2, 2]]
    # Rebuild on a large map runs in a task too and gives the same raster
    page.log_view.rebuild.click()
    wait_for_tasks()
    assert np.array_equal(read(files.corrected), after) and page.tools.isEnabled()
    # closing the project stops editing; nothing more is written
    state = folder_state(files.folder)
    QgsProject.instance().clear()
    assert page.session is None
    assert any("project was closed" in m for m in iface.messageBar().get_messages(Qgis.MessageLevel.Info))
    assert folder_state(files.folder) == state


def test_reopen_from_the_corrected_layer_and_revert_from_the_log(page, iface, run):
    files = run_files(run)
    layer = _open(page, run)
    assert page.start_editing(layer)
    canvas = page.canvas
    g = page.session.grid
    base = read(run)
    page.set_tool("cell")
    for r, c in ((1, 1), (5, 9)):
        _key(canvas, Qt.Key.Key_1 if base[r, c] != 0 else Qt.Key.Key_2)
        _click(canvas.mapTool(), canvas, _px(canvas, *g.cell_center(r, c)))
    two = read(files.corrected)
    page.stop_editing()
    corrected = QgsProject.instance().mapLayersByName("Land cover (corrected)")[0]
    # the corrected layer itself is recognised; its layer is reused, not added twice
    page.layer_combo.setLayer(corrected)
    QTest.mouseClick(page.edit_button, Qt.MouseButton.LeftButton)
    assert page.session is not None and page.layer is corrected
    assert len(QgsProject.instance().mapLayersByName("Land cover (corrected)")) == 1
    assert page.log_view.table.rowCount() == 2 and page.log_view.table.item(1, 0).text() == "1"
    # revert the first edit (row 1: newest first) with the log's button; the second stays
    page.log_view.table.selectRow(1)
    page.log_view.revert.click()
    want = two.copy()
    want[1, 1] = base[1, 1]
    assert np.array_equal(read(files.corrected), want)
    assert page.log_view.table.item(1, 5).text() == "reverted"
    _key(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the revert
    assert np.array_equal(read(files.corrected), two)
    page.log_view.revert_all.click()
    assert np.array_equal(read(files.corrected), base)
    assert [e.state for e in page.session.edits()] == ["reverted", "reverted"]
