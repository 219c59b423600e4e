"""The analyst's path replayed in real QGIS by clicking the dock's widgets (issue 25, "Done when").

Install the plugin zip (scripts/build_zip.py) into a fresh QGIS profile with QGIS's own "Install from ZIP"
(pyplugin_installer), so real QGIS loads it from that profile's python/plugins; open the dock from the plugin's
toolbar action; classify the bundled sample raster (Classify page, Run), correct cells the model got wrong (Review &
correct: Edit, a digit key, the cell tool, a click on the canvas), export the corrected map (Export page), assess it
from a CSV of the sample's truth loaded in QGIS as a delimited-text layer with a filter (Assess page), explain one
cell (Explain page, a click on the canvas). It ends by checking that the exported raster equals
``<run>_corrected.tif`` cell for cell.

    .venv/bin/python scripts/replay_analyst.py [--mode windows|map] [--shots docs] [--keep]

Without ``--mode`` the Classify page's mode is left as the dock opens it in the fresh profile (the default,
core/request.py ``DEFAULT_MODE``: map) and the replay checks that it is that default.

runs ``xvfb-run -a qgis --profiles-path TMP --code scripts/replay_analyst.py`` on a fresh profile (the venv's
site-packages on PYTHONPATH for torch & co.; the plugin itself only from the zip) and prints the figures;
``--shots DIR`` saves a picture of QGIS after each step (``screenshot-map-mode-*.png`` in map mode).
tests/qgis/test_replay_analyst.py runs it; :func:`replay` (the steps, given a QGIS interface) is also used
in-process by tests/qgis/test_map_mode_workflow.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(globals().get("__file__", os.getcwd())).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "eurosat_mosaic_rgb.tif"
TRUTH = REPO / "sample_data" / "eurosat_mosaic_rgb_truth.csv"
STRIDE = 64  # windows mode: one cell per 64 px tile of the mosaic, so the truth CSV's tiles are the map's cells
PLUGIN = "eurosat_landcover"
ENV_JOB = "EUROSAT_REPLAY_JOB"


# ======================================================================== helpers (in QGIS)
def _wait(timeout: float = 300.0) -> None:
    """Process events until QGIS's task manager is idle and the finished() calls are delivered."""
    from qgis.core import QgsApplication
    from qgis.PyQt.QtCore import QCoreApplication

    manager = QgsApplication.taskManager()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if manager.countActiveTasks() == 0:
            break
        time.sleep(0.02)
    for _ in range(20):
        QCoreApplication.processEvents()
    if manager.countActiveTasks():
        raise RuntimeError(f"tasks still running after {timeout} s")


def _read(path):
    from osgeo import gdal

    ds = gdal.Open(str(path))  # kept alive while its band is read
    return ds.GetRasterBand(1).ReadAsArray()


def _cell_of(path, x: float, y: float) -> tuple[int, int]:
    """(row, col) of the raster's cell that holds map point (x, y) (north-up)."""
    from osgeo import gdal

    gt = gdal.Open(str(path)).GetGeoTransform()
    return int((y - gt[3]) // gt[5]), int((x - gt[0]) // gt[1])


def _click(canvas, tool, x: float, y: float) -> None:
    """Press and release the left button on the canvas at map point (x, y), through ``tool``."""
    from qgis.core import QgsPointXY
    from qgis.gui import QgsMapMouseEvent
    from qgis.PyQt.QtCore import QEvent, QPoint, Qt

    p = canvas.getCoordinateTransform().transform(QgsPointXY(x, y))
    pos = QPoint(round(p.x()), round(p.y()))
    left, none, mods = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    tool.canvasPressEvent(QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonPress, pos, left, left, mods))
    tool.canvasReleaseEvent(QgsMapMouseEvent(canvas, QEvent.Type.MouseButtonRelease, pos, left, none, mods))


