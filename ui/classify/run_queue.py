"""The Classify page's runs, one after the other (they would compete for the same CPU/GPU anyway).

A QObject without widgets: ``add`` queues a QgsTask and starts it when nothing else runs; the next
one starts when QGIS reports the running one completed or terminated. ``cancel_all`` stops the
running task and drops the queued ones; ``cancel_for_layers`` does so for the runs whose input layer
is being removed; ``wait`` processes events until all are done (unload, tests).
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QObject, pyqtSignal

from ...toolbelt.log import log, log_warning


class RunQueue(QObject):
    """Tasks queued in order; at most one is handed to QGIS's task manager at a time.

    Signals: ``started(task)``; ``finished(task)`` once QGIS has called the task's ``finished()``;
    ``dropped(task)`` for a queued task that never started; ``changed()`` whenever the set of
    unfinished tasks changes.
    """

    started = pyqtSignal(object)
    finished = pyqtSignal(object)
    dropped = pyqtSignal(object)
    changed = pyqtSignal()

    def __init__(self, submit: Optional[Callable] = None, parent=None):
        super().__init__(parent)
        self._submit = submit or QgsApplication.taskManager().addTask
        self.running: Optional[QgsTask] = None
        self.pending: list = []
        self._layer_of: dict = {}  # task -> id of its input layer
        self._removed: set = set()  # tasks whose input layer went away
        self.closed = False

    @property
    def tasks(self) -> list:
        """Unfinished tasks: the running one first, then the queued ones."""
        return ([self.running] if self.running is not None else []) + list(self.pending)

    def add(self, task: QgsTask, layer_id: Optional[str] = None) -> QgsTask:
        """Queue `task` (its input layer's id lets ``cancel_for_layers`` find it) and start it if idle."""
        self._layer_of[task] = layer_id
        task.taskCompleted.connect(lambda t=task: self._on_done(t))
        task.taskTerminated.connect(lambda t=task: self._on_done(t))
        self.pending.append(task)
        self.start_next()
        self.changed.emit()
        return task

    def start_next(self) -> None:
        if self.closed or self.running is not None or not self.pending:
            return
        task = self.pending.pop(0)
        self.running = task
        self.started.emit(task)
        self._submit(task)

    def input_removed(self, task: QgsTask) -> bool:
        return task in self._removed

    # ---------------------------------------------------------------- cancelling
    def cancel_all(self, why_removed: bool = False) -> None:
        """Drop the queued tasks and cancel the running one (``why_removed``: their input went away)."""
        if why_removed:
            self._removed.update(self.tasks)
        self._drop(list(self.pending))
        if self.running is not None:
            self.running.cancel()
        self.changed.emit()

    def cancel_for_layers(self, layer_ids) -> None:
        ids = set(layer_ids)
        hit = [t for t in self.tasks if self._layer_of.get(t) in ids]
        self._removed.update(hit)
        self._drop([t for t in hit if t in self.pending])
        if self.running in hit:
            self.running.cancel()
        self.changed.emit()

    def _drop(self, tasks) -> None:
        for task in tasks:
            self.pending.remove(task)
            self._forget(task)
            log(f"queued task dropped: {task.description()}")
            self.dropped.emit(task)

    # ---------------------------------------------------------------- finishing
    def _on_done(self, task: QgsTask) -> None:
        if task is self.running:
            self.running = None
        if sip.isdeleted(self):  # a task that outlived its page (it did not stop within close's timeout)
            return
        self.finished.emit(task)
        self._forget(task)
        self.start_next()
        self.changed.emit()

    def _forget(self, task) -> None:
        self._layer_of.pop(task, None)
        self._removed.discard(task)

    def wait(self, timeout: float = 30.0) -> bool:
        """Process events until no task is left; True when none is."""
        deadline = time.monotonic() + timeout
        while self.tasks and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)
        return not self.tasks

    def close(self, timeout: float = 30.0) -> None:
        """Cancel everything, wait for the running task to stop, and start nothing more."""
        running = self.running
        self.cancel_all(why_removed=True)
        self.wait(timeout)
        if self.tasks:
            log_warning(f"task {running.description()} did not stop within {timeout:.0f} s")
        self.closed = True
