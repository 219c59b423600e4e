"""The export's background part: ``core.export.export_run`` as the work of a
:class:`~eurosat_landcover.qgis_bridge.background.BackgroundTask` (progress, cancel, one readable error)."""

from __future__ import annotations

from typing import Callable


def export_work(run, outdir, options) -> Callable:
    """``work(progress, is_cancelled)`` exporting ``run`` (a RunInfo) into ``outdir`` with ``options``."""

    def work(progress, is_cancelled):
        from ...core.export import export_run

        return export_run(run.classes_path, outdir, options, progress, is_cancelled, run=run)

    return work