def _last_messages(iface) -> str:
    """The message bar's latest warnings and errors (pytest-qgis's bar records them; QGIS's has items)."""
    from qgis.core import Qgis

    bar = iface.messageBar()
    get = getattr(bar, "get_messages", None)
    if get is not None:
        return " | ".join(get(Qgis.MessageLevel.Critical)[-2:] + get(Qgis.MessageLevel.Warning)[-2:])
    items = getattr(bar, "items", lambda: [])()
    return " | ".join(f"{i.title()} {i.text()}".strip() for i in items[-3:]) or "(the message bar is empty)"


def _scroll_to(page, widget) -> None:
    """Scroll the page's vertical scroll area so that ``widget``'s top is at the top."""
    from qgis.PyQt.QtCore import QPoint
    from qgis.PyQt.QtWidgets import QScrollArea

    scroll = page.findChild(QScrollArea)
    if scroll is not None and scroll.widget() is not None:
        scroll.verticalScrollBar().setValue(widget.mapTo(scroll.widget(), QPoint(0, 0)).y() - 160)


def _press(widget) -> None:
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


# ======================================================================== the sample's truth
def truth_cells(path: Path = TRUTH) -> list[dict]:
    """The sample's truth: one row per 64 px tile (row, col, class, its extent in UTM 32N)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def tile_center(t: dict) -> tuple[float, float]:
    return (float(t["xmin"]) + float(t["xmax"])) / 2, (float(t["ymin"]) + float(t["ymax"])) / 2


def crop_sample(
    path: Path, cols: int, rows: int, sample: Path = SAMPLE, truth: Path = TRUTH
) -> tuple[Path, list[dict]]:
    """The sample's top-left ``cols`` x ``rows`` tiles as a GeoTIFF at ``path``, with their truth rows."""
    from osgeo import gdal

    gdal.Translate(str(path), str(sample), srcWin=[0, 0, 64 * cols, 64 * rows])
    return Path(path), [t for t in truth_cells(truth) if int(t["row"]) < rows and int(t["col"]) < cols]


def write_reference_csv(
    path: Path,
    truth: list[dict],
    duplicates: int = 5,
    rejected: int = 6,
    spread_m: float = 0.0,
    strata_of: Path | None = None,
) -> Path:
    """The truth at every tile centre as lon/lat rows (keep = 1), ``duplicates`` repeated rows, and ``rejected``
    rows with a wrong class that the layer filter ``"keep" = 1`` leaves out. ``spread_m`` > 0 adds four more
    points per tile, that far from its centre diagonally (a 10 m map needs more than one point per tile).
    ``strata_of`` (a class map): two more points in every class it maps, labelled with the truth there, as a
    stratified sample would place them (a 10 m map has small patches of classes no tile centre falls in, and
    every mapped class needs two labelled points)."""
    from osgeo import osr

    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    wgs.ImportFromEPSG(4326)
    for s in (utm, wgs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(utm, wgs)
    offsets = [(0.0, 0.0)] + (
        [(dx, dy) for dx in (-spread_m, spread_m) for dy in (-spread_m, spread_m)] if spread_m else []
    )
    points = [(x + dx, y + dy, t["class"]) for t in truth for x, y in [tile_center(t)] for dx, dy in offsets]
    points += _stratum_points(strata_of, truth) if strata_of is not None else []
    rows = []
    for x, y, name in points:
        lon, lat, _ = ct.TransformPoint(x, y)
        rows.append([f"{lon:.10f}", f"{lat:.10f}", name, 1])
    rows += rows[:duplicates]
    rows += [[lon, lat, "SeaLake" if c != "SeaLake" else "Forest", 0] for lon, lat, c, _k in rows[:rejected]]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["lon", "lat", "class", "keep"])
        w.writerows(rows)
    return path


def _stratum_points(class_map: Path, truth: list[dict], per_class: int = 2) -> list[tuple[float, float, str]]:
    """``per_class`` pixel centres of every class mapped in ``class_map`` (seeded), with the truth's class there."""
    import numpy as np
    from osgeo import gdal

    ds = gdal.Open(str(class_map))
    band, gt = ds.GetRasterBand(1), ds.GetGeoTransform()
    codes, nodata = band.ReadAsArray(), band.GetNoDataValue()
    rng = np.random.default_rng(0)
    out = []
    for code in np.unique(codes):
        if nodata is not None and code == nodata:
            continue
        rows, cols = np.nonzero(codes == code)
        for k in rng.choice(len(rows), size=min(per_class, len(rows)), replace=False):
            x, y = gt[0] + (cols[k] + 0.5) * gt[1], gt[3] + (rows[k] + 0.5) * gt[5]
            tile = next(
                t
                for t in truth
                if float(t["xmin"]) <= x < float(t["xmax"]) and float(t["ymin"]) < y <= float(t["ymax"])
            )
            out.append((x, y, tile["class"]))
    return out


