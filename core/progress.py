"""The one progress type of the package: every long job reports ``progress(Progress(...))``.

``classify(request, progress)``, ``export_run(..., progress)``, the edit session's changes and rebuilds,
fine-tuning and the accuracy design all call ``progress(Progress(...))``: a ``fraction`` 0-1 of the whole
job for bars, the ``stage`` it is in (the classification's :data:`STAGES`, or the job's own name:
:data:`EXPORT`, :data:`EDITS`, :data:`FINETUNE`, :data:`ACCURACY`), ``done`` / ``total`` windows while a
classification's windows run (0 otherwise) and a one-line ``message`` to show as is (may be empty);
``str(p)`` is that message. Callers read the fields, never parse text. The consumers: the CLI's
``ProgressBar``, ``qgis_bridge.background.BackgroundTask.progress``, the Processing feedback.
:func:`scaled` maps a sub-job onto a slice of its caller's bar.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

# the stages of one classification, in order (core/stages/)
PREPARE = "prepare"
LOAD_MODEL = "load_model"
FAST_PATH = "fast_path"
WINDOWS = "windows"
OVERVIEWS = "overviews"
DONE = "done"
STAGES = (PREPARE, LOAD_MODEL, FAST_PATH, WINDOWS, OVERVIEWS, DONE)

# the stage of the other jobs (one stage each)
EXPORT = "export"
EDITS = "edits"
FINETUNE = "finetune"
ACCURACY = "accuracy"

# the windows take 0.02 -> 0.95 of the bar
WINDOWS_START = 0.02
WINDOWS_SPAN = 0.93


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1 of the whole job
    stage: str  # one of STAGES, or the job's stage (EXPORT, EDITS, FINETUNE, ACCURACY)
    message: str = ""  # one readable line, e.g. "1200/4000 windows" ("" when there is nothing to say)
    done: int = 0  # windows done (classified or skipped as nodata), during the "windows" stage
    total: int = 0  # windows in the run, from the "windows" stage on

    def __str__(self) -> str:
        return self.message

    @classmethod
    def windows(cls, done: int, total: int) -> Progress:
        """The report while windows run: the fraction follows the windows done."""
        fraction = WINDOWS_START + WINDOWS_SPAN * done / max(1, total)
        return cls(fraction, WINDOWS, f"{done}/{total} windows", done, total)


ProgressFn = Callable[[Progress], None]


def ignore(progress: Progress) -> None:
    """The callback used when the caller gives none."""


def as_callback(fn: Optional[ProgressFn]) -> ProgressFn:
    """``fn``, or :func:`ignore` when the caller gives none."""
    return ignore if fn is None else fn


def scaled(fn: Optional[ProgressFn], lo: float, hi: float) -> ProgressFn:
    """``fn`` seen by a sub-job that fills ``lo``..``hi`` of the caller's bar (its own 0..1 mapped there)."""
    if fn is None:
        return ignore

    def report(p: Progress) -> None:
        fn(replace(p, fraction=lo + (hi - lo) * min(1.0, max(0.0, float(p.fraction)))))

    return report
