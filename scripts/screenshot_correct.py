"""README screenshot of the Review & correct page, taken in a real QGIS under Xvfb.

    .venv/bin/python scripts/screenshot_correct.py [--out docs] [--stride 16] [--keep]

The outer part (this file run by Python) classifies the bundled sample raster with the bundled
model (the CLI, into a temporary folder), prepares a throw-away QGIS profile with the plugin
enabled and starts

    xvfb-run -a -s "-screen 0 1400x1050x24" qgis --nologo --noversioncheck --profiles-path TMP --code THIS_FILE

The inner part (this file run by QGIS's --code) loads the plugin, adds the sample raster and the
land-cover layer, opens the dock on the Review & correct page, presses Edit, paints a polygon and a
brush stroke through the page's own gesture handler (what the map tools call), starts a review in
confidence order, accepts one cell and corrects the next with a key, zooms out and grabs
docs/screenshot-correct.png.
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
ENV_JOB = "EUROSAT_CORRECT_SHOT_JOB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs"))
    parser.add_argument("--stride", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eurosat-correct-shot-"))
    raster = sorted((REPO / "sample_data").glob("*.tif"))[0]
    run_dir = work / "run"
    cmd = [sys.executable, "-m", "eurosat_landcover", "classify", str(raster), str(run_dir),
           "--stride", str(args.stride), "--name", "sample", "--quiet"]  # fmt: skip
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / "eurosat_landcover").symlink_to(REPO, target_is_directory=True)
    profile = work / "profiles" / "profiles" / "default" / "QGIS"
    profile.mkdir(parents=True)
    (profile / "QGIS3.ini").write_text(
        "[PythonPlugins]\neurosat_landcover=true\n\n[qgis]\ncheckVersion=false\nshowTips=false\n", encoding="utf-8"
    )
    job = {
        "raster": str(raster.resolve()),
        "classes": str(run_dir / "sample_classes.tif"),
        "out": str(Path(args.out).resolve()),
        "results": str(work / "results"),
    }
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
        "xvfb-run", "-a", "-s", "-screen 0 1400x1050x24",
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


def _inner(job: dict) -> None:
    import time
    import traceback

    import qgis.utils
    from qgis.core import QgsApplication, QgsPointXY, QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import QSize, Qt, QTimer
    from qgis.PyQt.QtWidgets import QDockWidget, QScrollArea

    iface = qgis.utils.iface
    out = Path(job["out"])
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

    @guarded
    def step_setup():
        window = iface.mainWindow()
        window.resize(QSize(1400, 1050))
        window.showMaximized()
        for dock_widget in window.findChildren(QDockWidget):
            if dock_widget.objectName() == "Browser":
                dock_widget.hide()
            elif dock_widget.objectName() == "Layers":
                state["layers_dock"] = dock_widget
        if "eurosat_landcover" not in qgis.utils.plugins:
            qgis.utils.loadPlugin("eurosat_landcover")
            qgis.utils.startPlugin("eurosat_landcover")
        plugin = qgis.utils.plugins["eurosat_landcover"]
        rgb = QgsRasterLayer(job["raster"], Path(job["raster"]).stem)
        project = QgsProject.instance()
        project.addMapLayer(rgb)
        from eurosat_landcover.core.edits import run_files
        from eurosat_landcover.core.edits.session import run_palette
        from eurosat_landcover.qgis_bridge.styling import style_classes

        classes = QgsRasterLayer(job["classes"], "Land cover (model)")
        assert classes.isValid(), job["classes"]
        style_classes(classes, run_palette(run_files(job["classes"])))
        project.addMapLayer(classes)
        plugin.action.setChecked(True)
        dock = plugin.dock
        window.resizeDocks([dock], [470], Qt.Orientation.Horizontal)
        if "layers_dock" in state:
            window.resizeDocks([state["layers_dock"]], [260], Qt.Orientation.Horizontal)
        page = dock.workspace.show_page("CorrectPage")
        assert page is not None, "no Review & correct page in the workspace"
        iface.mapCanvas().setExtent(classes.extent())
        page.layer_combo.setLayer(classes)
        page.edit_button.click()
        assert page.session is not None, "editing did not start"
        note(f"editing {page.files.prefix}")
        state.update(page=page, classes=classes, dock=dock)
        QTimer.singleShot(1000, step_paint)

    @guarded
    def step_paint():
        page = state["page"]
        g = page.session.grid
        ct = page._to_canvas()

        def canvas_pt(row, col):
            return ct.transform(QgsPointXY(*g.cell_center(row, col)))

        page.palette.select(9)  # SeaLake: a lake drawn as a polygon
        page.set_tool("polygon")
        h, w = g.height, g.width
        corners = [
            (h * 0.3, w * 0.62),
            (h * 0.25, w * 0.72),
            (h * 0.38, w * 0.8),
            (h * 0.5, w * 0.74),
            (h * 0.48, w * 0.64),
        ]
        page.on_drawn("polygon", [canvas_pt(r, c) for r, c in corners])
        page.palette.select(3)  # Highway: a straight road painted with the brush
        page.tools.brush_size.setValue(1)
        page.set_tool("brush")
        stroke = [(h * 0.9, w * 0.05), (h * 0.55, w * 0.45)]
        page.on_drawn("brush", [canvas_pt(r, c) for r, c in stroke])
        note(f"edits: {[(e.tool, e.cells) for e in page.session.edits()]}")
        page.review.mode.setCurrentIndex(page.review.mode.findData("confidence"))
        page.review.count.setValue(40)
        page.start_review()
        page.accept_review()
        page.accept_review()
        page.on_command("class:1")  # Forest for the third doubtful cell
        note(f"review: {page.review.progress.text()}; {page.review.current.text()}")
        note(f"reviewed marks: {len(page.reviewed_marks)} at {[(i.row, i.col) for i in page.review_items[:3]]}")
        iface.mapCanvas().setExtent(state["classes"].extent())
        scroll = page.findChild(QScrollArea)
        if scroll is not None:
            scroll.verticalScrollBar().setValue(0)
        iface.messageBar().clearWidgets()
        QTimer.singleShot(1500, step_shot)

    @guarded
    def step_shot():
        canvas = iface.mapCanvas()
        canvas.refresh()
        for _ in range(40):
            QgsApplication.processEvents()
            time.sleep(0.05)
        canvas.waitWhileRendering()
        QgsApplication.processEvents()
        out.mkdir(parents=True, exist_ok=True)
        path = out / "screenshot-correct.png"
        iface.mainWindow().grab().save(str(path))
        note(f"saved {path}")
        finish(True)

    note("QGIS started the script")
    QTimer.singleShot(3000, step_setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
