"""README screenshots of the dock before and after the plugin's packages are installed, in a real QGIS.

    .venv/bin/python scripts/screenshot_install.py [--out docs]

Two runs of `xvfb-run -a qgis --code THIS_FILE` with a throw-away profile:
- before: QGIS on Debian's own Python, which has no torch (the issue's reference situation). The dock
  shows what is missing; the script presses "Install dependencies…" and waits for the plan (from the real
  index's JSON API, pip configured as a user has it: what would be downloaded, how big, which PyTorch build and
  why), then grabs docs/screenshot-install-before.png. Nothing is downloaded or installed.
- after: QGIS with the project's venv on its path (torch, torchvision, timm, safetensors present). The
  dock shows the workspace; the script opens its Setup page, which asks torch which device it will use,
  and grabs docs/screenshot-install-after.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(globals().get("__file__", os.getcwd())).resolve().parent.parent
ENV_JOB = "EUROSAT_INSTALL_SHOT_JOB"


def run_qgis(mode: str, out: Path, keep: bool) -> bool:
    from qgis_shots import run_in_qgis

    job = {"mode": mode, "out": str(out.resolve()), "raster": str(_raster())}
    # before: QGIS on Debian's own Python; after: the venv on its path (torch & co. present)
    extra_env = {"VIRTUAL_ENV": None, **({"PYTHONPATH": None} if mode == "before" else {})}
    if mode == "before":  # pip as a user has it: the package index only (no machine-wide find-links or mirrors)
        extra_env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": None, "PIP_EXTRA_INDEX_URL": None})
    print(f"{mode}:", flush=True)
    rc = run_in_qgis(
        __file__,
        job,
        env_job=ENV_JOB,
        prefix=f"eurosat-install-{mode}-",
        size=(1500, 950),
        timeout=540,
        keep=keep,
        extra_env=extra_env,
    )
    return rc == 0


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

    sys.path.insert(0, job["scripts"])  # no __file__ under QGIS's --code
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.PyQt.QtCore import Qt, QTimer
    from qgis_shots import Shots, prepare_window, start_plugin

    shots = Shots(job)
    note, finish, guarded, grab = shots.note, shots.finish, shots.guarded, shots.grab
    iface = shots.iface
    state = {"started": time.monotonic()}

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
        prepare_window(iface, job["size"])
        plugin = start_plugin()
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

    shots.start(setup)


if os.environ.get(ENV_JOB) and "qgis.utils" in sys.modules and getattr(sys.modules["qgis.utils"], "iface", None):
    _inner(json.loads(os.environ[ENV_JOB]))
elif __name__ == "__main__":
    sys.exit(main())
