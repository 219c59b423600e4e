"""The analyst's path replayed in real QGIS by clicking the dock's widgets (issue 25, "Done when").

Classify the bundled sample raster (Classify page, Run), correct the cells the model got wrong (Review & correct:
Edit, a digit key, the cell tool, a click on the canvas), export the corrected map (Export page), assess it from a
CSV of the sample's truth loaded in QGIS as a delimited-text layer with a filter (Assess page), explain one cell
(Explain page, a click on the canvas). It ends by checking that the exported raster equals ``<run>_corrected.tif``
cell for cell.

Run it headless (it needs pytest-qgis's QGIS interface, so it runs its own test):

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/replay_analyst.py

which runs ``tests/qgis/test_replay_analyst.py``; that test calls :func:`replay` and prints the figures.
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "eurosat_mosaic_rgb.tif"
TRUTH = REPO / "sample_data" / "eurosat_mosaic_rgb_truth.csv"
STRIDE = 64  # one cell per 64 px tile of the mosaic: the truth CSV's tiles are the map's cells


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
    """The message bar's latest warnings and errors (pytest-qgis's bar records them)."""
    from qgis.core import Qgis

    bar = iface.messageBar()
    get = getattr(bar, "get_messages", None)
    if get is None:
        return "(see the message bar)"
    return " | ".join(get(Qgis.MessageLevel.Critical)[-2:] + get(Qgis.MessageLevel.Warning)[-2:])


def _press(widget) -> None:
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def truth_cells() -> list[dict]:
    """The sample's truth: one row per 64 px tile (row, col, class, its extent in UTM 32N)."""
    with open(TRUTH, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_reference_csv(path: Path, duplicates: int = 5, rejected: int = 6) -> Path:
    """The truth at every tile centre as lon/lat rows (keep = 1), ``duplicates`` repeated rows, and ``rejected``
    rows with a wrong class that the layer filter ``"keep" = 1`` leaves out."""
    from osgeo import osr

    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    wgs.ImportFromEPSG(4326)
    for s in (utm, wgs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(utm, wgs)
    rows = []
    for t in truth_cells():
        x = (float(t["xmin"]) + float(t["xmax"])) / 2
        y = (float(t["ymin"]) + float(t["ymax"])) / 2
        lon, lat, _ = ct.TransformPoint(x, y)
        rows.append([f"{lon:.10f}", f"{lat:.10f}", t["class"], 1])
    rows += rows[:duplicates]
    rows += [[lon, lat, "SeaLake" if c != "SeaLake" else "Forest", 0] for lon, lat, c, _k in rows[:rejected]]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["lon", "lat", "class", "keep"])
        w.writerows(rows)
    return path


def replay(iface, workdir, model_card=None, say=print) -> dict:
    """The whole path in the project of ``iface``; returns the figures (and raises on any failed step)."""
    from eurosat_landcover.ui.dock import LandCoverDock
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    image = Path(shutil.copy(SAMPLE, work / SAMPLE.name))
    project = QgsProject.instance()
    layer = QgsRasterLayer(str(image), "sample mosaic")
    assert layer.isValid(), image
    project.addMapLayer(layer)
    canvas = iface.mapCanvas()
    canvas.resize(900, 600)
    canvas.setDestinationCrs(layer.crs())
    canvas.setExtent(layer.extent())
    canvas.refresh()
    dock = LandCoverDock(iface, iface.mainWindow())
    iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.show()
    out: dict = {}
    try:
        if model_card is not None:
            assert dock.panel.model.add_model(str(model_card)), model_card
        land = _classify(dock, layer, work / "runs", say)
        classes_path = Path(land.source())
        out["run"] = classes_path.name[: -len("_classes.tif")]
        out["corrected_cells"], corrected_path = _correct(dock, land, canvas, say)
        out.update(_export(dock, land, classes_path, corrected_path, work / "export", say))
        out.update(_assess(dock, corrected_path, work, say))
        out.update(_explain(dock, layer, canvas, say))
    finally:
        dock.shutdown()
        iface.removeDockWidget(dock)
        dock.deleteLater()
    QTest.qWait(10)
    return out


def _classify(dock, layer, runs: Path, say):
    from qgis.core import QgsProject

    panel = dock.panel
    dock.workspace.show_page("classifyPage")
    panel.input.layer_combo.setLayer(layer)
    panel.area.set_mode("layer")
    panel.options.stride_combo.setCurrentIndex(panel.options.stride_combo.findData(STRIDE))
    panel.options.output_widget.setFilePath(str(runs))
    _press(panel.report.run_button)
    _wait(600)
    lands = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source().endswith("_classes.tif")]
    if len(lands) != 1:
        raise RuntimeError(f"the run added {len(lands)} land-cover layers: {dock.iface.messageBar()}")
    say(f"classified: {lands[0].name()} ({Path(lands[0].source()).name})")
    return lands[0]


def _correct(dock, land, canvas, say):
    """Every cell the model got wrong (by the truth CSV) is set to its true class with a digit key and a click."""
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    page = dock.workspace.show_page("CorrectPage")
    page.layer_combo.setLayer(land)
    _press(page.edit_button)
    if page.session is None:
        raise RuntimeError("Review & correct did not open the run for editing")
    model = _read(land.source())
    grid = page.session.grid
    wrong = [t for t in truth_cells() if model[int(t["row"]), int(t["col"])] != int(t["class_index"])]
    page.set_tool("cell")
    for t in wrong[:3]:  # the analyst fixes three of them
        code = int(t["class_index"])
        QTest.keyClick(canvas, getattr(Qt.Key, f"Key_{(code + 1) % 10}"))
        assert page.current_class == code, (page.current_class, code)
        _click(canvas, canvas.mapTool(), *grid.cell_center(int(t["row"]), int(t["col"])))
        _wait()
    corrected = Path(land.source()).with_name(Path(land.source()).name.replace("_classes.tif", "_corrected.tif"))
    changed = int((_read(corrected) != model).sum())
    say(f"corrected: {changed} cells of {len(wrong)} the model got wrong ({corrected.name})")
    return changed, corrected


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


def _assess(dock, corrected_path: Path, work: Path, say) -> dict:
    import json

    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

    ref_csv = write_reference_csv(work / "reference.csv")
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


def _explain(dock, layer, canvas, say) -> dict:
    page = dock.workspace.show_page("explainPage")
    page.device_combo.setCurrentIndex(page.device_combo.findData("cpu"))
    page.input_combo.setLayer(layer)
    if not page.inspect_button.isChecked():
        _press(page.inspect_button)
    t = truth_cells()[10]
    _click(
        canvas, canvas.mapTool(), (float(t["xmin"]) + float(t["xmax"])) / 2, (float(t["ymin"]) + float(t["ymax"])) / 2
    )
    _wait()
    if page.last_error is not None:
        raise RuntimeError(f"Explain failed: {page.last_error}")
    top = page.chart.rows[0] if page.chart.rows else None
    say(f"explained the tile of {t['class']}: top class {top[0] if top else '?'} ({top[1]:.2f})" if top else "")
    return {"explain_top": top[0] if top else None, "explain_truth": t["class"]}


if __name__ == "__main__":
    import subprocess

    test = REPO / "tests" / "qgis" / "test_replay_analyst.py"
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", str(test), "-q", "-s", "-p", "no:cacheprovider"]))
