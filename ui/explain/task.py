"""The Explain page's background work: one piece of model work (open a raster, load the model, a forward
pass, Grad-CAM) run by :class:`~eurosat_landcover.qgis_bridge.background.BackgroundTask`, so QGIS never
waits on it; :func:`engine_work` first makes sure the engine loads (or says why it cannot)."""

from __future__ import annotations

from typing import Callable

from ...errors import ReadableError


class EngineUnavailable(ReadableError):
    """PyTorch or the model code cannot be loaded in this QGIS."""


def engine_work(work: Callable[[], object]) -> Callable:
    """``work()`` as a background task's ``work(progress, is_cancelled)``, after loading the engine."""

    def run(progress, is_cancelled):
        try:
            from ...qgis_bridge.compat import avoid_triton_llvm_clash

            avoid_triton_llvm_clash()
            from ...models import gradcam  # noqa: F401 (the engine loads, or the error says why)
        except Exception as exc:
            import traceback

            from ...toolbelt.log import log_error

            log_error("Explain: the engine cannot be loaded:\n" + traceback.format_exc())
            raise EngineUnavailable(f"the engine cannot be loaded: {exc}") from exc
        return work()

    return run
