"""Shared machinery of the README screenshot scripts (scripts/screenshot*.py): QGIS under Xvfb.

Outer part (plain Python): ``run_in_qgis`` makes a throw-away QGIS profile with the plugin enabled and a
plugins folder linking ``eurosat_landcover`` to this repository, then runs

    xvfb-run -a -s "-screen 0 WxHx24" qgis --nologo --noversioncheck --profiles-path TMP --code SCRIPT

with the job (JSON) in an environment variable, and reads the steps QGIS wrote to ``results/status.json``.

Inner part (in QGIS): ``qgis --code FILE`` runs a script without ``__file__``, so it imports this module
through the job: ``sys.path.insert(0, job["scripts"]); from qgis_shots import Shots``. ``Shots`` records the
steps (note, finish, guarded, settle, grab); ``prepare_window``, ``start_plugin`` and ``pop_task_complete``
are the common set-up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
PLUGIN = "eurosat_landcover"
INI = f"[PythonPlugins]\n{PLUGIN}=true\n\n[qgis]\ncheckVersion=false\nshowTips=false\n"


# ======================================================================== outer part
def run_in_qgis(
    script: str | Path,
    job: dict,
    *,
    env_job: str,
    work: Path | None = None,
    prefix: str = "eurosat-shots-",
    size: tuple = (1600, 1000),
    timeout: int = 600,
    keep: bool = False,
    ini_extra: str = "",
    extra_env: dict | None = None,
    link_plugin: bool = True,
) -> int:
    """Run ``script`` in QGIS under Xvfb on ``job``; 0 when its status.json says ok.

    ``work`` is the temporary folder (made with ``prefix`` when None); it is removed on success unless
    ``keep``. The job gains "results" (where status.json goes), "scripts" (this folder, for the
    inner import) and "size" (the window size, also the Xvfb screen).
    ``extra_env`` entries override the environment; a None value removes the variable.
    ``link_plugin`` False: a fresh profile, without the plugin (no plugins folder, not enabled), for a script
    that installs it (scripts/replay_analyst.py).
    """
    work = Path(work) if work is not None else Path(tempfile.mkdtemp(prefix=prefix))
    plugins = work / "plugins"
    if link_plugin:
        plugins.mkdir()
        (plugins / PLUGIN).symlink_to(REPO, target_is_directory=True)
    profile = work / "profiles" / "profiles" / "default" / "QGIS"  # --profiles-path P -> P/profiles/<name>
    profile.mkdir(parents=True)
    ini = INI if link_plugin else INI.replace(f"[PythonPlugins]\n{PLUGIN}=true\n\n", "")
    (profile / "QGIS3.ini").write_text(ini + ini_extra, encoding="utf-8")
    job = {**job, "results": str(work / "results"), "scripts": str(SCRIPTS), "size": list(size)}
    runtime = work / "xdg"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)
    env.update(
        {
            env_job: json.dumps(job),
            **({"QGIS_PLUGINPATH": str(plugins)} if link_plugin else {}),
            "PYTHONPATH": sysconfig.get_paths()["purelib"],  # the venv: torch & co.
            "XDG_RUNTIME_DIR": str(runtime),
        }
    )
    for key, value in (extra_env or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cmd = [
        "xvfb-run", "-a", "-s", f"-screen 0 {size[0]}x{size[1]}x24",
        "qgis", "--nologo", "--noversioncheck", "--profiles-path", str(work / "profiles"),
        "--code", str(Path(script).resolve()),
    ]  # fmt: skip
    print("running:", " ".join(cmd), flush=True)
    log = work / "qgis.log"
    # a session of its own: on a timeout, xvfb-run, Xvfb and QGIS go together
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        stderr += f"\ntimed out after {timeout} s"
        print(f"QGIS did not finish within {timeout} s", file=sys.stderr)
    log.write_text(stdout + "\n" + stderr, encoding="utf-8")
    status = Path(job["results"]) / "status.json"
    ok = status.is_file() and json.loads(status.read_text()).get("ok")
    print(status.read_text() if status.is_file() else f"no status; QGIS output in {log}")
    if ok and not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


# ======================================================================== inner part (in QGIS)
class Shots:
    """The steps of one run in QGIS: notes in results/status.json, guarded steps, renders and grabs."""

    def __init__(self, job: dict):
        import qgis.utils

        self.job = job
        self.iface = qgis.utils.iface
        self.results = Path(job["results"])
        self.results.mkdir(parents=True, exist_ok=True)
        self.out = Path(job["out"])
        self.status = {"ok": False, "steps": []}

    def note(self, text: str) -> None:
        self.status["steps"].append(f"{time.strftime('%H:%M:%S')} {text}")
        (self.results / "status.json").write_text(json.dumps(self.status, indent=1))

    def finish(self, ok: bool = True) -> None:
        """Record the result and quit: no "save project?" dialog, no shutdown surprises under Xvfb."""
        from qgis.core import QgsProject

        self.status["ok"] = ok
        self.note("quit")
        QgsProject.instance().setDirty(False)
        os._exit(0 if ok else 1)

    def guarded(self, fn):
        """``fn`` as a timer callback: an exception is noted and ends the run as failed."""

        def run():
            try:
                fn()
            except Exception:
                self.note("error: " + traceback.format_exc())
                self.finish(False)

        return run

    def start(self, first, delay: int = 3000) -> None:
        """Note that QGIS runs the script; ``first`` (a guarded step) once QGIS has settled."""
        from qgis.PyQt.QtCore import QTimer

        self.note("QGIS started the script")
        QTimer.singleShot(delay, first)

    def settle(self, n: int = 50, refresh: bool = True) -> None:
        """Let events and the map canvas's rendering finish (``n`` rounds of 50 ms, then the render)."""
        from qgis.core import QgsApplication

        canvas = self.iface.mapCanvas()
        if refresh:
            canvas.refresh()
        for _ in range(n):
            QgsApplication.processEvents()
            time.sleep(0.05)
        canvas.waitWhileRendering()
        QgsApplication.processEvents()

    def grab(self, name: str, widget=None, settle: bool = True) -> Path:
        """Save ``widget`` (default: the main window) as out/name."""
        if settle:
            self.settle()
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not (widget or self.iface.mainWindow()).grab().save(str(path)):
            raise OSError(f"could not write {path}")
        self.note(f"saved {path}")
        return path


def prepare_window(iface, size) -> object:
    """Resize and maximise QGIS's main window, hide the Browser dock; returns the Layers dock (or None)."""
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtWidgets import QDockWidget

    window = iface.mainWindow()
    window.resize(QSize(*size))
    window.showMaximized()
    layers = None
    for dock_widget in window.findChildren(QDockWidget):
        if dock_widget.objectName() == "Browser":  # more room for the Layers panel and its legend
            dock_widget.hide()
        elif dock_widget.objectName() == "Layers":
            layers = dock_widget
    return layers


def start_plugin():
    """The plugin's instance, loaded and started through qgis.utils when QGIS has not done it."""
    import qgis.utils

    if PLUGIN not in qgis.utils.plugins:
        qgis.utils.loadPlugin(PLUGIN)
        qgis.utils.startPlugin(PLUGIN)
    return qgis.utils.plugins[PLUGIN]


def pop_task_complete(iface, everything: bool = False) -> None:
    """Remove QGIS's own "Task complete" notices (all message-bar items with ``everything``)."""
    bar = iface.messageBar()
    for item in list(bar.items()):
        if everything or "Task complete" in (item.title() or "") + (item.text() or ""):
            bar.popWidget(item)
