"""Screenshots of every page of the dock at 300 px wide in a real QGIS (1600 x 1000) under Xvfb (issue 25).

    .venv/bin/python scripts/screenshot_narrow.py [--out docs/narrow] [--mode windows --stride 16] [--keep]

The outer part classifies the bundled sample raster with the bundled model (the CLI, into a temporary folder; in
the default mode, map mode, unless ``--mode windows``)
and starts QGIS through scripts/qgis_shots.py; the inner part (run by QGIS's --code) opens the dock at 300 px,
starts editing the land-cover layer with a few edits and a review (so the edit log has rows), and grabs the
whole window on the Classify page (``window-300.png``) and the dock on each page (``<page>-300.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(globals().get("__file__", os.getcwd())).resolve().parent.parent
ENV_JOB = "EUROSAT_NARROW_SHOT_JOB"
PAGES = ["classifyPage", "CorrectPage", "AssessPage", "ExportPage", "explainPage", "setupPage"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "narrow"))
    parser.add_argument("--mode", choices=["windows", "map"], help="the run's mode (default: the CLI's, map)")
    parser.add_argument("--stride", type=int, default=16, help="windows mode's stride (default 16)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    from qgis_shots import run_in_qgis

    work = Path(tempfile.mkdtemp(prefix="eurosat-narrow-shot-"))
    raster = sorted((REPO / "sample_data").glob("*.tif"))[0]
    run_dir = work / "run"
    cmd = [sys.executable, "-m", "eurosat_landcover", "classify", str(raster), str(run_dir), "--name", "sample",
           "--quiet"]  # fmt: skip
    if args.mode:
        cmd += ["--mode", args.mode] + (["--stride", str(args.stride)] if args.mode == "windows" else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    job = {"raster": str(raster.resolve()), "classes": str(run_dir / "sample_classes.tif"), "out": args.out}
    return run_in_qgis(__file__, job, env_job=ENV_JOB, work=work, size=(1600, 1000), timeout=600, keep=args.keep)


def _inner(job: dict) -> None:
    sys.path.insert(0, job["scripts"])  # no __file__ under QGIS's --code
    from qgis.core import QgsPointXY, QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import Qt, QTimer
    from qgis_shots import Shots, pop_task_complete, prepare_window, start_plugin

    shots = Shots(job)
    iface = shots.iface
    state = {}

    @shots.guarded
    def step_setup():
        window = iface.mainWindow()
        layers_dock = prepare_window(iface, job["size"])
        plugin = start_plugin()
        project = QgsProject.instance()
        raster = QgsRasterLayer(job["raster"], Path(job["raster"]).stem)
        project.addMapLayer(raster)
        from eurosat_landcover.core.edits import run_files
        from eurosat_landcover.core.edits.session import run_palette
        from eurosat_landcover.qgis_bridge.styling import style_classes

        classes = QgsRasterLayer(job["classes"], "Land cover")
        style_classes(classes, run_palette(run_files(job["classes"])))
        project.addMapLayer(classes)
        iface.mapCanvas().setExtent(classes.extent())
        plugin.action.setChecked(True)
        dock = plugin.dock
        dock.setFixedWidth(300)
        dock.panel.input.layer_combo.setLayer(raster)  # the Classify page on the raster, not on the land cover
        if layers_dock is not None:
            window.resizeDocks([layers_dock], [240], Qt.Orientation.Horizontal)
        page = dock.workspace.show_page("CorrectPage")
        page.layer_combo.setLayer(classes)
        page.edit_button.click()
        g, ct = page.session.grid, page._to_canvas()
        pts = [ct.transform(QgsPointXY(*g.cell_center(r, c))) for r, c in ((5, 5), (9, 14), (20, 3))]
        for i, p in enumerate(pts):
            page.palette.select(i + 1)
            page.on_drawn("cell", [p])
        page.review.mode.setCurrentIndex(page.review.mode.findData("confidence"))
        page.review.count.setValue(20)
        page.start_review()
        page.accept_review()
        state.update(dock=dock, index=0)
        QTimer.singleShot(1500, step_pages)

    @shots.guarded
    def step_pages():
        dock, i = state["dock"], state["index"]
        if i == len(PAGES):
            dock.workspace.show_page("classifyPage")
            pop_task_complete(iface, everything=True)
            QTimer.singleShot(1000, step_window)
            return
        page = dock.workspace.show_page(PAGES[i])
        pop_task_complete(iface, everything=True)
        state["index"] = i + 1
        QTimer.singleShot(800, lambda: (shots.grab(f"{page.objectName()}-300.png", dock), step_pages()))

    @shots.guarded
    def step_window():
        shots.grab("window-300.png")
        shots.finish(True)

    shots.start(step_setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
