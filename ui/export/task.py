"""The export's background part: ``core.export.export_run`` in a QgsTask with progress and cancel.

Errors are stored and reported by the owner's callback from ``finished()`` on the main thread.
"""

from __future__ import annotations

import traceback

from qgis.core import QgsTask


class ExportTask(QgsTask):
    def __init__(self, run, outdir, options, on_done):
        super().__init__(f"Export {run.name}", QgsTask.Flag.CanCancel)
        self.run_info = run
        self.outdir = outdir
        self.options = options
        self.on_done = on_done
        self.result = None
        self.error = None
        self.cancelled = False
        self.traceback = None
        self.message = ""

    def _progress(self, fraction, message):
        self.message = message
        self.setProgress(100.0 * fraction)

    def run(self) -> bool:  # worker thread
        from ...core.export import ExportCancelled, ExportError, export_run

        try:
            self.result = export_run(
                self.run_info.classes_path,
                self.outdir,
                self.options,
                self._progress,
                self.isCanceled,
                run=self.run_info,
            )
            return True
        except ExportCancelled:
            self.cancelled = True
        except ExportError as exc:
            self.error = str(exc)
        except Exception as exc:  # unexpected: one line for the user, the traceback for the log
            self.error = f"{type(exc).__name__}: {exc}"
            self.traceback = traceback.format_exc()
        return False

    def finished(self, ok: bool) -> None:  # main thread
        if not ok and not self.error:
            self.cancelled = True
        self.on_done(self)
