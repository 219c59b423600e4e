"""ClassificationTask is a BackgroundTask: its Outcome reads the same three ways (succeeded, a readable
failure, an unexpected one with its traceback in the log) and the engine's typed progress moves its bar."""

from __future__ import annotations

from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.progress import WINDOWS, Progress
from eurosat_landcover.qgis_bridge.background import BackgroundTask
from eurosat_landcover.qgis_bridge.task import ClassificationTask, Status
from qgis.core import QgsApplication

from .landcover_helpers import process_events_until, wait_for_tasks


def _run(monkeypatch, classify):
    from eurosat_landcover.core import pipeline

    monkeypatch.setattr(pipeline, "classify", classify)
    task = ClassificationTask("the request", "EuroSAT test classification", {"layer_name": "x"})
    assert isinstance(task, BackgroundTask)
    QgsApplication.taskManager().addTask(task)
    wait_for_tasks(60)
    process_events_until(lambda: task.outcome is not None, 10)
    return task


def test_success_and_the_engine_s_progress(monkeypatch, logged):
    def classify(request, progress, is_cancelled):
        progress(Progress.windows(3, 4))
        return {"request": request}

    task = _run(monkeypatch, classify)
    assert task.outcome.status is Status.SUCCEEDED and task.outcome.result == {"request": "the request"}
    assert task.latest.stage == WINDOWS and (task.latest.done, task.latest.total) == (3, 4)
    assert task.seconds > 0 and not any("Traceback" in m for m in logged)


def test_a_readable_failure_is_its_line(monkeypatch, logged):
    def classify(request, progress, is_cancelled):
        raise ClassificationError("the raster has no CRS: assign one in Layer Properties")

    task = _run(monkeypatch, classify)
    assert task.outcome.status is Status.FAILED and task.outcome.traceback == ""
    assert task.outcome.message == "the raster has no CRS: assign one in Layer Properties"
    assert not any("Traceback" in m for m in logged)


def test_an_unexpected_failure_keeps_its_traceback_for_the_log(monkeypatch, logged):
    def classify(request, progress, is_cancelled):
        raise KeyError("windows")

    task = _run(monkeypatch, classify)
    assert task.outcome.status is Status.FAILED and task.outcome.message == "unexpected error: KeyError: 'windows'"
    assert "Traceback" in task.outcome.traceback and "KeyError" in task.outcome.traceback
    assert any("Traceback" in m and "EuroSAT test classification" in m for m in logged)


def test_the_running_status_counts_what_the_mode_runs():
    """While a map-mode run goes, the dock's status said "4/12 tiles · 2 windows/s": a map run has tiles."""
    import time

    from eurosat_landcover.core.request import ClassificationRequest

    for mode, unit in (("map", "tiles"), ("windows", "windows")):
        task = ClassificationTask(ClassificationRequest("in.tif", "out", mode=mode), "EuroSAT test classification")
        task.started_at = time.monotonic() - 2.0
        task.report(Progress(0.3, WINDOWS, f"4/12 {unit}", 4, 12))
        time.sleep(0.05)
        task.report(Progress(0.6, WINDOWS, f"8/12 {unit}", 8, 12))
        parts = task.status_text().split(" · ")
        assert parts[0] == f"8/12 {unit}" and parts[1].endswith(f" {unit}/s"), parts


def test_the_time_left_follows_the_pace_of_the_windows_not_the_preparation():
    """30 s of preparing (a first map run traces the model for the CPU), then 4 of 12 tiles a second: the dock
    said "17 s left" at 8 of 12 (the whole elapsed time over the fraction done), the pace gives about 1 s."""
    import time

    from eurosat_landcover.core.request import ClassificationRequest

    task = ClassificationTask(ClassificationRequest("in.tif", "out", mode="map"), "EuroSAT test classification")
    task.started_at = time.monotonic() - 30.0
    task.report(Progress(0.33, WINDOWS, "4/12 tiles", 4, 12))
    time.sleep(0.2)
    task.report(Progress(0.64, WINDOWS, "8/12 tiles", 8, 12))
    parts = task.status_text().split(" · ")
    assert parts[-1] in ("0 s left", "1 s left"), parts
