"""One background thread that runs calls in the order they were handed to it (map mode's output
writes: encoding the 10 m rows and GDAL's compression overlap the next tiles' forward pass).

A bounded queue keeps memory flat: :meth:`WriteBehind.submit` waits while ``depth`` calls are
pending. An exception in the thread is raised again on the caller's thread, at the next
:meth:`submit` or at :meth:`drain`; the calls after it are dropped. numpy and GDAL release the
GIL for their work, so the thread runs beside PyTorch's.
"""

from __future__ import annotations

import queue
import threading

_STOP = object()


class WriteBehind:
    """``submit(fn, *args)`` runs ``fn(*args)`` on the thread; ``drain()`` waits for all of them;
    ``stop()`` drops what is pending and ends the thread (abort)."""

    def __init__(self, depth: int = 1, name: str = "write-behind"):
        self._q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._error: BaseException | None = None
        self._dropping = False
        self.busy_seconds = 0.0  # time the thread spent in the calls
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import time

        while True:
            item = self._q.get()
            try:
                if item is _STOP:
                    return
                if self._error is None and not self._dropping:
                    t0 = time.perf_counter()
                    try:
                        item[0](*item[1])
                    except BaseException as exc:  # handed to the caller's thread
                        self._error = exc
                    self.busy_seconds += time.perf_counter() - t0
            finally:
                item = None
                self._q.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            exc, self._error = self._error, None
            self._dropping = True  # the outputs are broken: the rest is not written
            raise exc

    def submit(self, fn, *args) -> None:
        """Queue ``fn(*args)`` (waits while the queue is full); raises an earlier call's exception."""
        self._raise()
        if self._dropping:
            return
        if not self._thread.is_alive():
            raise RuntimeError("internal error: the output writer thread has ended")
        self._q.put((fn, args))

    def drain(self) -> None:
        """Wait until every queued call has run; raises the first exception of one of them."""
        if self._thread.is_alive():
            self._q.join()
        self._raise()

    def stop(self) -> None:
        """Drop the pending calls, wait for the running one, end the thread (idempotent)."""
        self._dropping = True
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join()
        self._error = None