# ======================================================================== the path
def replay(
    iface, workdir, model_card=None, say=print, *, mode=None, image=None, truth=None, dock=None, grab=None
) -> dict:
    """The whole path in the project of ``iface``; returns the figures (and raises on any failed step).

    Args:
        mode: "windows" (stride 64) or "map" (the 10 m map mode); None: the mode the dock opens with, which must
            be core/request.py's DEFAULT_MODE (a fresh profile's default).
        image, truth: the raster (default: a copy of the bundled sample) and its truth rows (truth_cells()).
        dock: the plugin's dock (default: a LandCoverDock made here, closed at the end).
        grab: ``grab(name)`` saves a picture after each step (screenshot-<mode>-<step>.png) when given.
    Returns:
        figures: run, corrected_cells, export_equals_corrected, export_vs_model, assess_n, overall_accuracy,
        assess_notes, explain_top, explain_truth.
    """
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    image = Path(shutil.copy(SAMPLE, work / SAMPLE.name)) if image is None else Path(image)
    truth = truth_cells() if truth is None else truth
    project = QgsProject.instance()
    layer = QgsRasterLayer(str(image), "sample mosaic")
    assert layer.isValid(), image
    project.addMapLayer(layer)
    canvas = iface.mapCanvas()
    if dock is None:
        canvas.resize(900, 600)
    canvas.setDestinationCrs(layer.crs())
    canvas.setExtent(layer.extent())
    canvas.refresh()
    own_dock = dock is None
    if own_dock:
        from eurosat_landcover.ui.dock import LandCoverDock

        dock = LandCoverDock(iface, iface.mainWindow())
        iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.show()
    try:
        if model_card is not None:
            assert dock.panel.model.add_model(str(model_card)), model_card
        mode = _set_mode(dock, mode)
        shot = (lambda s: grab(f"screenshot-{mode.replace('map', 'map-mode')}-{s}.png")) if grab else (lambda s: None)
        out: dict = {"mode": mode}
        land = _classify(dock, layer, work / "runs", mode, say)
        shot("classify")
        classes_path = Path(land.source())
        out["run"] = classes_path.name[: -len("_classes.tif")]
        out["corrected_cells"], corrected_path, where = _correct(dock, land, canvas, truth, say)
        if grab:  # the corrected cell, close up
            from qgis.core import QgsRectangle

            half = 40 * land.rasterUnitsPerPixelX() if mode == "map" else 4 * land.rasterUnitsPerPixelX()
            canvas.setExtent(QgsRectangle(where[0] - half, where[1] - half, where[0] + half, where[1] + half))
            canvas.refresh()
        shot("correct")
        canvas.setExtent(layer.extent())
        out.update(_export(dock, land, classes_path, corrected_path, work / "export", say))
        shot("export")
        out.update(_assess(dock, corrected_path, work, truth, mode, say))
        if grab:  # the results, not the design
            page = dock.workspace.show_page("AssessPage")
            _scroll_to(page, page.analysis.view)
        shot("assess")
        canvas.setExtent(layer.extent())
        out.update(_explain(dock, land if mode == "map" else layer, canvas, truth, say))
        shot("explain")
    finally:
        if own_dock:
            dock.shutdown()
            iface.removeDockWidget(dock)
            dock.deleteLater()
    QTest.qWait(10)
    return out


