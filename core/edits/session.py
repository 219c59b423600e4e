"""An editing session on one run: apply edits, undo/redo, revert, rebuild, check consistency on open.

Every change (apply, revert, undo, redo) is a :class:`Change` in three steps, in this order (so a
crash or kill leaves something :meth:`EditSession.open` can repair):
1. plan (:meth:`EditSession.plan_apply`, ...): checks, reads the log; the session refuses other changes;
2. stage (:meth:`Change.stage`): the changed cells are computed, then written into the corrected
   raster in place, its ``EDIT_LOG_REVISION`` set to ``DIRTY`` first (no log has that revision); it
   touches no log and no session state, so it may run in a worker thread, with progress and cancel;
   a cancel or an error puts the written cells and the revision back;
3. commit (:meth:`EditSession.commit`): the log changes in one SQLite transaction that also raises its
   revision, then the raster's revision is set to it. A log that cannot be written puts the cells back.
On open, a corrected raster whose revision differs from the log's (or that is missing or
unreadable) is rebuilt from the model output + the log, under a temporary name, then renamed.
:meth:`EditSession.complete` runs steps 2 and 3 at once; the page runs step 2 in a QgsTask for big ones.

Undo and redo keep only the changed cells of each action (flat indices in its window, old and
new values), so memory follows what was edited, not the raster's size; they are unbounded while
the session lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .. import writers
from ..progress import EDITS, Progress, ProgressFn
from ..run_names import RunFiles, run_files
from .change import CANCELLED, Action, Change, Part, _extent, _index, strips
from .editable import _check_writable, _same_grid, copy_style, is_landcover_raster, run_palette
from .errors import EditError
from .log import EditLog, check_edit_classes
from .model import NODATA, Edit, RasterGrid, Window, apply_edit, flood_region, mask_polygon
from .raster import build_corrected, open_raster, raster_revision, read_window, set_revision

FLOOD_REACH = 1024  # a flood fill looks this many cells around the clicked cell at most


@dataclass
class EditSession:
    files: RunFiles
    grid: RasterGrid = None
    log: Optional[EditLog] = None
    undo_stack: list = field(default_factory=list)
    redo_stack: list = field(default_factory=list)
    rebuilt_on_open: bool = False  # the corrected raster disagreed with (or was missing beside) an existing log
    created_on_open: bool = False  # first use: the log and the corrected raster were created
    needs_rebuild: bool = False  # opened with defer_rebuild: edits wait until rebuild()/rebuilt()
    listeners: list = field(default_factory=list)
    pending: Optional[Change] = None  # planned, not yet committed or discarded: other changes wait

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(cls, path, progress: Optional[ProgressFn] = None, defer_rebuild: bool = False) -> EditSession:
        """Open the corrections of the run of ``path`` (its classes or corrected raster, or its log).

        Args:
            path: the run's ``_classes.tif``, ``_corrected.tif`` or ``_edits.gpkg``.
            progress: ``progress(Progress)`` (core/progress.py, stage "edits") while the corrected raster
                is created or rebuilt.
            defer_rebuild: leave that writing to the caller (see below).

        Returns:
            The open EditSession (``files``, ``log``, undo/redo stacks; ``apply``/``undo``/``redo``).

        Refuses (EditError, nothing written) a non-plugin raster, a read-only folder, a log of
        another raster, or a corrected raster without its log. Creates the log and the corrected
        raster on first use; rebuilds the corrected raster when it disagrees with the log. With
        ``defer_rebuild`` that writing is left to the caller (``needs_rebuild``; e.g. a background task
        runs :func:`build_corrected` with :meth:`rebuild_plan`, then calls :meth:`rebuilt`).
        """
        files = run_files(path)
        if files is None:
            name = Path(str(path)).name
            raise EditError(f"{name} is not a land-cover map made by this plugin (no *_classes.tif name)")
        reason = is_landcover_raster(files.classes)
        if reason:
            raise EditError(reason)
        grid = RasterGrid.of(open_raster(files.classes))
        if files.corrected.exists() and not files.log.exists():
            raise EditError(
                f"{files.corrected.name} exists without its edit log {files.log.name}: "
                "restore the log, or move the corrected raster away to start again"
            )
        _check_writable(files.folder)
        writers.sweep_stale_partials(files.folder)  # left by a run or a correction that was killed
        session = cls(files, grid)
        if files.log.exists():
            log = EditLog.open(files.log)
            try:
                log.check_belongs_to(grid, files.classes)
                check_edit_classes(log.edits(), len(run_palette(files)), files.log.name)
            except EditError:
                log.close()
                raise
        else:
            log = EditLog.create(files.log, grid, files.classes)
        session.log = log
        if raster_revision(files.corrected) != log.revision or not _same_grid(files.corrected, grid):
            created = log.revision == 0 and not files.corrected.exists()
            session.created_on_open = created
            session.rebuilt_on_open = not created
            if defer_rebuild:
                session.needs_rebuild = True
            else:
                session.rebuild(progress)
        return session

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        self.log = None
        self.pending = None  # a change still staging in a task is taken back by its owner (Change.rollback)
        self.undo_stack.clear()
        self.redo_stack.clear()

    def _require_open(self):
        if self.log is None:
            raise EditError("no land-cover layer is being edited: open one on the Review & correct page")
        if self.needs_rebuild or self.pending is not None:
            raise EditError(f"{self.files.corrected.name} is being written: wait until it is ready")

    # ------------------------------------------------------------------ reading
    def read(self, window: Optional[Window] = None) -> np.ndarray:
        return read_window(self.files.corrected, window or self.grid.full)

    def edits(self, state: Optional[str] = None) -> list:
        if self.log is None:
            raise EditError("no land-cover layer is being edited: open one on the Review & correct page")
        return self.log.edits(state)

    # ------------------------------------------------------------------ changing
    def apply(self, edit: Edit) -> Edit:
        """Log the edit and paint it into the corrected raster; returns it with its id and cells."""
        return self.complete(self.plan_apply(edit))

    def plan_apply(self, edit: Edit) -> Change:
        self._require_open()
        window = self.grid.window_of(edit.geometry())
        if window is None:
            raise EditError("the edit is outside the raster: nothing was changed")
        grid, path = self.grid, self.files.corrected

        def compute(progress, is_cancelled):
            geom = edit.geometry()  # its own geometry object: this may run in a worker thread
            parts, todo = [], strips(window)
            for i, strip in enumerate(todo):
                if is_cancelled():
                    raise EditError(CANCELLED)
                block = read_window(path, strip)
                new = apply_edit(grid, strip, block, edit, geom)
                changed = np.flatnonzero(new != block)
                if changed.size:
                    parts.append(Part(strip, _index(changed), block.ravel()[changed], new.ravel()[changed]))
                progress(Progress((i + 1) / len(todo), EDITS))
            return parts

        return self._plan("add", Action("add", [edit], []), window, compute)

    def flood(self, x: float, y: float, to_class: int, note: str = "") -> Edit:
        """Recode the 4-connected region of one class around map point (x, y) (like Reclassify Object)."""
        self._require_open()
        row, col = self.grid.cell_of(x, y)
        if not (0 <= row < self.grid.height and 0 <= col < self.grid.width):
            raise EditError("the edit is outside the raster: nothing was changed")
        r = FLOOD_REACH
        window = Window(
            max(0, col - r), max(0, row - r), min(self.grid.width, col + r + 1), min(self.grid.height, row + r + 1)
        )
        window = Window(window.xoff, window.yoff, window.width - window.xoff, window.height - window.yoff)
        block = self.read(window)
        cls = int(block[row - window.yoff, col - window.xoff])
        if cls == NODATA:
            raise EditError("that cell has no class (nodata): nothing was changed")
        if cls == int(to_class):
            raise EditError("the region already has that class: nothing was changed")
        mask = flood_region(block, row - window.yoff, col - window.xoff)
        geom = mask_polygon(self.grid, window, mask)
        return self.apply(Edit("flood", geom.ExportToWkt(), int(to_class), from_classes=(cls,), note=note))

    def revert(self, edit_id: int) -> int:
        """Take one edit out (the log keeps it as 'reverted'); later edits stay. Returns cells changed."""
        return self.complete(self.plan_revert(edit_id))

    def plan_revert(self, edit_id: int) -> Change:
        self._require_open()
        active = self.log.edits("active")
        target = next((e for e in active if e.id == int(edit_id)), None)
        if target is None:
            raise EditError(f"edit {edit_id} is not an active edit of this log")
        window = self.grid.window_of(target.geometry())
        if window is None:
            raise EditError(f"edit {edit_id} lies outside the raster")
        return self._plan_replay(window, [e for e in active if e.id != target.id], [target])

    def revert_all(self) -> int:
        return self.complete(self.plan_revert_all())

    def plan_revert_all(self) -> Change:
        self._require_open()
        active = self.log.edits("active")
        if not active:
            raise EditError("there is no edit to revert")
        window = None
        for e in active:
            w = self.grid.window_of(e.geometry())
            if w is not None:
                window = w if window is None else window.union(w)
        window = window or Window(0, 0, 1, 1)
        return self._plan_replay(window, [], active)

    def _plan_replay(self, window: Window, keep: list, reverted: list) -> Change:
        """The window as the model output + the ``keep`` edits would make it (a revert)."""
        grid, classes, path = self.grid, self.files.classes, self.files.corrected

        def compute(progress, is_cancelled):
            parts, todo = [], strips(window)
            for i, strip in enumerate(todo):
                if is_cancelled():
                    raise EditError(CANCELLED)
                want = read_window(classes, strip)
                for e in keep:
                    want = apply_edit(grid, strip, want, e)
                block = read_window(path, strip)
                changed = np.flatnonzero(want != block)
                if changed.size:
                    parts.append(Part(strip, _index(changed), block.ravel()[changed], want.ravel()[changed]))
                progress(Progress((i + 1) / len(todo), EDITS))
            return parts

        return self._plan("revert", Action("revert", list(reverted), []), window, compute)

    def undo(self) -> Action:
        return self.complete(self.plan_undo())

    def plan_undo(self) -> Change:
        self._require_open()
        if not self.undo_stack:
            raise EditError("nothing to undo")
        action = self.undo_stack[-1]
        return self._plan("undo", action, _extent(action.parts), which="old")

    def redo(self) -> Action:
        return self.complete(self.plan_redo())

    def plan_redo(self) -> Change:
        self._require_open()
        if not self.redo_stack:
            raise EditError("nothing to redo")
        action = self.redo_stack[-1]
        return self._plan("redo", action, _extent(action.parts))

    def _plan(self, kind: str, action: Action, window: Window, compute=None, which: str = "new") -> Change:
        change = Change(kind, action, window, self.files.corrected, self.log.revision, which, compute)
        self.pending = change
        return change

    def complete(self, change: Change, progress=None, is_cancelled=None):
        """Stage and commit a planned change here and now; returns what :meth:`commit` returns."""
        try:
            change.stage(progress, is_cancelled)
        except BaseException:
            self.discard(change)
            raise
        return self.commit(change)

    def discard(self, change: Change) -> None:
        """A planned or staged change is not made: its cells are written back, other changes may go on."""
        try:
            change.rollback()
        finally:
            if self.pending is change:
                self.pending = None

    def commit(self, change: Change):
        """Write a staged change into the log, then the raster's revision; the undo/redo stacks follow.

        Returns the logged edit (add), the cells changed (revert) or the action (undo, redo). A log that
        cannot be written: the cells go back (:meth:`discard`) and the EditError is raised.
        """
        if change is not self.pending or not change.staged:
            raise EditError("this change is not the one being made: nothing was changed")
        action = change.action
        try:
            if change.kind == "add":
                logged, rev = self.log.add(action.edits[0].copy(cells=action.cells, state="active", id=None))
                action.edits = [logged]
                out = logged
            elif change.kind == "revert":
                rev = self.log.set_state([e.id for e in action.edits], "reverted")
                out = action.cells
            elif change.kind == "undo":
                if action.kind == "add":
                    action.reviews = self.log.take_reviews(action.edits[0].id)  # a review correction is unreviewed
                    rev = self.log.delete(action.edits[0].id)
                else:
                    rev = self.log.set_state([e.id for e in action.edits], "active")
                out = action
            else:  # redo
                if action.kind == "add":
                    _, rev = self.log.add(action.edits[0])
                    for kind, row, col, decision, cls, wkt in action.reviews:
                        self.log.add_review(kind, row, col, decision, cls, wkt, action.edits[0].id)
                    action.reviews = []
                else:
                    rev = self.log.set_state([e.id for e in action.edits], "reverted")
                out = action
        except BaseException:
            self.discard(change)
            raise
        self.pending = None
        change.staged = change.dirty = False
        change.written = 0  # the log shows it now: nothing to take back
        if change.kind == "undo":
            self.redo_stack.append(self.undo_stack.pop())
        elif change.kind == "redo":
            self.undo_stack.append(self.redo_stack.pop())
        else:
            self.undo_stack.append(action)
            self.redo_stack.clear()
        set_revision(change.path, rev)  # if this fails, the raster stays DIRTY: rebuilt from the log on open
        self._changed()
        return out

    def rebuild_plan(self) -> dict:
        """The arguments of :func:`build_corrected` for this session (safe to run in another thread)."""
        if self.log is None:
            raise EditError("no land-cover layer is being edited: open one on the Review & correct page")
        if self.pending is not None:
            raise EditError(f"{self.files.corrected.name} is being written: wait until it is ready")
        return {
            "classes_path": self.files.classes,
            "edits": self.log.edits("active"),
            "out_path": self.files.corrected,
            "revision": self.log.revision,
            "log_name": self.files.log.name,
        }

    def rebuild(self, progress=None, is_cancelled=None) -> dict:
        """Write the corrected raster again from the model output + the log's active edits."""
        counts = build_corrected(**self.rebuild_plan(), progress=progress, is_cancelled=is_cancelled)
        self.rebuilt()
        return counts

    def rebuilt(self) -> None:
        """The corrected raster was written from :meth:`rebuild_plan`: edits may go on."""
        self.needs_rebuild = False
        self._copy_style()
        self._changed()

    def _copy_style(self) -> None:
        copy_style(self.files)

    # ------------------------------------------------------------------ reviews
    def mark_reviewed(self, row: int, col: int, decision: str, cls: Optional[int] = None, edit_id=None) -> None:
        self._require_open()
        x, y = self.grid.cell_center(row, col)
        self.log.add_review("cell", row, col, decision, cls, f"POINT ({x} {y})", edit_id)

    def mark_tile(self, window: Window) -> None:
        self._require_open()
        wkt = self.grid.cell_polygon_wkt(window)
        self.log.add_review("tile", window.yoff, window.xoff, "accepted", None, wkt)

    def _changed(self) -> None:
        for fn in list(self.listeners):
            fn()
