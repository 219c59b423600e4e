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
        input_path=image, output_dir=out, model_card=card, stride=stride, device="cpu", name=name, mode="windows"
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


def _editing_after_one_cell_click(page, run):
    """Editing started on ``run``, then one cell (4, 4) set by a map click with the cell tool (written at
    once); -> (the run's files, its classes as they were before the click)."""
    files = run_files(run)
    layer = _open(page, run)
    assert page.start_editing(layer)
    wait_for_tasks()
    canvas, g = page.canvas, page.session.grid
    base = read(run)
    page.set_tool("cell")
    _key(canvas, Qt.Key.Key_1 if base[4, 4] != 0 else Qt.Key.Key_2)
    _click(canvas.mapTool(), canvas, _px(canvas, *g.cell_center(4, 4)))
    return files, base


def _saved_state(page, files):
    """What a change must leave as it was when it fails or is cancelled: the corrected raster's cells and
    revision, the log's rows, the undo/redo stacks."""
    from eurosat_landcover.core.edits.raster import raster_revision

    s = page.session
    return read(files.corrected).tobytes(), raster_revision(files.corrected), _log_rows(s), _stacks(s)


def _recode_commonest_class_whole_layer(page, base) -> None:
    """Recode whole layer: the commonest class of ``base`` (many rows to write) to another, clicked."""
    a = int(np.bincount(base[base != 255]).argmax())
    page.tools.recode.table.setRowCount(0)
    page.tools.recode.add_row(a, (a + 2) % 10)
    page.tools.recode.whole.click()


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
    import processing
    from eurosat_landcover.eurosat_processing.provider import LandCoverProvider
    from qgis.core import QgsApplication

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
    from eurosat_landcover.ui.correct import edit_controller as page_mod

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
    assert page.log_view.table.item(1, 4).text() == "reverted"
    _key(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the revert
    assert np.array_equal(read(files.corrected), two)
    page.log_view.revert_all.click()
    assert np.array_equal(read(files.corrected), base)
    assert [e.state for e in page.session.edits()] == ["reverted", "reverted"]


def _log_rows(session) -> list:
    return [(e.id, e.tool, e.geometry_wkt, e.to_class, e.recode, e.cells, e.state) for e in session.edits()]


def _stacks(session) -> tuple:
    return [a.cells for a in session.undo_stack], [a.cells for a in session.redo_stack]


def _controls(page) -> list:
    return [w.isEnabled() for w in (page.palette, page.tools, page.log_view, page.review)]


def _whole_layer_steps(page, iface, path: Path, name: str, background: bool) -> dict:
    """Two cell clicks, then Recode whole layer, Undo, Redo, Revert (edit 1), Revert all, Undo from the page's
    buttons: the raster after each step, the log and the undo/redo stacks at the end. With ``background``
    every step is checked while its task runs: the page is off, the log does not show it yet, a second
    change (button or map click) is refused."""
    files = run_files(path)
    layer = _open(page, path, name)
    assert page.start_editing(layer)
    wait_for_tasks()  # the first write of the corrected raster (a task when the threshold is lowered)
    assert page.session is not None and all(_controls(page))
    canvas, g = page.canvas, page.session.grid
    base = read(path)
    page.set_tool("cell")
    for r, c in ((1, 1), (5, 9)):
        _key(canvas, Qt.Key.Key_1 if base[r, c] != 0 else Qt.Key.Key_2)
        _click(canvas.mapTool(), canvas, _px(canvas, *g.cell_center(r, c)))
    a = int(base[10, 10])
    assert a != 255
    page.tools.recode.table.setRowCount(0)
    page.tools.recode.add_row(a, (a + 2) % 10)

    def revert_first():
        page.log_view.table.selectRow(page.log_view.ids.index(1))
        page.log_view.revert.click()

    steps = [
        ("Recode whole layer", page.tools.recode.whole.click),
        ("Undo", page.tools.undo.click),
        ("Redo", page.tools.redo.click),
        ("Revert", revert_first),
        ("Revert all", page.log_view.revert_all.click),
        ("Undo", page.tools.undo.click),
    ]
    rasters = [read(files.corrected)]
    for label, click in steps:
        log_before, stacks_before = _log_rows(page.session), _stacks(page.session)
        iface.messageBar().clear_messages()
        click()
        if background:
            assert page.task is not None, f"{label} did not start a task"
            assert not any(_controls(page)), label
            # the log is changed on the main thread once the task is done, not before
            assert _log_rows(page.session) == log_before and _stacks(page.session) == stacks_before
            page.undo()  # Ctrl+Z on the map while it runs
            _click(canvas.mapTool(), canvas, _px(canvas, *g.cell_center(3, 3)))
            assert [m for m in _warnings(iface) if "is being written: wait" in m] == _warnings(iface)
            assert len(_warnings(iface)) == 2
            wait_for_tasks()
            assert page.task is None and all(_controls(page)), label
            done = iface.messageBar().get_messages(Qgis.MessageLevel.Success)
            assert len(done) == 1 and f":{label} done: " in done[0] and files.corrected.name in done[0]
        else:
            assert page.task is None and _warnings(iface) == []
        assert _log_rows(page.session) != log_before
        rasters.append(read(files.corrected))
    out = {"rasters": rasters, "log": _log_rows(page.session), "stacks": _stacks(page.session)}
    assert np.array_equal(rasters[-2], base)  # after Revert all
    assert [e.state for e in page.session.edits()] == ["reverted", "active", "active"]
    page.stop_editing()
    return out


def test_whole_layer_operations_run_in_a_background_task(page, iface, run, tmp_path, monkeypatch):
    """With the threshold lowered, recode whole layer, undo, redo, revert and revert all run in a QgsTask (their
    cells are written in another thread), the page is off meanwhile, and every step gives the raster, the log and
    the undo/redo stacks of the same steps made at once on a twin run."""
    import threading

    from eurosat_landcover.core.edits import session as session_mod
    from eurosat_landcover.ui.correct import edit_controller as page_mod

    twin = Path(shutil.copytree(run.parent, tmp_path / "twin")) / run.name
    on_main = []
    stage = session_mod.Change.stage

    def spy(change, *args, **kwargs):
        on_main.append(threading.current_thread() is threading.main_thread())
        return stage(change, *args, **kwargs)

    monkeypatch.setattr(session_mod.Change, "stage", spy)
    at_once = _whole_layer_steps(page, iface, twin, "Twin", background=False)
    assert on_main == [True] * 8  # 2 clicks + 6 steps, here
    on_main.clear()
    monkeypatch.setattr(page_mod, "BACKGROUND_CELLS", 1)  # this small map takes the large-map path
    in_task = _whole_layer_steps(page, iface, run, "Land cover", background=True)
    assert on_main == [True] * 2 + [False] * 6  # the map clicks stay here; the six steps ran in the task's thread
    assert len(in_task["rasters"]) == len(at_once["rasters"]) == 7
    for k, (x, y) in enumerate(zip(in_task["rasters"], at_once["rasters"])):
        assert np.array_equal(x, y), k
    assert in_task["log"] == at_once["log"] and in_task["stacks"] == at_once["stacks"]
    s = EditSession.open(run)  # the raster shows the log's revision: nothing to repair
    assert not s.rebuilt_on_open and np.array_equal(s.read(), in_task["rasters"][-1])
    s.close()


def test_cancelling_a_whole_layer_task_changes_nothing(page, iface, run, monkeypatch):
    """Cancelled half-way through writing (from the task manager), or editing stopped (project closed) half-way:
    the raster, its revision, the log and the undo stack are as before; the page is back on."""
    import threading

    from eurosat_landcover.core.edits import change as change_mod
    from eurosat_landcover.core.edits import session as session_mod
    from eurosat_landcover.core.edits.raster import raster_revision
    from eurosat_landcover.ui.correct import edit_controller as page_mod

    from .landcover_helpers import process_events_until

    monkeypatch.setattr(page_mod, "BACKGROUND_CELLS", 1)
    strips = session_mod.strips
    monkeypatch.setattr(session_mod, "strips", lambda w, max_cells=0: strips(w, 1))  # one row per strip
    armed, first, go = threading.Event(), threading.Event(), threading.Event()
    write = change_mod.write_window

    def held(*args, **kwargs):  # once armed: the first part written, the task waits until the test lets it go on
        write(*args, **kwargs)
        if armed.is_set() and not first.is_set():
            assert threading.current_thread() is not threading.main_thread()
            first.set()
            assert go.wait(60)

    monkeypatch.setattr(change_mod, "write_window", held)
    files, base = _editing_after_one_cell_click(page, run)
    assert len(page.session.edits()) == 1
    armed.set()

    def state():
        return _saved_state(page, files)

    before = state()
    _recode_commonest_class_whole_layer(page, base)
    assert page.task is not None and not any(_controls(page))
    assert process_events_until(first.is_set, 60)
    assert raster_revision(files.corrected) == change_mod.DIRTY  # half-way: one row written
    page.task.cancel()  # the task manager's cancel button
    go.set()
    wait_for_tasks()
    assert page.task is None and all(_controls(page)) and page.session.pending is None
    assert state() == before
    infos = iface.messageBar().get_messages(Qgis.MessageLevel.Info)
    assert infos[-1].endswith(":Recode whole layer cancelled: nothing was changed")
    assert iface.messageBar().get_messages(Qgis.MessageLevel.Success) == []

    # revert all, and the project is closed half-way: editing stops, the log and the raster stay as they were
    first.clear()
    go.clear()
    page.log_view.revert_all.click()
    assert process_events_until(first.is_set, 60)
    QgsProject.instance().clear()
    assert page.session is None
    go.set()
    wait_for_tasks()
    raster, revision, log, _ = before
    s = EditSession.open(run)
    assert not s.rebuilt_on_open and s.log.revision == revision and _log_rows(s) == log
    assert read(files.corrected).tobytes() == raster
    s.close()