def _set_mode(dock, mode: str | None) -> str:
    """Set the Classify page's mode; None leaves the mode the dock opened with, checked to be the default."""
    from eurosat_landcover.core.request import DEFAULT_MODE

    combo = dock.panel.options.mode_combo
    if mode is None:
        mode = combo.currentData()
        if mode != DEFAULT_MODE:
            raise RuntimeError(f"the dock opened in {mode} mode, not in the default {DEFAULT_MODE} mode")
    combo.setCurrentIndex(combo.findData(mode))
    return mode


def _classify(dock, layer, runs: Path, mode: str, say):
    from qgis.core import QgsProject

    panel = dock.panel
    dock.workspace.show_page("classifyPage")
    panel.input.layer_combo.setLayer(layer)
    panel.area.set_mode("layer")
    options = panel.options
    if mode == "windows":
        options.stride_combo.setCurrentIndex(options.stride_combo.findData(STRIDE))
    options.output_widget.setFilePath(str(runs))
    _press(panel.report.run_button)
    _wait(600)
    lands = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source().endswith("_classes.tif")]
    if len(lands) != 1:
        raise RuntimeError(f"the run added {len(lands)} land-cover layers: {_last_messages(dock.iface)}")
    say(f"classified ({mode}): {lands[0].name()} ({Path(lands[0].source()).name}, {lands[0].width()} px wide)")
    return lands[0]


def _correct(dock, land, canvas, truth: list[dict], say, fix: int = 3):
    """Cells the model got wrong at tile centres (by the truth) are set to their true class with a digit key and a
    click of the cell tool; when it got every one right, one cell is relabelled all the same (the path is replayed,
    not the model's accuracy)."""
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    page = dock.workspace.show_page("CorrectPage")
    page.layer_combo.setLayer(land)
    _press(page.edit_button)
    if page.session is None:
        raise RuntimeError(f"Review & correct did not open the run for editing: {_last_messages(dock.iface)}")
    model = _read(land.source())
    grid = page.session.grid
    cells = [(_cell_of(land.source(), *tile_center(t)), int(t["class_index"])) for t in truth]
    wrong = [(rc, code) for rc, code in cells if model[rc] != code]
    todo = wrong[:fix] or [(cells[0][0], (int(model[cells[0][0]]) + 1) % 10)]
    page.set_tool("cell")
    for (row, col), code in todo:
        QTest.keyClick(canvas, getattr(Qt.Key, f"Key_{(code + 1) % 10}"))
        assert page.current_class == code, (page.current_class, code)
        _click(canvas, canvas.mapTool(), *grid.cell_center(row, col))
        _wait()
    corrected = Path(land.source()).with_name(Path(land.source()).name.replace("_classes.tif", "_corrected.tif"))
    if not corrected.is_file():
        raise RuntimeError(f"no {corrected.name} after {len(todo)} edit(s): {_last_messages(dock.iface)}")
    changed = int((_read(corrected) != model).sum())
    say(f"corrected: {changed} cells ({len(wrong)} tile centres were wrong) -> {corrected.name}")
    return changed, corrected, grid.cell_center(*todo[0][0])


def _export(dock, land, classes_path: Path, corrected_path: Path, folder: Path, say) -> dict:
    page = dock.workspace.show_page("ExportPage")
    page.select_layer(land)
    for box in (page.options.polygons, page.options.map):
        box.setChecked(False)
    page.options.raster.setChecked(True)
    page.options.report.setChecked(True)
    page.output_widget.setFilePath(str(folder))
    _press(page.export_button)
    _wait()
    exported = folder / classes_path.name.replace("_classes.tif", "_landcover.tif")
    got, corrected, model = _read(exported), _read(corrected_path), _read(classes_path)
    equal = bool(got.shape == corrected.shape and (got == corrected).all())
    say(
        f"exported {exported.name}: equal to {corrected_path.name} cell for cell: {equal}; "
        f"differs from the model output in {int((got != model).sum())} cells"
    )
    return {"exported": str(exported), "export_equals_corrected": equal, "export_vs_model": int((got != model).sum())}


