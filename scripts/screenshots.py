"""README screenshots taken in a real QGIS under Xvfb.

Run from anywhere (it needs xvfb-run and qgis on PATH and the project's .venv):

    .venv/bin/python scripts/screenshots.py [--out docs] [--raster sample.tif] [--model card.json]

The outer part (this file run by Python) prepares a throw-away QGIS profile, the sample raster
(sample_data/*.tif, else a land-cover-like mosaic of EuroSAT RGB patches built from the shared
zip) and the model (the bundled default, else --model), then starts

    xvfb-run -s "-screen 0 1600x1000x24" qgis --nologo --noversioncheck --profiles-path TMP --code THIS_FILE

The inner part (this file run by QGIS's --code) loads the plugin through qgis.utils, adds the raster,
opens the dock, grabs docs/screenshot-dock.png, runs a classification, waits for the task, grabs
docs/screenshot-classified.png and quits QGIS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

# QGIS's --code runs this file without __file__; the inner part does not need it.
REPO = Path(globals().get("__file__", os.getcwd())).resolve().parent.parent
ENV_JOB = "EUROSAT_SCREENSHOT_JOB"


# ======================================================================== outer part
def _land_cover_layout(cols: int, rows: int) -> list:
    """A plausible landscape on a cols x rows grid of 64 px blocks: class name per block."""
    import math

    grid = [["HerbaceousVegetation"] * cols for _ in range(rows)]
    for r in range(rows):
        for c in range(cols):
            if r <= 3 and c <= 5:
                grid[r][c] = "Forest"
            elif r <= 2 and 6 <= c <= 8:
                grid[r][c] = "PermanentCrop"
            elif r <= 3 and c >= 9:
                grid[r][c] = "AnnualCrop"
            elif r >= 7 and c <= 4:
                grid[r][c] = "SeaLake"
            elif 5 <= r <= 7 and 7 <= c <= 10:
                grid[r][c] = "Residential"
            elif r >= 8 and 10 <= c <= 13:
                grid[r][c] = "Industrial"
            elif 5 <= r <= 7 and c >= 12:
                grid[r][c] = "Pasture"
            elif r >= 8 and 5 <= c <= 9:
                grid[r][c] = "AnnualCrop"
    for r in range(rows):  # a north-south highway
        grid[r][11] = "Highway"
    for c in range(cols):  # a meandering river from the lake eastwards
        r = int(round(5 + 1.5 * math.sin(c / 2.2)))
        grid[min(rows - 1, max(0, r))][c] = "River"
    return grid


def build_sample(path: Path, cols: int = 16, rows: int = 10, seed: int = 7) -> Path:
    """A georeferenced mosaic of real EuroSAT RGB patches (10 m, UTM 32N) laid out as a landscape."""
    import random

    sys.path.insert(0, str(REPO.parent))
    sys.path.insert(0, str(REPO / "tests" / "core"))
    from eurosat_landcover.models.dataset import EUROSAT_CLASSES, list_eurosat
    from mosaic_testlib import build_mosaic

    zip_path = REPO.parent / "shared" / "datasets" / "eurosat-rgb" / "EuroSAT_RGB.zip"
    members = list_eurosat(zip_path)
    rng = random.Random(seed)
    items = []
    for row in _land_cover_layout(cols, rows):
        for name in row:
            items.append((rng.choice(members[name]), EUROSAT_CLASSES.index(name)))
    build_mosaic(zip_path, items, path, cols, EUROSAT_CLASSES)
    return path


def default_raster() -> Path | None:
    tifs = sorted((REPO / "sample_data").glob("*.tif"))
    return tifs[0] if tifs else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder for the PNGs (default docs/)")
    parser.add_argument("--raster", help="raster to show (default: sample_data/*.tif, else a built mosaic)")
    parser.add_argument("--model", help="model card (default: the bundled model)")
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    from qgis_shots import run_in_qgis

    work = Path(tempfile.mkdtemp(prefix="eurosat-shots-"))
    raster = Path(args.raster) if args.raster else default_raster()
    if raster is None:
        raster = build_sample(work / "eurosat_sample_mosaic.tif")
    job = {
        "raster": str(raster.resolve()),
        "model": str(Path(args.model).resolve()) if args.model else "",
        "out": str(Path(args.out).resolve()),
        "stride": args.stride,
    }
    return run_in_qgis(
        __file__,
        job,
        env_job=ENV_JOB,
        work=work,
        size=(1600, 1000),
        timeout=600,
        keep=args.keep,
        ini_extra="[core]\nlayout\\showTips=false\n",
        extra_env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")},
    )


# ======================================================================== inner part (in QGIS)
def _inner(job: dict) -> None:
    import faulthandler
    import time

    sys.path.insert(0, job["scripts"])  # no __file__ under QGIS's --code
    from qgis.core import QgsLayerTreeGroup, QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import QCoreApplication, Qt, QTimer
    from qgis_shots import Shots, pop_task_complete, prepare_window, start_plugin

    shots = Shots(job)
    note, finish, guarded, grab = shots.note, shots.finish, shots.guarded, shots.grab
    iface = shots.iface
    results = shots.results  # status and fault log
    output_folder = results / "EuroSAT land cover"
    state = {}
    state["fault_file"] = open(results / "faulthandler.txt", "w")  # noqa: SIM115 - lives until exit
    faulthandler.enable(file=state["fault_file"], all_threads=True)

    @guarded
    def step_setup():
        window = iface.mainWindow()
        state["layers_dock"] = prepare_window(iface, job["size"])
        plugin = start_plugin()
        note(f"plugin loaded: {type(plugin).__name__}")
        layer = QgsRasterLayer(job["raster"], Path(job["raster"]).stem)
        assert layer.isValid(), job["raster"]
        QgsProject.instance().addMapLayer(layer)
        iface.setActiveLayer(layer)
        iface.mapCanvas().setExtent(layer.extent().buffered(layer.extent().width() * 0.02))
        plugin.action.setChecked(True)  # opens the dock
        dock = plugin.dock
        window.resizeDocks([dock], [430], Qt.Orientation.Horizontal)
        if state["layers_dock"] is not None:
            window.resizeDocks([state["layers_dock"]], [330], Qt.Orientation.Horizontal)
        panel = dock.panel
        if job["model"]:
            panel.model.add_model(job["model"])
        panel.input.layer_combo.setLayer(layer)
        # screenshot 1 shows a drawn rectangle with its km² and window estimate; the run takes the whole layer
        ext = layer.extent()
        from qgis.core import QgsRectangle

        drawn = QgsRectangle(
            ext.xMinimum() + ext.width() * 0.55,
            ext.yMinimum() + ext.height() * 0.1,
            ext.xMinimum() + ext.width() * 0.9,
            ext.yMinimum() + ext.height() * 0.55,
        )
        panel.area.set_drawn_rectangle(drawn, layer.crs())
        panel.area.draw_button.setChecked(False)
        panel.options.stride_combo.setCurrentIndex(max(0, panel.options.stride_combo.findData(int(job["stride"]))))
        panel.options.output_widget.setFilePath(str(output_folder))
        panel.options.open_check.setChecked(True)
        state.update(plugin=plugin, panel=panel, layer=layer, dock=dock)
        QTimer.singleShot(1500, step_shot_dock)

    @guarded
    def step_shot_dock():
        layer = state["layer"]
        iface.mapCanvas().setExtent(layer.extent().buffered(layer.extent().width() * 0.02))
        tool = state["panel"].area.map_tool
        if tool is not None and tool.rubber_band is not None:
            rb = tool.rubber_band
            note(f"rectangle: {rb.asGeometry().boundingBox().toString(0)}, visible {rb.isVisible()}, {tool.info}")
        grab("screenshot-dock.png")
        state["panel"].area.set_mode("layer")
        task = state["panel"].run()
        assert task is not None, "the run did not start"
        state["started"] = time.monotonic()
        note("classification started")
        QTimer.singleShot(500, step_wait)

    @guarded
    def step_wait():
        panel = state["panel"]
        if panel.queue.tasks:
            if time.monotonic() - state["started"] > 420:
                raise TimeoutError("classification took more than 7 minutes")
            QTimer.singleShot(500, step_wait)
            return
        note(f"classification finished: {panel.report.status_label.text()}")
        root = QgsProject.instance().layerTreeRoot()
        groups = [g for g in root.children() if isinstance(g, QgsLayerTreeGroup)]
        assert groups, "no result group: " + panel.report.status_label.text()
        # screenshot 2: the classified map and its legend; the dock stays open, scrolled to the summary
        group = groups[0]
        view = iface.layerTreeView()
        layer = state["layer"]
        input_node = root.findLayer(layer.id())
        input_node.setExpanded(False)
        land = group.findLayers()[0]
        for node in (group, land):
            node.setExpanded(True)
            view.setExpanded(view.node2index(node), True)
        iface.mapCanvas().setExtent(layer.extent().buffered(layer.extent().width() * 0.02))
        QTimer.singleShot(1500, step_shot_classified)

    @guarded
    def step_shot_classified():
        # the Classify page scrolled to its last-run summary, once the summary is laid out
        scroll = state["panel"].findChild(__import__("qgis.PyQt.QtWidgets", fromlist=["QScrollArea"]).QScrollArea)
        if scroll is not None:
            QCoreApplication.processEvents()
            scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
            QCoreApplication.processEvents()
        pop_task_complete(iface)  # QGIS's own notice hides the plugin's summary
        grab("screenshot-classified.png")
        finish(True)

    shots.start(step_setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
