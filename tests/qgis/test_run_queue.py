"""RunQueue alone: real QgsTasks in QGIS's task manager, one at a time, cancelled and dropped cleanly."""

from __future__ import annotations

import time

import pytest
from eurosat_landcover.ui.classify.run_queue import RunQueue
from qgis.core import QgsTask
from qgis.PyQt import sip

from .landcover_helpers import process_events_until, wait_for_tasks


class NapTask(QgsTask):
    """Sleeps `seconds` in the worker unless cancelled; records when it ran."""

    def __init__(self, name: str, seconds: float = 0.2):
        super().__init__(name, QgsTask.Flag.CanCancel)
        self.seconds = seconds
        self.began = self.ended = None
        self.was_cancelled = False

    def run(self) -> bool:
        self.began = time.monotonic()
        while time.monotonic() - self.began < self.seconds:
            if self.isCanceled():
                self.was_cancelled = True
                break
            time.sleep(0.01)
        self.ended = time.monotonic()
        return not self.was_cancelled


@pytest.fixture
def queue(qgis_app):
    q = RunQueue()
    events = {"started": [], "finished": [], "dropped": [], "changed": 0}
    q.started.connect(events["started"].append)
    q.finished.connect(events["finished"].append)
    q.dropped.connect(events["dropped"].append)
    q.changed.connect(lambda: events.__setitem__("changed", events["changed"] + 1))
    q.events = events
    yield q
    q.close(10)


def test_runs_one_after_the_other(queue):
    first, second = queue.add(NapTask("first"), "a"), queue.add(NapTask("second"), "a")
    assert queue.running is first and queue.pending == [second] and queue.tasks == [first, second]
    assert queue.wait(20)
    assert queue.events["started"] == [first, second] == queue.events["finished"]
    assert second.began >= first.ended  # never side by side
    assert queue.running is None and queue.events["changed"] >= 4


def test_cancel_all_stops_the_running_task_and_drops_the_queued_ones(queue):
    running, queued = queue.add(NapTask("long", 30), "a"), queue.add(NapTask("queued"), "a")
    assert process_events_until(lambda: running.began is not None, 10)
    queue.cancel_all()
    assert queue.pending == [] and queue.events["dropped"] == [queued]
    assert queue.wait(10)
    assert running.was_cancelled and queued.began is None
    assert queue.events["finished"] == [running]
    assert not queue.input_removed(running)


def test_cancel_for_removed_layers_only(queue):
    removed_seen = {}
    queue.finished.connect(lambda t: removed_seen.__setitem__(t.description(), queue.input_removed(t)))
    on_a, on_b, queued_a = (
        queue.add(NapTask("on a", 30), "a"),
        queue.add(NapTask("on b"), "b"),
        queue.add(NapTask("queued on a"), "a"),
    )
    assert process_events_until(lambda: on_a.began is not None, 10)
    queue.cancel_for_layers(["a"])
    assert queue.events["dropped"] == [queued_a] and queue.pending == [on_b]
    assert queue.wait(20)
    assert on_a.was_cancelled and not on_b.was_cancelled and on_b.ended is not None
    assert removed_seen == {"on a": True, "on b": False}


def test_close_waits_and_starts_nothing_more(queue):
    running = queue.add(NapTask("long", 30), "a")
    assert process_events_until(lambda: running.began is not None, 10)
    queue.close(10)
    assert running.was_cancelled and not queue.tasks and queue.closed
    late = queue.add(NapTask("late"), "a")
    assert queue.running is None and queue.pending == [late]  # kept, never handed to QGIS
    queue.pending.clear()


def test_a_task_that_outlives_its_queue_is_harmless(qgis_app):
    """A task still running when its page (and queue) is deleted ends without touching the queue."""
    q = RunQueue()
    task = q.add(NapTask("outlives", 0.3), "a")
    sip.delete(q)
    assert process_events_until(lambda: task.ended is not None, 10)
    wait_for_tasks(10)  # taskCompleted reaches a deleted queue: no exception (it would abort the process)
