"""QgsTask adapter: runs core.classify in QGIS's task manager so QGIS never freezes.

- progress(fraction, message) -> setProgress(0..100) plus `message`, windows/s and time left;
- isCanceled() -> the engine's is_cancelled (the engine removes partial files when cancelled);
- no exception escapes run(): it is stored (`error`, `traceback`) and reported by the owner in
  finished(), which QGIS calls on the main thread; layers are made there, never in the worker.
"""

from __future__ import annotations

import re
import threading
import time
import traceback
from typing import Callable, Optional

from qgis.core import QgsTask

_WINDOWS_RE = re.compile(r"(\d+)\s*/\s*(\d+)\s*windows")


class ClassificationTask(QgsTask):
    """One classification. `on_done(task)` is called from finished() on the main thread."""

    def __init__(self, request, description: str, on_done: Optional[Callable] = None, context: Optional[dict] = None):
        super().__init__(description, QgsTask.CanCancel)
        self.request = request
        self.on_done = on_done
        self.context = dict(context or {})  # what the owner needs in finished() (layer id, classes...)
        self.result = None
        self.error: Optional[str] = None  # readable message (ClassificationError, or a summary)
        self.traceback: Optional[str] = None  # set for unexpected exceptions only
        self.cancelled = False
        self.message = ""
        self.windows_done = 0
        self.windows_total = 0
        self.started_at: Optional[float] = None
        self.finished_at: Optional[float] = None
        self._lock = threading.Lock()
        self._rate_origin = None

    # ---------------------------------------------------------------- worker thread
    def run(self) -> bool:
        self.started_at = time.monotonic()
        try:
            from .compat import avoid_triton_llvm_clash

            avoid_triton_llvm_clash()
            from ..core.errors import ClassificationCancelled, ClassificationError
            from ..core.pipeline import classify
        except Exception as exc:  # missing engine, broken install
            self.error = f"the classification engine cannot be loaded: {exc}"
            self.traceback = traceback.format_exc()
            return False
        try:
            self.result = classify(self.request, self._progress, self.isCanceled)
            return True
        except ClassificationCancelled:
            self.cancelled = True
            return False
        except ClassificationError as exc:
            if self.isCanceled():
                self.cancelled = True
            else:
                self.error = str(exc)
            return False
        except Exception as exc:
            if self.isCanceled():
                self.cancelled = True
                return False
            self.error = f"unexpected error: {type(exc).__name__}: {exc}"
            self.traceback = traceback.format_exc()
            return False
        finally:
            self.finished_at = time.monotonic()

    def _progress(self, fraction: float, message: str) -> None:
        with self._lock:
            self.message = message or ""
            m = _WINDOWS_RE.search(self.message)
            if m:
                self.windows_done, self.windows_total = int(m.group(1)), int(m.group(2))
                if self._rate_origin is None:  # windows/s from the first report on (not model loading)
                    self._rate_origin = (time.monotonic(), self.windows_done)
        self.setProgress(max(0.0, min(100.0, 100.0 * float(fraction))))

    # ---------------------------------------------------------------- main thread
    def status_text(self) -> str:
        """ "1200/4000 windows · 85 windows/s · 33 s left"."""
        with self._lock:
            message, done, origin = self.message, self.windows_done, self._rate_origin
        parts = [message] if message else []
        if self.started_at is not None:
            now = time.monotonic()
            elapsed = now - self.started_at
            if origin is not None and done > origin[1] and now > origin[0]:
                parts.append(f"{(done - origin[1]) / (now - origin[0]):.0f} windows/s")
            fraction = self.progress() / 100.0
            if 0.03 < fraction < 1.0 and elapsed > 1.0:
                parts.append(f"{format_seconds(elapsed * (1 - fraction) / fraction)} left")
        return " · ".join(parts)

    def finished(self, ok: bool) -> None:
        if not ok and self.error is None and not self.cancelled:
            self.cancelled = self.isCanceled() or self.status() == QgsTask.Terminated
        callback, self.on_done = self.on_done, None
        if callback is not None:
            try:
                callback(self)
            except Exception:
                from ..toolbelt.log import log_error

                log_error("error while adding the results:\n" + traceback.format_exc())

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
