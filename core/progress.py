"""Typed progress from the engine to its callers (CLI bar, QgsTask, Processing feedback).

``classify(request, progress)`` calls ``progress(Progress(...))``: a fraction 0-1 for bars, the
``stage`` it is in, ``done`` / ``total`` windows while windows run (0 otherwise) and a one-line
``message`` to show as is; ``str(p)`` is that message. Callers read the fields, never parse text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

# the stages of one classification, in order (core/stages/)
PREPARE = "prepare"
LOAD_MODEL = "load_model"
FAST_PATH = "fast_path"
WINDOWS = "windows"
OVERVIEWS = "overviews"
DONE = "done"
STAGES = (PREPARE, LOAD_MODEL, FAST_PATH, WINDOWS, OVERVIEWS, DONE)

# the windows take 0.02 -> 0.95 of the bar
WINDOWS_START = 0.02
WINDOWS_SPAN = 0.93


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1 of the whole run
    stage: str  # one of STAGES
    message: str  # one readable line, e.g. "1200/4000 windows"
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
