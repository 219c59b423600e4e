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
import subprocess
import sys
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

    from qgis_shots import run_in_qgis

    work = Path(tempfile.mkdtemp(prefix="eurosat-correct-shot-"))
    raster = sorted((REPO / "sample_data").glob("*.tif"))[0]
    run_dir = work / "run"
    cmd = [sys.executable, "-m", "eurosat_landcover", "classify", str(raster), str(run_dir),
           "--mode", "windows", "--stride", str(args.stride), "--name", "sample", "--quiet"]  # fmt: skip
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    job = {
        "raster": str(raster.resolve()),
        "classes": str(run_dir / "sample_classes.tif"),
        "out": str(Path(args.out).resolve()),
    }
    return run_in_qgis(
        __file__,
        job,
        env_job=ENV_JOB,
        work=work,
        size=(1400, 1050),
        timeout=600,
        keep=args.keep,
        extra_env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")},
    )


def _inner(job: dict) -> None:
    sys.path.insert(0, job["scripts"])  # no __file__ under QGIS's --code
    from qgis.core import QgsPointXY, QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import Qt, QTimer
    from qgis.PyQt.QtWidgets import QScrollArea
    from qgis_shots import Shots, prepare_window, start_plugin

    shots = Shots(job)
    note, finish, guarded, grab = shots.note, shots.finish, shots.guarded, shots.grab
    iface = shots.iface
    state = {}

    @guarded
    def step_setup():
        window = iface.mainWindow()
        state["layers_dock"] = prepare_window(iface, job["size"])
        plugin = start_plugin()
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
        if state["layers_dock"] is not None:
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
        grab("screenshot-correct.png")
        finish(True)

    shots.start(step_setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
