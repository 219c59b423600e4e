"""README screenshot of the Explain page, taken in a real QGIS under Xvfb.

    .venv/bin/python scripts/screenshot_explain.py [--out docs]

The outer part (this file run by Python) makes a throw-away QGIS profile with the plugin enabled and
starts ``xvfb-run -a qgis --code THIS_FILE``. The inner part (run by QGIS) loads the plugin, adds the
bundled sample mosaic (sample_data/eurosat_mosaic_rgb.tif, real EuroSAT patches), opens the Explain
page, arms the inspect map tool and clicks the map on the edge between two blocks of different
classes (a window that sees half of each), waits for the QgsTask, adds the heat map to the map with
"Show on map", grabs docs/screenshot-explain.png and quits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(globals().get("__file__", os.getcwd())).resolve().parent.parent
ENV_JOB = "EUROSAT_EXPLAIN_SHOT_JOB"
SAMPLE = "sample_data/eurosat_mosaic_rgb.tif"


def pick_edge(truth: dict, left=("Industrial", "Residential"), right=("Forest", "SeaLake", "River", "AnnualCrop")):
    """(x, y) in the raster CRS on the shared edge of two side-by-side blocks of different kinds."""
    blocks = {(b["row"], b["col"]): b for b in truth["blocks"]}
    for (r, c), b in sorted(blocks.items()):
        n = blocks.get((r, c + 1))
        inner = 0 < r < truth["rows"] - 1 and 0 < c < truth["columns"] - 2
        if n is not None and inner and b["class"] in left and n["class"] in right:
            return b["bounds"][2], (b["bounds"][1] + b["bounds"][3]) / 2, b["class"], n["class"]
    b = blocks[(1, 1)]
    return b["bounds"][2], (b["bounds"][1] + b["bounds"][3]) / 2, b["class"], blocks[(1, 2)]["class"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs"), help="folder for the PNG (default docs/)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    from qgis_shots import run_in_qgis

    truth = json.loads((REPO / SAMPLE).with_name("eurosat_mosaic_rgb_truth.json").read_text())
    x, y, a, b = pick_edge(truth)
    job = {"raster": str(REPO / SAMPLE), "out": str(Path(args.out).resolve())}
    job.update(x=x, y=y, left=a, right=b)
    return run_in_qgis(
        __file__,
        job,
        env_job=ENV_JOB,
        prefix="eurosat-explain-shot-",
        size=(1400, 900),
        timeout=600,
        keep=args.keep,
        extra_env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")},
    )


# ======================================================================== inner part (in QGIS)
def _inner(job: dict) -> None:
    import time

    sys.path.insert(0, job["scripts"])  # no __file__ under QGIS's --code
    from qgis.core import QgsPointXY, QgsProject, QgsRasterLayer, QgsRectangle
    from qgis.gui import QgsMapMouseEvent
    from qgis.PyQt.QtCore import QEvent, QPoint, Qt, QTimer
    from qgis_shots import Shots, pop_task_complete, prepare_window, start_plugin

    shots = Shots(job)
    note, finish, guarded, grab = shots.note, shots.finish, shots.guarded, shots.grab
    iface = shots.iface
    state = {}

    @guarded
    def step_setup():
        window = iface.mainWindow()
        prepare_window(iface, job["size"])
        plugin = start_plugin()
        layer = QgsRasterLayer(job["raster"], Path(job["raster"]).stem)
        assert layer.isValid(), job["raster"]
        QgsProject.instance().addMapLayer(layer)
        iface.setActiveLayer(layer)
        x, y = job["x"], job["y"]
        iface.mapCanvas().setExtent(QgsRectangle(x - 1100, y - 700, x + 1100, y + 700))
        plugin.action.setChecked(True)
        dock = plugin.dock
        window.resizeDocks([dock], [470], Qt.Orientation.Horizontal)
        page = dock.workspace.show_page("explainPage")
        assert page is not None, "no Explain page"
        page.device_combo.setCurrentIndex(max(0, page.device_combo.findData("cpu")))
        page.input_combo.setLayer(layer)
        page.inspect_button.setChecked(True)
        state.update(page=page, layer=layer)
        note(f"set up; clicking at {x:.0f}, {y:.0f} between {job['left']} and {job['right']}")
        QTimer.singleShot(1500, step_click)

    @guarded
    def step_click():
        canvas = iface.mapCanvas()
        page = state["page"]
        x, y = job["x"], job["y"]
        canvas.setExtent(QgsRectangle(x - 1000, y - 900, x + 1000, y + 900))
        shots.settle()
        pix = canvas.getCoordinateTransform().transform(QgsPointXY(job["x"] + 5, job["y"] - 5))
        pos = QPoint(round(pix.x()), round(pix.y()))
        tool = canvas.mapTool()
        assert tool is page.map_tool, "the inspect tool is not active"
        tool.canvasPressEvent(
            QgsMapMouseEvent(
                canvas, QEvent.Type.MouseButtonPress, pos, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton
            )
        )
        tool.canvasReleaseEvent(
            QgsMapMouseEvent(
                canvas, QEvent.Type.MouseButtonRelease, pos, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
            )
        )
        state["started"] = time.monotonic()
        QTimer.singleShot(500, step_wait)

    @guarded
    def step_wait():
        page = state["page"]
        busy = page._task is not None or page._pending is not None
        if busy or (page.windows and page.view.heat is None and page.last_error is None):
            if time.monotonic() - state["started"] > 300:
                raise TimeoutError("inspection took more than 5 minutes")
            QTimer.singleShot(500, step_wait)
            return
        assert page.last_error is None, page.last_error
        note(f"inspected: {page.status.text()}")
        layer = page.show_on_map()
        assert layer is not None, "Show on map added no layer"
        iface.setActiveLayer(state["layer"])
        pop_task_complete(iface, everything=True)
        QTimer.singleShot(1500, step_shot)

    @guarded
    def step_shot():
        grab("screenshot-explain.png")
        finish(True)

    shots.start(step_setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
