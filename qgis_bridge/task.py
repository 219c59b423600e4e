"""The classification as a :class:`~.background.BackgroundTask`: core.classify in QGIS's task manager.

- the engine's typed progress (core.progress.Progress) -> setProgress(0..100), kept as ``latest``
  for windows/s (tiles/s in map mode) and the time left at that pace;
- isCanceled() -> the engine's is_cancelled (the engine removes partial files when cancelled);
- BackgroundTask's outcome (result, readable error, cancel, or a traceback to the log) read as one typed
  :class:`Outcome` (succeeded, failed or cancelled), which its owner reads on the main thread
  (QgsTask.taskCompleted / taskTerminated); layers are made there, never in the worker.

No widgets: the dock's Classify page queues these tasks, and any other caller may.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from ..core.progress import Progress
from .background import BackgroundTask


class Status(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Outcome:
    """How a task ended. ``result`` only when it succeeded; ``message`` is the readable one-liner of a
    failure; ``traceback`` is set for unexpected exceptions only (it goes to the log, never a dialog)."""

    status: Status
    result: Any = None
    message: str = ""
    traceback: str = ""

    @classmethod
    def succeeded(cls, result) -> Outcome:
        return cls(Status.SUCCEEDED, result=result)

    @classmethod
    def failed(cls, message: str, trace: str = "") -> Outcome:
        return cls(Status.FAILED, message=message, traceback=trace)

    @classmethod
    def cancelled(cls, why: str = "") -> Outcome:
        return cls(Status.CANCELLED, message=why)


class EngineUnavailable(Exception):
    """The engine cannot be imported (missing torch, a broken install): unexpected, with a traceback."""


class ClassificationTask(BackgroundTask):
    """One classification of ``request``; ``outcome`` is set when the task is finished (None before)."""

    def __init__(self, request, description: str, context: Optional[dict] = None):
        super().__init__(description, None)
        self.work = self._classify
        self.request = request
        self.context = dict(context or {})  # what the owner needs when the task is done (layer name...)
        self.outcome: Optional[Outcome] = None
        self.started_at: Optional[float] = None
        self.finished_at: Optional[float] = None
        self._latest = Progress(0.0, "", "")
        self._lock = threading.Lock()
        self._rate_origin: Optional[tuple] = None

    # ---------------------------------------------------------------- worker thread
    def run(self) -> bool:
        self.started_at = time.monotonic()
        try:
            return super().run()
        finally:
            self.finished_at = time.monotonic()

    def _classify(self, progress, is_cancelled):
        try:
            from .compat import avoid_triton_llvm_clash

            avoid_triton_llvm_clash()
            from ..core.pipeline import classify
        except Exception as exc:  # missing engine, broken install
            raise EngineUnavailable(f"the classification engine cannot be loaded: {exc}") from exc
        return classify(self.request, progress, is_cancelled)

    def unexpected(self, exc: Exception) -> str:
        if isinstance(exc, EngineUnavailable):
            return str(exc)
        return f"unexpected error: {type(exc).__name__}: {exc}"

    def report(self, report: Progress) -> None:
        """The engine's report: kept as ``latest`` (windows/s from the first window on) and as the bar."""
        with self._lock:
            self._latest = report
            if report.done and self._rate_origin is None:
                self._rate_origin = (time.monotonic(), report.done)
        self.setProgress(max(0.0, min(100.0, 100.0 * report.fraction)))

    # ---------------------------------------------------------------- main thread
    @property
    def latest(self) -> Progress:
        """The engine's last progress report."""
        with self._lock:
            return self._latest

    def status_text(self) -> str:
        """ "1200/4000 windows · 85 windows/s · 33 s left" ("4/12 tiles · 2 tiles/s · ..." in map mode)."""
        from ..core.request import count_unit

        with self._lock:
            view, origin = self._latest, self._rate_origin
        parts = [view.message] if view.message else []
        now = time.monotonic()
        if self.started_at is not None and origin is not None and view.done > origin[1] and now > origin[0]:
            # the rate of the windows (tiles) run so far, and the time left from it: the time before the first
            # one (loading, optimising the model for the CPU: ~25 s on a first map run) is not the run's pace
            rate = (view.done - origin[1]) / (now - origin[0])
            parts.append(f"{rate:.0f} {count_unit(getattr(self.request, 'mode', ''))}/s")
            if view.total > view.done:
                parts.append(f"{format_seconds((view.total - view.done) / rate)} left")
        return " · ".join(parts)

    def finished(self, ok: bool) -> None:
        """QGIS calls this on the main thread; a task killed before run() ended, or one that failed while
        being cancelled, counts as cancelled."""
        if self.outcome is None:
            if ok:
                self.outcome = Outcome.succeeded(self.result)
            elif self.error is None or self.isCanceled():
                self.outcome = Outcome.cancelled()
            else:
                self.outcome = Outcome.failed(self.error, self.traceback or "")
        super().finished(ok)

    def drop(self, why: str = "") -> None:
        """Mark a task that never started (dropped from a queue) as cancelled."""
        BackgroundTask._alive.discard(self)  # it never runs, so finished() never comes
        if self.outcome is None:
            self.outcome = Outcome.cancelled(why)

    @property
    def seconds(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"