def _assess(dock, corrected_path: Path, work: Path, truth: list[dict], mode: str, say) -> dict:
    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

    if mode == "map":  # 5 points per 640 m tile and 2 in every mapped class: a 10 m map has small patches
        ref_csv = write_reference_csv(work / "reference.csv", truth, spread_m=200.0, strata_of=corrected_path)
    else:
        ref_csv = write_reference_csv(work / "reference.csv", truth)
    uri = f"{ref_csv.as_uri()}?delimiter=,&xField=lon&yField=lat&crs=EPSG:4326&detectTypes=yes"
    ref = QgsVectorLayer(uri, "reference (CSV)", "delimitedtext")
    assert ref.isValid() and ref.setSubsetString('"keep" = 1'), uri
    QgsProject.instance().addMapLayer(ref)
    maps = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source() == str(corrected_path)]
    target = maps[0] if maps else QgsRasterLayer(str(corrected_path), "corrected", "gdal")
    if not maps:
        QgsProject.instance().addMapLayer(target)
    page = dock.workspace.show_page("AssessPage")
    page.ask = lambda _q: True  # replace earlier results without a dialog
    page.design.map_combo.setLayer(target)
    page.reference.use_layer.setChecked(True)
    page.reference.layer_combo.setLayer(ref)
    page.reference.field_combo.setField("class")
    (work / "assessment").mkdir(exist_ok=True)
    page.analysis.folder.setFilePath(str(work / "assessment"))
    _press(page.analysis.run_button)
    _wait()
    out = work / "assessment" / f"{corrected_path.stem}_assessment.json"
    if not out.is_file():
        raise RuntimeError(f"the assessment wrote nothing: {_last_messages(dock.iface)}")
    data = json.loads(out.read_text(encoding="utf-8"))
    r = data["results"]
    say(
        f"assessed {corrected_path.name} from {ref.featureCount()} of the CSV's rows (filter): n = {r['n_labelled']}, "
        f"overall accuracy {r['overall_accuracy']:.3f}; notes: {' | '.join(r['notes'])}"
    )
    return {"assess_n": r["n_labelled"], "overall_accuracy": r["overall_accuracy"], "assess_notes": r["notes"]}


def _explain(dock, layer, canvas, truth: list[dict], say) -> dict:
    page = dock.workspace.show_page("explainPage")
    page.device_combo.setCurrentIndex(page.device_combo.findData("cpu"))
    page.input_combo.setLayer(layer)
    if not page.inspect_button.isChecked():
        _press(page.inspect_button)
    t = truth[min(10, len(truth) - 1)]
    x, y = tile_center(t)
    _click(canvas, canvas.mapTool(), x + 5, y - 5)  # the centre of a 10 m pixel, not a pixel corner
    _wait()
    if page.last_error is not None:
        raise RuntimeError(f"Explain failed: {page.last_error}")
    top = page.chart.rows[0] if page.chart.rows else None
    say(
        f"explained the tile of {t['class']} on {layer.name()}: top class "
        + (f"{top[0]} ({top[1]:.2f})" if top else "?")
    )
    return {"explain_top": top[0] if top else None, "explain_truth": t["class"], "explain_status": page.status.text()}


# ======================================================================== install into a fresh profile (in QGIS)
def install_zip(zip_path: str, say=print):
    """Install the zip with QGIS's own "Install from ZIP" into the current (fresh) profile; returns the plugin
    instance after checking that QGIS loaded it from that profile's python/plugins."""
    import pyplugin_installer
    import qgis.utils
    from qgis.core import QgsApplication

    home = Path(qgis.utils.home_plugin_path)
    if PLUGIN in qgis.utils.plugins or (home / PLUGIN).exists():
        raise RuntimeError(f"the profile is not fresh: {PLUGIN} is already there ({home})")
    if not home.resolve().is_relative_to(Path(QgsApplication.qgisSettingsDirPath()).resolve()):
        raise RuntimeError(f"QGIS's plugin folder {home} is not in the profile {QgsApplication.qgisSettingsDirPath()}")
    pyplugin_installer.instance().installFromZipFile(zip_path)
    plugin = qgis.utils.plugins.get(PLUGIN)
    module = Path(sys.modules[PLUGIN].__file__).resolve()
    if plugin is None or PLUGIN not in qgis.utils.active_plugins:
        raise RuntimeError(f"QGIS did not start {PLUGIN} after installing {zip_path}")
    if not module.is_relative_to((home / PLUGIN).resolve()):
        raise RuntimeError(f"{PLUGIN} was imported from {module}, not from the profile's {home}")
    say(f"installed {Path(zip_path).name} into {home} (QGIS's Install from ZIP); loaded from {module.parent}")
    return plugin


