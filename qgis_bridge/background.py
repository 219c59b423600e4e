"""The one background task of the plugin: :class:`BackgroundTask` runs a plain function in QGIS's task manager.

Every page runs its long work through it, so QGIS never waits and every outcome reads the same way:

- ``work(progress, is_cancelled) -> result``: ``progress`` is the package's one progress callback,
  ``progress(Progress(fraction, stage, message))`` (core/progress.py: a fraction in 0..1 and an optional line
  of text), so the engine, the exports, the edit session and fine-tuning report to it directly;
  ``is_cancelled()`` turns True when the user cancels;
- afterwards, on the main thread, ``on_done(task)`` reads exactly one of: ``task.result``; ``task.error``, one
  line for the user (the message of a :class:`~eurosat_landcover.errors.ReadableError`, or the type and message
  of an unexpected exception, whose traceback goes to the plugin's log tab only, never to a dialog);
  ``task.cancelled`` (then ``task.error`` is ``"cancelled"``).
"""

from __future__ import annotations

import traceback as traceback_module
from typing import Callable, ClassVar, Optional

from qgis.core import QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from ..core.errors import ClassificationCancelled
from ..core.progress import Progress
from ..errors import ReadableError
from ..toolbelt.log import log_error


class BackgroundTask(QgsTask):
    """``work(progress, is_cancelled)`` in a worker thread; ``on_done(task)`` on the main thread at the end.

    Args:
        description: the task manager's text ("EuroSAT export: ...").
        work: the function to run; it must not touch widgets or layers (worker thread).
        on_done: called once when the task ends, whatever the outcome; an exception it raises is logged.

    Attributes read in ``on_done``: ``result`` (what ``work`` returned), ``error`` (one line or None),
    ``cancelled``, ``traceback`` (unexpected errors only, already in the log), ``message`` (the last
    progress line). ``message_changed(str)`` carries each progress line to the main thread. ``work``'s
    ``progress`` is :meth:`report`; ``progress()`` stays QgsTask's own (the bar, 0..100).
    """

    message_changed = pyqtSignal(str)
    CANCELLED = "cancelled"  # ``error`` of a cancelled task
    _alive: ClassVar[set] = set()  # every task until finished() ran: an owner may drop its reference mid-run (the
    # Correct page does when editing stops) and the garbage collector must not take the Python side of a
    # task QGIS still runs (finished() and on_done would silently never run)

    def __init__(self, description: str, work: Callable, on_done: Optional[Callable] = None):
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.work = work
        self.on_done = on_done
        self.result = None
        self.error: Optional[str] = None
        self.cancelled = False
        self.traceback: Optional[str] = None
        self.message = ""
        BackgroundTask._alive.add(self)

    def report(self, report: Progress) -> None:
        """``work``'s ``progress`` callback (worker thread): the bar follows ``report.fraction``; a non-empty
        ``report.message`` becomes ``message`` and is sent with ``message_changed``."""
        if report.message:
            self.message = report.message
            self.message_changed.emit(report.message)
        self.setProgress(100.0 * max(0.0, min(1.0, float(report.fraction))))

    def readable(self, exc: ReadableError) -> str:
        """The line shown for a readable error (subclasses may keep more of it)."""
        return str(exc)

    def unexpected(self, exc: Exception) -> str:
        """The one line shown for an unexpected error (its traceback goes to the log)."""
        return f"{type(exc).__name__}: {exc} (details in the log panel)"

    def run(self) -> bool:  # worker thread
        try:
            self.result = self.work(self.report, self.isCanceled)
            return not self.isCanceled()
        except ClassificationCancelled:
            pass
        except ReadableError as exc:
            if not self.isCanceled():
                self.error = self.readable(exc)
        except Exception as exc:  # unexpected: one line for the user, the traceback for the log
            self.error = self.unexpected(exc)
            self.traceback = traceback_module.format_exc()
        return False

    def finished(self, ok: bool) -> None:  # main thread
        BackgroundTask._alive.discard(self)
        if self.traceback:
            log_error(f"{self.description()}:\n{self.traceback}")
        if not ok and self.error is None:
            self.cancelled, self.error = True, self.CANCELLED
        callback, self.on_done = self.on_done, None
        if callback is not None:
            try:
                callback(self)
            except Exception:  # a broken callback must not reach QGIS's task manager
                log_error(f"{self.description()}: error while showing the result:\n{traceback_module.format_exc()}")
