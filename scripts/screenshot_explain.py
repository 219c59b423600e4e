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
import shutil
import subprocess
import sys
import sysconfig
import tempfile
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
    work = Path(tempfile.mkdtemp(prefix="eurosat-explain-shot-"))
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / "eurosat_landcover").symlink_to(REPO, target_is_directory=True)
    profile = work / "profiles" / "profiles" / "default" / "QGIS"
    profile.mkdir(parents=True)
    (profile / "QGIS3.ini").write_text(
        "[PythonPlugins]\neurosat_landcover=true\n\n[qgis]\ncheckVersion=false\nshowTips=false\n",
        encoding="utf-8",
    )
    truth = json.loads((REPO / SAMPLE).with_name("eurosat_mosaic_rgb_truth.json").read_text())
    x, y, a, b = pick_edge(truth)
    job = {"raster": str(REPO / SAMPLE), "out": str(Path(args.out).resolve()), "results": str(work / "results")}
    job.update(x=x, y=y, left=a, right=b)
    runtime = work / "xdg"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ)
    env.update(
        {
            ENV_JOB: json.dumps(job),
            "QGIS_PLUGINPATH": str(plugins),
            "PYTHONPATH": sysconfig.get_paths()["purelib"],
            "XDG_RUNTIME_DIR": str(runtime),
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2"),
        }
    )
    env.pop("QT_QPA_PLATFORM", None)
    cmd = [
        "xvfb-run", "-a", "-s", "-screen 0 1400x900x24",
        "qgis", "--nologo", "--noversioncheck", "--profiles-path", str(work / "profiles"),
        "--code", str(Path(__file__).resolve()),
    ]  # fmt: skip
    print("running:", " ".join(cmd), flush=True)
    try:
        proc = subprocess.run(cmd, env=env, timeout=600, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        print("QGIS did not finish within 10 minutes", file=sys.stderr)
        return 1
    (work / "qgis.log").write_text(proc.stdout + "\n" + proc.stderr, encoding="utf-8")
    status = Path(job["results"]) / "status.json"
    ok = status.is_file() and json.loads(status.read_text()).get("ok")
    print(status.read_text() if status.is_file() else f"no status; QGIS output in {work / 'qgis.log'}")
    if not args.keep and ok:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


# ======================================================================== inner part (in QGIS)
def _inner(job: dict) -> None:
    import time
    import traceback

    import qgis.utils
    from qgis.core import QgsApplication, QgsPointXY, QgsProject, QgsRasterLayer, QgsRectangle
    from qgis.gui import QgsMapMouseEvent
    from qgis.PyQt.QtCore import QEvent, QPoint, QSize, Qt, QTimer

    iface = qgis.utils.iface
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    results = Path(job["results"])
    results.mkdir(parents=True, exist_ok=True)
    status = {"ok": False, "steps": []}
    state = {}

    def note(text):
        status["steps"].append(f"{time.strftime('%H:%M:%S')} {text}")
        (results / "status.json").write_text(json.dumps(status, indent=1))

    def finish(ok=True):
        status["ok"] = ok
        note("quit")
        QgsProject.instance().setDirty(False)
        os._exit(0 if ok else 1)

    def guarded(fn):
        def run():
            try:
                fn()
            except Exception:
                note("error: " + traceback.format_exc())
                finish(False)

        return run

    def wait_render():
        canvas = iface.mapCanvas()
        canvas.refresh()
        for _ in range(50):
            QgsApplication.processEvents()
            time.sleep(0.05)
        canvas.waitWhileRendering()
        QgsApplication.processEvents()

    @guarded
    def step_setup():
        window = iface.mainWindow()
        window.resize(QSize(1400, 900))
        window.showMaximized()
        from qgis.PyQt.QtWidgets import QDockWidget

        for dock_widget in window.findChildren(QDockWidget):
            if dock_widget.objectName() == "Browser":
                dock_widget.hide()
        if "eurosat_landcover" not in qgis.utils.plugins:
            qgis.utils.loadPlugin("eurosat_landcover")
            qgis.utils.startPlugin("eurosat_landcover")
        plugin = qgis.utils.plugins["eurosat_landcover"]
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
        wait_render()
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
        bar = iface.messageBar()
        for item in list(bar.items()):
            bar.popWidget(item)
        QTimer.singleShot(1500, step_shot)

    @guarded
    def step_shot():
        wait_render()
        path = out / "screenshot-explain.png"
        iface.mainWindow().grab().save(str(path))
        note(f"saved {path}")
        finish(True)

    note("QGIS started the script")
    QTimer.singleShot(3000, step_setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