def _inner(job: dict) -> None:
    sys.path.insert(0, job["scripts"])  # no __file__ under QGIS's --code
    from qgis.PyQt.QtCore import Qt
    from qgis_shots import Shots, pop_task_complete, prepare_window

    shots = Shots(job)

    def grab(name: str) -> None:
        pop_task_complete(shots.iface)
        shots.grab(name)

    @shots.guarded
    def go():
        iface = shots.iface
        prepare_window(iface, job["size"])
        plugin = install_zip(job["zip"], shots.note)
        plugin.action.setChecked(True)  # the toolbar button opens the dock
        dock = plugin.dock
        if dock is None or dock.workspace is None:
            raise RuntimeError("the dock did not open its workspace (are torch & co. importable?)")
        iface.mainWindow().resizeDocks([dock], [job["dock_width"]], Qt.Orientation.Horizontal)
        data = Path(job["scripts"]).parent / "sample_data"
        if job.get("crop"):  # the top-left tiles only (a short run for the tests)
            image, truth = crop_sample(
                Path(job["work"]) / "crop.tif", *job["crop"], data / SAMPLE.name, data / TRUTH.name
            )
        else:
            image = Path(shutil.copy(data / SAMPLE.name, Path(job["work"]) / SAMPLE.name))
            truth = truth_cells(data / TRUTH.name)
        figures = replay(
            iface, job["work"], say=shots.note, mode=job["mode"], image=image, truth=truth, dock=dock,
            grab=grab if job["shots"] else None,
        )  # fmt: skip
        shots.status["figures"] = figures
        shots.finish(True)

    shots.start(go)


# ======================================================================== outer part
def run_installed(
    work: Path,
    mode: str | None = None,
    shots: Path | None = None,
    timeout: int = 540,
    dock_width: int = 420,
    crop: tuple | None = None,
) -> dict:
    """Build the zip, start QGIS under Xvfb on a fresh profile in ``work`` and replay the path there (on the
    sample's top-left ``crop`` = (columns, rows) tiles when given).

    Returns:
        status: {"ok": bool, "steps": [the lines QGIS noted], "figures": replay()'s figures when ok}.
    """
    sys.path.insert(0, str(REPO / "scripts"))
    from build_zip import build
    from qgis_shots import run_in_qgis

    work = Path(work)
    (work / "replay").mkdir(parents=True, exist_ok=True)
    zip_path = build(work / "dist")
    out = Path(shots) if shots else work / "shots"
    job = {"zip": str(zip_path), "mode": mode, "work": str(work / "replay"), "out": str(out.resolve())}
    job.update(shots=bool(shots), dock_width=dock_width, crop=list(crop) if crop else None)
    run_in_qgis(
        __file__, job, env_job=ENV_JOB, work=work / "qgis", timeout=timeout, keep=True, link_plugin=False,
        extra_env={"QGIS_PLUGINPATH": None, "VIRTUAL_ENV": None, "OMP_NUM_THREADS": "2"},
    )  # fmt: skip
    status = work / "qgis" / "results" / "status.json"
    if not status.is_file():
        log = work / "qgis" / "qgis.log"
        return {"ok": False, "steps": [log.read_text(errors="replace")[-3000:] if log.is_file() else "no log"]}
    return json.loads(status.read_text(encoding="utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode", choices=["windows", "map"], help="the Classify page's mode (default: as the dock opens, map)"
    )
    parser.add_argument("--shots", type=Path, help="save a picture of QGIS after each step in this folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (profile, run, log)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eurosat-replay-"))
    status = run_installed(work, args.mode, args.shots)
    print(json.dumps(status, indent=1))
    if args.keep or not status.get("ok"):
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if status.get("ok") else 1


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
