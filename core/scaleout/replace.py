"""``classify-many --overwrite``: a raster's output set is replaced as a whole or not at all.

Before the job computes a raster whose existing outputs belong to other options (no block of it is
complete for this job), its old set (mosaic VRTs and styles, single-run GeoTIFFs, summary, block tiles
and markers) is moved into ``.classify-many/replaced-<token>/``. When the raster's new set is complete
the old one is deleted; when the raster fails or the job stops, the new files are removed and the old
set is moved back. (A re-run with --overwrite used to leave the old VRTs and tiles beside the new ones,
so one name held a mixed set.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .worker import KINDS, MARKER_DIR, blocks_dir, temp_token


def output_set(outdir: Path, name: str) -> list[Path]:
    """The files and folders of raster ``name`` in ``outdir`` that exist (exact names, no glob)."""
    outdir = Path(outdir)
    names = [f"{name}_summary.json"]
    for kind in KINDS:
        names += [f"{name}_{kind}{ext}" for ext in (".vrt", ".qml", ".tif", ".tif.aux.xml", ".vrt.aux.xml")]
    found = [outdir / n for n in names if os.path.lexists(outdir / n)]
    if blocks_dir(outdir, name).exists():
        found.append(blocks_dir(outdir, name))
    markers = outdir / MARKER_DIR
    if markers.is_dir():
        found += sorted(p for p in markers.glob("*.json") if p.name.startswith(f"{name}.") and _is_marker(p, name))
    return found


def _is_marker(path: Path, name: str) -> bool:
    """``<name>.<block id>.json`` (and not the marker of a raster whose name extends this one)."""
    return "." not in path.name[len(name) + 1 : -len(".json")]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class SetReplacement:
    """Old output sets moved aside while their rasters are computed again (see the module docstring)."""

    def __init__(self, outdir: Path):
        self.outdir = Path(outdir)
        self.root = self.outdir / MARKER_DIR / f"replaced-{temp_token()}"
        self.moved: dict[str, list[tuple[Path, Path]]] = {}

    def move_aside(self, name: str) -> None:
        entries = output_set(self.outdir, name)
        if not entries:
            return
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        pairs = self.moved.setdefault(name, [])
        for i, path in enumerate(entries):
            backup = folder / f"{i}-{path.name}"
            os.replace(path, backup)
            pairs.append((path, backup))

    def commit(self, name: str) -> None:
        """The new set of ``name`` is complete: drop the old one."""
        if self.moved.pop(name, None) is not None:
            shutil.rmtree(self.root / name, ignore_errors=True)

    def restore(self, name: str) -> None:
        """``name`` failed: remove what the job wrote for it and move the old set back."""
        pairs = self.moved.pop(name, None)
        if pairs is None:
            return
        for path in output_set(self.outdir, name):
            _remove(path)
        for path, backup in pairs:
            os.replace(backup, path)
        shutil.rmtree(self.root / name, ignore_errors=True)

    def close(self, failed: bool) -> None:
        """Restore every set still moved aside when the job stopped (``failed``), else drop them."""
        for name in list(self.moved):
            self.restore(name) if failed else self.commit(name)
        shutil.rmtree(self.root, ignore_errors=True)
