"""One piece of model work (open a raster, load the model, a forward pass, Grad-CAM) in QGIS's task
manager, so QGIS never waits on it. ``on_done(task)`` runs in finished(), on the main thread."""

from __future__ import annotations

import traceback
from typing import Callable, Optional

from qgis.core import QgsTask

from ...errors import ReadableError


class ExplainTask(QgsTask):
    def __init__(self, description: str, work: Callable[[], object], on_done: Optional[Callable] = None):
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.work = work
        self.on_done = on_done
        self.result = None
        self.error: Optional[str] = None  # one readable line
        self.traceback: Optional[str] = None  # unexpected errors only

    def run(self) -> bool:
        try:
            from ...qgis_bridge.compat import avoid_triton_llvm_clash

            avoid_triton_llvm_clash()
            from ...models import gradcam  # noqa: F401 (the engine loads, or the error says why)
        except Exception as exc:
            self.error = f"the engine cannot be loaded: {exc}"
            self.traceback = traceback.format_exc()
            return False
        try:
            self.result = self.work()
            return True
        except ReadableError as exc:
            self.error = str(exc)
        except Exception as exc:
            self.error = f"unexpected error: {type(exc).__name__}: {exc} (details in the log panel)"
            self.traceback = traceback.format_exc()
        return False

    def finished(self, ok: bool) -> None:
        callback, self.on_done = self.on_done, None
        if callback is not None:
            try:
                callback(self)
            except Exception:
                from ...toolbelt.log import log_error

                log_error("Explain: error while showing the result:\n" + traceback.format_exc())
