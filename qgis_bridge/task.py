"""QgsTask adapter: runs core.classify in QGIS's task manager so QGIS never freezes.

- the engine's typed progress (core.progress.Progress) -> setProgress(0..100), kept as ``latest``
  for windows/s and time left;
- isCanceled() -> the engine's is_cancelled (the engine removes partial files when cancelled);
- no exception escapes run(): the task ends with one typed :class:`Outcome` (succeeded, failed or
  cancelled), which its owner reads on the main thread (QgsTask.taskCompleted / taskTerminated);
  layers are made there, never in the worker.

No widgets: the dock's Classify page queues these tasks, and any other caller may.
"""

from __future__ import annotations

import enum
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Optional

from qgis.core import QgsTask

from ..core.progress import Progress


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


class ClassificationTask(QgsTask):
    """One classification of ``request``; ``outcome`` is set when run() ends (None before)."""

    def __init__(self, request, description: str, context: Optional[dict] = None):
        super().__init__(description, QgsTask.Flag.CanCancel)
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
            self.outcome = self._classify()
        finally:
            self.finished_at = time.monotonic()
        return self.outcome.status is Status.SUCCEEDED

    def _classify(self) -> Outcome:
        try:
            from .compat import avoid_triton_llvm_clash

            avoid_triton_llvm_clash()
            from ..core.errors import ClassificationCancelled, ClassificationError
            from ..core.pipeline import classify
        except Exception as exc:  # missing engine, broken install
            return Outcome.failed(f"the classification engine cannot be loaded: {exc}", traceback.format_exc())
        try:
            return Outcome.succeeded(classify(self.request, self._on_progress, self.isCanceled))
        except ClassificationCancelled:
            return Outcome.cancelled()
        except ClassificationError as exc:
            return Outcome.cancelled() if self.isCanceled() else Outcome.failed(str(exc))
        except Exception as exc:
            if self.isCanceled():
                return Outcome.cancelled()
            return Outcome.failed(f"unexpected error: {type(exc).__name__}: {exc}", traceback.format_exc())

    def _on_progress(self, report: Progress) -> None:
        with self._lock:
            self._latest = report
            if report.done and self._rate_origin is None:  # windows/s from the first window on
                self._rate_origin = (time.monotonic(), report.done)
        self.setProgress(max(0.0, min(100.0, 100.0 * report.fraction)))

    # ---------------------------------------------------------------- main thread
    @property
    def latest(self) -> Progress:
        """The engine's last progress report."""
        with self._lock:
            return self._latest

    def status_text(self) -> str:
        """ "1200/4000 windows · 85 windows/s · 33 s left"."""
        with self._lock:
            view, origin = self._latest, self._rate_origin
        parts = [view.message] if view.message else []
        if self.started_at is not None:
            now = time.monotonic()
            elapsed = now - self.started_at
            if origin is not None and view.done > origin[1] and now > origin[0]:
                parts.append(f"{(view.done - origin[1]) / (now - origin[0]):.0f} windows/s")
            fraction = self.progress() / 100.0
            if 0.03 < fraction < 1.0 and elapsed > 1.0:
                parts.append(f"{format_seconds(elapsed * (1 - fraction) / fraction)} left")
        return " · ".join(parts)

    def finished(self, ok: bool) -> None:
        """QGIS calls this on the main thread; a task killed before run() ended counts as cancelled."""
        if self.outcome is None:
            self.outcome = Outcome.cancelled()

    def drop(self, why: str = "") -> None:
        """Mark a task that never started (dropped from a queue) as cancelled."""
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
