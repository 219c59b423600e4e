"""'Improve the model' runs on BackgroundTask: a refusal of fine-tuning is its one sentence, a bug is one line
with its traceback in the log, a cancel writes nothing. The section is given a stand-in page (run files and
a session) and fine-tuning is replaced, so each outcome is quick and certain; tests/qgis/test_improve.py
runs the real fine-tuning."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from eurosat_landcover.core.errors import ClassificationCancelled, ClassificationError
from qgis.core import Qgis

from .landcover_helpers import plugin_log, process_events_until, wait_for_tasks

REPO = Path(__file__).resolve().parents[2]
MOSAIC = REPO / "sample_data" / "eurosat_mosaic_rgb.tif"


@pytest.fixture
def section(tmp_path, monkeypatch, qgis_new_project):
    from eurosat_landcover.ui.correct import improve_section

    summary = tmp_path / "run_summary.json"
    summary.write_text(json.dumps({"input": {"path": str(MOSAIC)}, "model": {}}), encoding="utf-8")
    files = SimpleNamespace(summary=summary, folder=tmp_path, prefix="run", log=tmp_path / "run_edits.gpkg")
    replay = tmp_path / "EuroSAT_RGB.zip"  # only checked to exist: fine-tuning is replaced below
    replay.write_bytes(b"")
    settings = SimpleNamespace(replay_data=str(replay), save=lambda: None)
    page = SimpleNamespace(files=files, session=object(), pushed=[], settings=settings)
    page.push = lambda text, level=Qgis.MessageLevel.Info: page.pushed.append((text, level))
    monkeypatch.setattr(improve_section.ImproveSection, "_labels", staticmethod(lambda *a: "points"))
    s = improve_section.ImproveSection(page)
    with plugin_log() as s.logged:
        yield s
    s.shutdown()
    wait_for_tasks(30)


def _finetune(monkeypatch, fake):
    from eurosat_landcover.core.finetune import run as run_mod

    monkeypatch.setattr(run_mod, "finetune_from_labels", fake)


def _improve(section):
    task = section.improve()
    assert task is not None and section.task is task and not section.start.isEnabled()
    wait_for_tasks(60)
    process_events_until(lambda: section.task is None, 10)
    assert section.task is None and section.start.isEnabled() and not section.cancel.isEnabled()
    return section.page.pushed[-1]


def test_a_refusal_is_its_sentence(section, monkeypatch):
    def refuse(*a, **k):
        raise ClassificationError("too few corrections: correct or accept at least 8 places")

    _finetune(monkeypatch, refuse)
    text, level = _improve(section)
    assert text == "Too few corrections: correct or accept at least 8 places." and level == Qgis.MessageLevel.Warning
    assert section.status.text() == text and not any("Traceback" in m for m in section.logged)


def test_a_bug_is_one_line_and_its_traceback_is_logged(section, monkeypatch):
    def broken(*a, **k):
        raise KeyError("holdout")

    _finetune(monkeypatch, broken)
    text, level = _improve(section)
    assert text.startswith("Improving the model failed: KeyError: 'holdout'") and "log panel" in text
    assert level == Qgis.MessageLevel.Warning and "\n" not in text
    tracebacks = [m for m in section.logged if "Traceback" in m]
    assert len(tracebacks) == 1 and "KeyError" in tracebacks[0] and "improving the model" in tracebacks[0]


def test_cancel_reads_as_cancelled(section, monkeypatch):
    started = threading.Event()
    seen = {}

    def slow(*a, progress=None, is_cancelled=None, **k):
        from eurosat_landcover.core.progress import FINETUNE, Progress

        progress(Progress(0.2, FINETUNE, "fine-tuning"))
        started.set()
        while not is_cancelled():
            threading.Event().wait(0.01)
        seen["stopped"] = True
        raise ClassificationCancelled("fine-tuning cancelled")

    _finetune(monkeypatch, slow)
    task = section.improve()
    assert started.wait(30)
    section.cancel.click()
    wait_for_tasks(60)
    process_events_until(lambda: section.task is None, 10)
    assert seen == {"stopped": True} and task.cancelled
    assert section.page.pushed[-1] == (
        "Improving the model was cancelled; nothing was written.",
        Qgis.MessageLevel.Info,
    )


def test_the_images_windows_are_read_in_the_task_not_on_qgis_main_thread(section, monkeypatch):
    """Reading the windows (the labels' and up to 2,000 of the image's grid) took 25 s on a Sentinel-2-sized JPEG
    2000 tile: done on the main thread it froze QGIS. The page reads only the edit log; the task reads the image."""
    import numpy as np
    from eurosat_landcover.core.finetune import run as run_mod
    from eurosat_landcover.core.finetune.labels import LabelledPoints
    from eurosat_landcover.ui.correct import improve_section

    points = LabelledPoints(np.array([[0.0, 0.0]]), np.array([1]), "", "edit log", "run_edits.gpkg")
    monkeypatch.setattr(improve_section.ImproveSection, "_labels", staticmethod(lambda *a: points))
    seen = {}

    def read(image, pts, *a, **k):
        seen.update(thread=threading.current_thread(), points=pts, image=image)
        raise ClassificationError("stop after the read")

    monkeypatch.setattr(run_mod, "examples_at", read)  # the real finetune_from_labels runs up to its read
    text, _level = _improve(section)
    assert seen["thread"] is not threading.main_thread() and seen["points"] is points
    assert Path(seen["image"]) == MOSAIC and text == "Stop after the read."
