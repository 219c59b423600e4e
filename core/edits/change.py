"""The cells of a change of the corrected raster (Part, Action) and its staging (Change): plan, stage, roll back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..progress import EDITS, Progress, ProgressFn, as_callback, scaled
from .errors import EditError
from .model import Window
from .raster import read_window, set_revision, write_window

DIRTY = -1  # the raster's EDIT_LOG_REVISION while a change is written into it: no log has this revision
CANCELLED = "cancelled: nothing was changed"


@dataclass
class Part:
    """The changed cells of one strip: flat indices in ``window``, values before and after."""

    window: Window
    index: np.ndarray
    old: np.ndarray
    new: np.ndarray


@dataclass
class Action:
    """One undoable step: which log rows it touched and the cells it changed, strip by strip."""

    kind: str  # "add" | "revert"
    edits: list
    parts: list
    reviews: list = field(default_factory=list)  # review rows an undo took away (a redo puts them back)

    @property
    def cells(self) -> int:
        return sum(p.index.size for p in self.parts)

    @property
    def nbytes(self) -> int:
        return sum(p.index.nbytes + p.old.nbytes + p.new.nbytes for p in self.parts)


def strips(window: Window, max_cells: int = 1 << 22) -> list:
    """The window cut into strips of whole rows of at most ``max_cells`` cells (bounded memory)."""
    rows = max(1, max_cells // max(1, window.width))
    return [
        Window(window.xoff, y, window.width, min(rows, window.yoff + window.height - y))
        for y in range(window.yoff, window.yoff + window.height, rows)
    ]


def _never() -> bool:
    return False


@dataclass(eq=False)
class Change:
    """One planned change of the log and the corrected raster: an edit added, edits reverted, an undo, a redo.

    :meth:`stage` computes its cells and writes them into the raster; it reads and writes only raster
    files (no log, no session), so it may run in a worker thread. :meth:`EditSession.commit` then writes
    the log and the raster's revision on the session's thread; :meth:`EditSession.discard` takes it back.
    """

    kind: str  # "add" | "revert" | "undo" | "redo"
    action: Action
    window: Window  # the cells it may change
    path: Path  # the corrected raster
    revision: int  # the log's (= the raster's) revision before the change
    which: str = "new"  # the values it writes: "new" (add, revert, redo) or "old" (undo)
    compute: Optional[Callable] = None  # (progress, is_cancelled) -> parts; None: the action has its parts
    written: int = 0  # parts written into the raster so far
    dirty: bool = False  # the raster's revision is DIRTY
    staged: bool = False  # all its cells are in the raster; the log does not show it yet

    @property
    def window_cells(self) -> int:
        return self.window.width * self.window.height

    def stage(self, progress: Optional[ProgressFn] = None, is_cancelled=None) -> None:
        """Compute the changed cells (when needed), then write them; a cancel or error writes the old ones back.

        ``progress(Progress)`` (stage "edits") after every strip; ``is_cancelled()`` is asked before every strip, and a
        cancel raises EditError (CANCELLED) with the raster as it was.
        """
        progress, is_cancelled = as_callback(progress), is_cancelled or _never
        share = 0.5 if self.compute is not None else 0.0
        try:
            if self.compute is not None:
                self.action.parts = self.compute(scaled(progress, 0.0, share), is_cancelled)
                if self.kind == "add" and not self.action.parts:
                    raise EditError("the edit changes no cell (same class already, or nodata): nothing was changed")
            parts = self.action.parts
            if parts:
                set_revision(self.path, DIRTY)
                self.dirty = True
            for i, part in enumerate(parts):
                if is_cancelled():
                    raise EditError(CANCELLED)
                _write_part(self.path, part, getattr(part, self.which))
                self.written = i + 1
                progress(Progress(share + (1.0 - share) * (i + 1) / len(parts), EDITS))
        except BaseException:
            self.rollback()
            raise
        self.staged = True

    def rollback(self) -> None:
        """Write back the cells written so far and the raster's revision: nothing of the change stays."""
        back = "old" if self.which == "new" else "new"
        for part in reversed(self.action.parts[: self.written]):
            _write_part(self.path, part, getattr(part, back))
            self.written -= 1
        if self.dirty:
            set_revision(self.path, self.revision)
            self.dirty = False
        self.staged = False


def _write_part(path: Path, part: Part, values: np.ndarray) -> None:
    block = read_window(path, part.window)
    flat = block.ravel()
    flat[part.index] = values
    write_window(path, part.window, flat.reshape(block.shape), DIRTY)


def _extent(parts: list) -> Window:
    window = Window(0, 0, 0, 0)
    for part in parts:
        window = part.window if window.width == 0 else window.union(part.window)
    return window


def _index(flat: np.ndarray) -> np.ndarray:
    """Flat cell indices of a window, in 4 bytes each when they fit (undo memory)."""
    return flat.astype(np.int32) if flat.size == 0 or flat[-1] < 2**31 else flat.astype(np.int64)
