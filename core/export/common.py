"""What every export shares: errors, progress/cancel plumbing and the staging folder.

Every export is written into a hidden staging folder inside the output folder
(``.export-<token>.partial/``) and each finished file is renamed onto its final name only when the
whole export succeeded; a cancelled or failed export removes the staging folder, so nothing
half-written is ever left behind. An existing final file is never replaced unless ``overwrite=True``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

from ..errors import ClassificationCancelled, ClassificationError
from ..progress import EXPORT, Progress, ProgressFn, as_callback

CancelFn = Callable[[], bool]


class ExportError(ClassificationError):
    """An export could not be done; the message says what is wrong and what to do."""


class ExportCancelled(ClassificationCancelled, ExportError):
    """The caller cancelled the export; nothing was written."""


class ProgressSpan:
    """Maps a sub-task's 0..1 onto a slice of the caller's progress and checks for cancel.

    ``span(fraction, message)`` reports ``Progress(fraction in the slice, EXPORT, message)`` to the
    caller's :data:`~eurosat_landcover.core.progress.ProgressFn`."""

    def __init__(self, progress: Optional[ProgressFn] = None, is_cancelled: Optional[CancelFn] = None):
        self._progress = as_callback(progress)
        self._cancelled = is_cancelled or (lambda: False)
        self.lo, self.hi = 0.0, 1.0

    def span(self, lo: float, hi: float) -> ProgressSpan:
        p = ProgressSpan(self._progress, self._cancelled)
        p.lo = self.lo + (self.hi - self.lo) * lo
        p.hi = self.lo + (self.hi - self.lo) * hi
        return p

    def __call__(self, fraction: float, message: str) -> None:
        self.check()
        self._progress(Progress(self._at(fraction), EXPORT, message))

    def _at(self, fraction: float) -> float:
        """A sub-task's 0..1 as a fraction of the caller's bar."""
        return self.lo + (self.hi - self.lo) * min(1.0, max(0.0, float(fraction)))

    def cancelled(self) -> bool:
        return bool(self._cancelled())

    def check(self) -> None:
        if self._cancelled():
            raise ExportCancelled("export cancelled")

    def gdal_callback(self, message: str):
        """A GDAL progress callback (returns 0 to stop GDAL when cancelled)."""

        def cb(fraction, _msg=None, _data=None):
            if self._cancelled():
                return 0
            self._progress(Progress(self._at(fraction), EXPORT, message))
            return 1

        return cb


class Staging:
    """A hidden folder in ``outdir`` where files are written before being renamed into place."""

    def __init__(self, outdir, overwrite: bool = False):
        self.outdir = Path(outdir)
        self.overwrite = overwrite
        try:
            self.outdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot create the output folder {self.outdir}: {exc.strerror or exc}") from None
        if not self.outdir.is_dir():
            raise ExportError(f"the output folder {self.outdir} is not a folder: choose a folder")
        self.dir = self.outdir / f".export-{secrets.token_hex(4)}.partial"
        try:
            self.dir.mkdir()
        except OSError as exc:
            raise ExportError(
                f"cannot write in {self.outdir}: {exc.strerror or exc}; choose a folder you can write to"
            ) from None
        self.planned: list[str] = []

    def path(self, name: str) -> Path:
        """Where to write the file that will be ``outdir/name``."""
        if name not in self.planned:
            self.planned.append(name)
        return self.dir / name

    def adopt(self, stem: str) -> list[str]:
        """Plan every file already in the staging folder whose name is ``stem`` + an extension
        (the .shp/.shx/.dbf/.prj/.cpg of a Shapefile, a raster's .aux.xml)."""
        names = sorted(p.name for p in self.dir.iterdir() if p.is_file() and p.name.startswith(stem + "."))
        for n in names:
            self.path(n)
        return names

    def check_free(self, names: Iterable[str]) -> None:
        """Refuse before any work when a final name is taken and ``overwrite`` is off."""
        if self.overwrite:
            return
        taken = [n for n in names if (self.outdir / n).exists()]
        if taken:
            more = f" and {len(taken) - 3} more" if len(taken) > 3 else ""
            verb = "already exists" if len(taken) == 1 else "already exist"
            raise ExportError(
                f"{', '.join(taken[:3])}{more} {verb} in {self.outdir}: choose another folder or allow "
                "overwriting (--overwrite on the command line, OVERWRITE in Processing)"
            )

    def commit(self) -> list[Path]:
        """Rename every file written in the staging folder onto its final name; then remove the folder."""
        written = [n for n in self.planned if (self.dir / n).exists()]
        self.check_free(written)
        done, kept = [], []  # renamed into place; (final, its old file moved into the staging folder)
        try:
            for name in written:
                final = self.outdir / name
                if final.exists():
                    os.replace(final, self.dir / f"{name}.replaced")
                    kept.append((final, self.dir / f"{name}.replaced"))
                os.replace(self.dir / name, final)
                done.append(final)
        except OSError as exc:
            for f in done:  # all or nothing: take back what this export had already renamed
                try:
                    f.unlink()
                except OSError:
                    pass
            for final, old in kept:  # and put back the files it replaced
                try:
                    os.replace(old, final)
                except OSError:
                    pass
            self.abort()
            raise ExportError(f"cannot write the exports in {self.outdir}: {exc.strerror or exc}") from None
        done = [self.outdir / n for n in written]
        self.abort()
        return done

    def abort(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


@contextmanager
def gdal_errors(what: str, progress: Optional[ProgressSpan] = None):
    """GDAL raises RuntimeError when exceptions are on (QGIS, tests): a cancel, or one readable line."""
    try:
        yield
    except RuntimeError as exc:
        if progress is not None:
            progress.check()
        raise ExportError(f"{what}: {exc}") from None
