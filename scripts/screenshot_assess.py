"""README screenshots of the Assess page, taken in a real QGIS under Xvfb.

    .venv/bin/python scripts/assess_demo.py            # makes runs/assess_demo (map, labelled sample)
    .venv/bin/python scripts/screenshot_assess.py [--out docs]

The outer part (this file run by Python) makes a throw-away QGIS profile with the plugin enabled, copies the
demo's labelled sample and clears the labels of its last 40 % of points (labelling half-way), then starts
``xvfb-run -a qgis --code THIS_FILE``. The inner part (run by QGIS) opens the dock on the Assess page with the
sample raster, the demo's land-cover map and the sample; the page centres the map on the next point to label
with its 640 m box; it runs the analysis of the points labelled so far, and grabs
``docs/screenshot-assess.png`` (the main window, the page scrolled to the labelling) and
``docs/screenshot-assess-page.png`` (the whole page).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(globals().get("__file__", os.getcwd())).resolve().parent.parent
ENV_JOB = "EUROSAT_ASSESS_SHOT_JOB"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "docs"))
    p.add_argument("--demo", default=str(REPO / "runs" / "assess_demo"))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    demo = Path(args.demo)
    classes = demo / "eurosat_mosaic_rgb_classes.tif"
    sample = demo / "eurosat_mosaic_rgb_sample.gpkg"
    if not (classes.is_file() and sample.is_file()):
        print("run scripts/assess_demo.py first", file=sys.stderr)
        return 1
    from qgis_shots import run_in_qgis

    work = Path(tempfile.mkdtemp(prefix="eurosat-assess-shots-"))
    data = work / "data"
    data.mkdir()
    for f in demo.iterdir():
        if f.name.startswith("eurosat_mosaic_rgb_") and "_assessment" not in f.name and f.is_file():
            shutil.copy2(f, data / f.name)
    from osgeo import ogr

    ds = ogr.Open(str(data / sample.name), 1)
    lyr = ds.GetLayerByName("sample_points")
    n = lyr.GetFeatureCount()
    for f in lyr:
        if f.GetField("point_id") > int(0.6 * n):
            for k in ("ref_class", "ref_code", "labelled_utc"):
                f.SetFieldNull(k)
            f.SetField("status", "")
            lyr.SetFeature(f)
    ds = None
    job = {
        "raster": str(REPO / "sample_data" / "eurosat_mosaic_rgb.tif"),
        "classes": str(data / classes.name),
        "sample": str(data / sample.name),
        "out": str(Path(args.out).resolve()),
    }
    return run_in_qgis(__file__, job, env_job=ENV_JOB, work=work, size=(1600, 1000), timeout=300, keep=args.keep)


def _inner(job: dict) -> None:
    import time

    sys.path.insert(0, job["scripts"])  # no __file__ under QGIS's --code
    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
    from qgis.PyQt.QtCore import Qt, QTimer
    from qgis.PyQt.QtWidgets import QScrollArea, QTabWidget, QWidget
    from qgis_shots import Shots, pop_task_complete, prepare_window, start_plugin

    shots = Shots(job)
    note, finish, guarded, grab = shots.note, shots.finish, shots.guarded, shots.grab
    iface = shots.iface
    results = shots.results
    state = {}

    @guarded
    def setup():
        window = iface.mainWindow()
        prepare_window(iface, job["size"])
        plugin = start_plugin()
        image = QgsRasterLayer(job["raster"], "eurosat_mosaic_rgb (imagery)")
        land = QgsRasterLayer(job["classes"], "Land cover (stride 16)")
        for layer in (image, land):
            assert layer.isValid(), layer.source()
            QgsProject.instance().addMapLayer(layer)
        root = QgsProject.instance().layerTreeRoot()
        root.findLayer(land.id()).setItemVisibilityChecked(False)  # the analyst looks at the imagery
        iface.setActiveLayer(land)
        plugin.action.setChecked(True)
        dock = plugin.dock
        window.resizeDocks([dock], [520], Qt.Orientation.Horizontal)
        page = dock.findChild(QWidget, "AssessPage")
        assert page is not None, "no Assess page in the dock"
        tabs = dock.findChild(QTabWidget, "workspaceTabs")
        if tabs is not None:
            tabs.setCurrentWidget(page)
        page.design.map_combo.setLayer(land)
        page.design.target_se.setValue(0.02)
        page.design.min_per_class.setValue(20)
        from eurosat_landcover.qgis_bridge.assess import style_sample_layer

        sample = QgsVectorLayer(job["sample"] + "|layername=sample_points", "Accuracy sample", "ogr")
        assert sample.isValid()
        style_sample_layer(sample)
        QgsProject.instance().addMapLayer(sample)
        page.design.output.setFilePath(job["sample"])
        page.labels.set_layer(sample)
        page.ask = lambda q: True
        page.analysis.folder.setFilePath(str(results))
        page.analyse()
        state.update(page=page, dock=dock, started=time.monotonic())
        note("analysis started")
        QTimer.singleShot(500, wait)

    @guarded
    def wait():
        page = state["page"]
        if page.tasks:
            if time.monotonic() - state["started"] > 60:
                raise TimeoutError("analysis took more than a minute")
            QTimer.singleShot(300, wait)
            return
        note("analysis done: " + page.analysis.view.toPlainText()[:80])
        page.labels.show_point()  # the map back on the point to label
        scroll = page.findChild(QScrollArea)
        scroll.ensureWidgetVisible(page.labels, 0, 0)
        scroll.verticalScrollBar().setValue(page.labels.y() - 8)
        pop_task_complete(iface)
        QTimer.singleShot(1500, shoot)

    @guarded
    def shoot():
        grab("screenshot-assess.png")
        page = state["page"]
        inner = page.findChild(QScrollArea).widget()
        grab("screenshot-assess-page.png", widget=inner, settle=False)
        finish(True)

    shots.start(setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
