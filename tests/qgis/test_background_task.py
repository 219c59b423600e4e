"""BackgroundTask, the one background task of the pages: a result, a readable error, a cancel and an
unexpected error, each run in QGIS's real task manager."""

import threading

from eurosat_landcover.core.errors import ClassificationCancelled
from eurosat_landcover.core.progress import Progress
from eurosat_landcover.errors import ReadableError
from eurosat_landcover.qgis_bridge.background import BackgroundTask
from qgis.core import QgsApplication

from .landcover_helpers import plugin_log, process_events_until, wait_for_tasks


def run(work):
    """Run ``work`` in a BackgroundTask; returns (the task seen by on_done, the progress lines, the log)."""
    done, lines = [], []
    with plugin_log() as logged:
        task = BackgroundTask("EuroSAT test task", work, done.append)
        task.message_changed.connect(lines.append)
        QgsApplication.taskManager().addTask(task)
        wait_for_tasks(60)
        process_events_until(lambda: bool(done), 10)
    assert done == [task], "on_done is called once, with the task"
    return task, lines, logged


def test_the_result_and_progress_reach_the_main_thread():
    def work(progress, is_cancelled):
        progress(Progress(0.5, "test", "half way"))
        return {"answer": 42}

    task, lines, logged = run(work)
    assert task.result == {"answer": 42}
    assert task.error is None and not task.cancelled and task.traceback is None
    assert task.message == "half way" and lines == ["half way"]
    assert not any("Traceback" in m for m in logged)


def test_a_readable_error_is_its_one_line_and_nothing_is_logged():
    def work(progress, is_cancelled):
        raise ReadableError("the raster has no CRS: assign one in Layer Properties")

    task, _, logged = run(work)
    assert task.error == "the raster has no CRS: assign one in Layer Properties"
    assert task.result is None and not task.cancelled and task.traceback is None
    assert not any("Traceback" in m for m in logged)


def test_cancel_stops_the_work_and_reads_as_cancelled():
    started = threading.Event()
    seen = []

    def work(progress, is_cancelled):
        started.set()
        while not is_cancelled():
            threading.Event().wait(0.01)
        seen.append("stopped")
        raise ClassificationCancelled("cancelled by the user")

    done = []
    task = BackgroundTask("EuroSAT cancel test", work, done.append)
    QgsApplication.taskManager().addTask(task)
    assert started.wait(30)
    task.cancel()
    wait_for_tasks(60)
    process_events_until(lambda: bool(done), 10)
    assert done == [task] and seen == ["stopped"]
    assert task.cancelled and task.error == BackgroundTask.CANCELLED and task.result is None


def test_an_unexpected_error_is_one_line_for_the_user_and_its_traceback_goes_to_the_log():
    def work(progress, is_cancelled):
        return {}["missing key"]

    task, _, logged = run(work)
    assert task.error.startswith("KeyError: 'missing key'") and "\n" not in task.error
    assert not task.cancelled
    tracebacks = [m for m in logged if "Traceback" in m]
    assert len(tracebacks) == 1 and "EuroSAT test task" in tracebacks[0] and "KeyError" in tracebacks[0]


def test_an_error_in_on_done_is_logged_not_raised():
    def broken(task):
        raise RuntimeError("the page is gone")

    with plugin_log() as logged:
        task = BackgroundTask("EuroSAT done test", lambda p, c: 1, broken)  # held, as the pages hold theirs
        QgsApplication.taskManager().addTask(task)
        wait_for_tasks(60)
        process_events_until(lambda: any("the page is gone" in m for m in logged), 10)
    assert any("the page is gone" in m for m in logged)


def test_on_done_runs_when_the_owner_dropped_its_reference_mid_run():
    """The Correct page drops its task when editing stops; the task must still finish (its on_done rolls the
    change back): the garbage collector once took the Python side and on_done never ran."""
    import gc

    started, go, done = threading.Event(), threading.Event(), []

    def work(progress, is_cancelled):
        started.set()
        assert go.wait(30)
        return 7

    task = BackgroundTask("EuroSAT dropped task", work, lambda t: done.append(t.result))
    QgsApplication.taskManager().addTask(task)
    del task
    assert started.wait(30)
    gc.collect()
    go.set()
    wait_for_tasks(60)
    process_events_until(lambda: bool(done), 10)
    assert done == [7]
