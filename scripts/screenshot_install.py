"""README screenshots of the dock before and after the plugin's packages are installed, in a real QGIS.

    .venv/bin/python scripts/screenshot_install.py [--out docs]

Two runs of `xvfb-run -a qgis --code THIS_FILE` with a throw-away profile:
- before: QGIS on Debian's own Python, which has no torch (the issue's reference situation). The dock
  shows what is missing; the script presses "Install dependencies…" and waits for the plan (pip's dry run
  against the real index: what would be downloaded, how big, which PyTorch build and why), then grabs
  docs/screenshot-install-before.png. Nothing is downloaded or installed.
- after: QGIS with the project's venv on its path (torch, torchvision, timm, safetensors present). The
  dock shows the workspace; the script opens its Setup page, which asks torch which device it will use,
  and grabs docs/screenshot-install-after.png.
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
ENV_JOB = "EUROSAT_INSTALL_SHOT_JOB"


def run_qgis(mode: str, out: Path, keep: bool) -> bool:
    work = Path(tempfile.mkdtemp(prefix=f"eurosat-install-{mode}-"))
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / "eurosat_landcover").symlink_to(REPO, target_is_directory=True)
    profile = work / "profiles" / "profiles" / "default" / "QGIS"
    profile.mkdir(parents=True)
    (profile / "QGIS3.ini").write_text(
        "[PythonPlugins]\neurosat_landcover=true\n\n[qgis]\ncheckVersion=false\nshowTips=false\n",
        encoding="utf-8",
    )
    results = work / "results"
    job = {"mode": mode, "out": str(out.resolve()), "results": str(results), "raster": str(_raster())}
    runtime = work / "xdg"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update({ENV_JOB: json.dumps(job), "QGIS_PLUGINPATH": str(plugins), "XDG_RUNTIME_DIR": str(runtime)})
    if mode == "after":
        env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]  # the venv: torch & co. present
    cmd = [
        "xvfb-run", "-a", "-s", "-screen 0 1500x950x24",
        "qgis", "--nologo", "--noversioncheck", "--profiles-path", str(work / "profiles"),
        "--code", str(Path(__file__).resolve()),
    ]  # fmt: skip
    print(f"{mode}: running {' '.join(cmd)}", flush=True)
    try:
        proc = subprocess.run(cmd, env=env, timeout=540, capture_output=True, text=True)
        output = proc.stdout + "\n" + proc.stderr
    except subprocess.TimeoutExpired:
        output = "timed out"
    (work / "qgis.log").write_text(output, encoding="utf-8")
    status = results / "status.json"
    ok = status.is_file() and json.loads(status.read_text()).get("ok")
    print(status.read_text() if status.is_file() else f"no status; QGIS output in {work / 'qgis.log'}")
    if ok and not keep:
        shutil.rmtree(work, ignore_errors=True)
    return bool(ok)


def _raster() -> Path:
    return sorted((REPO / "sample_data").glob("*.tif"))[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--only", choices=["before", "after"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    modes = [args.only] if args.only else ["before", "after"]
    return 0 if all([run_qgis(mode, args.out, args.keep) for mode in modes]) else 1


# ======================================================================== inner part (in QGIS)
def _inner(job: dict) -> None:
    import time
    import traceback

    import qgis.utils
    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import QSize, Qt, QTimer
    from qgis.PyQt.QtWidgets import QDockWidget

    iface = qgis.utils.iface
    results = Path(job["results"])
    results.mkdir(parents=True, exist_ok=True)
    status = {"ok": False, "steps": []}
    state = {"started": time.monotonic()}

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

    def grab(name):
        for _ in range(40):
            QgsApplication.processEvents()
            time.sleep(0.05)
        path = Path(job["out"]) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not iface.mainWindow().grab().save(str(path)):
            raise OSError(f"could not write {path}")
        note(f"saved {path}")

    def wait_for(panel, then, limit=420):
        @guarded
        def poll():
            if panel.task is not None:
                if time.monotonic() - state["started"] > limit:
                    raise TimeoutError("the panel's task did not finish")
                QTimer.singleShot(500, poll)
                return
            QTimer.singleShot(800, then)

        QTimer.singleShot(500, poll)

    @guarded
    def setup():
        window = iface.mainWindow()
        window.resize(QSize(1500, 950))
        window.showMaximized()
        for dock_widget in window.findChildren(QDockWidget):
            if dock_widget.objectName() == "Browser":
                dock_widget.hide()
        if "eurosat_landcover" not in qgis.utils.plugins:
            qgis.utils.loadPlugin("eurosat_landcover")
            qgis.utils.startPlugin("eurosat_landcover")
        plugin = qgis.utils.plugins["eurosat_landcover"]
        layer = QgsRasterLayer(job["raster"], Path(job["raster"]).stem)
        QgsProject.instance().addMapLayer(layer)
        iface.mapCanvas().setExtent(layer.extent())
        plugin.action.setChecked(True)  # opens the dock
        dock = plugin.dock
        window.resizeDocks([dock], [560], Qt.Orientation.Horizontal)
        note(f"plugin loaded; workspace: {dock.workspace is not None}")
        if job["mode"] == "before":
            panel = dock.install_panel
            assert panel is not None, "torch is present: the 'before' run needs a QGIS without it"
            panel.install_button.click()  # plan only: pip's dry run, nothing is installed
            wait_for(panel, guarded(lambda: shot(panel, "screenshot-install-before.png")))
        else:
            assert dock.workspace is not None, "packages missing in the 'after' run"
            page = dock.workspace.show_page("setupPage")
            wait_for(page.panel, guarded(lambda: shot(page.panel, "screenshot-install-after.png")))

    def shot(panel, name):
        note(f"notice: {panel.notice.text()}")
        note(f"plan: {panel.plan_label.text()}")
        note(f"error: {panel.error_label.text()}")
        note(f"device: {panel.device_label.text()} / {panel.warning_label.text()}")
        grab(name)
        finish(True)

    note("QGIS started the script")
    QTimer.singleShot(3000, setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
