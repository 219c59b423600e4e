"""INPUT... of ``classify-many``: files, folders, glob patterns and text files listing paths."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from ..errors import ClassificationError

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".png", ".jpg", ".jpeg")
LIST_SUFFIXES = (".txt", ".lst")
GLOB_CHARS = set("*?[")


def _from_list(path: Path) -> list[Path]:
    """Paths in a text file, one a line; blank lines and ``#`` comments skipped; relative to the file."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line).expanduser()
            out.append(p if p.is_absolute() else path.parent / p)
    return out


def _expand_one(item: str) -> list[Path]:
    if GLOB_CHARS & set(item):
        found = sorted(Path(p) for p in glob.glob(item, recursive=True))
        if not found:
            raise ClassificationError(f"no file matches {item!r}")
        return found
    path = Path(item).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
        if not found:
            raise ClassificationError(f"the folder {path} holds no raster ({', '.join(RASTER_SUFFIXES)})")
        return found
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        listed = _from_list(path)
        missing = [p for p in listed if not p.is_file()]
        if missing:
            raise ClassificationError(f"{path} lists {len(missing)} missing file(s), first: {missing[0]}")
        return listed
    if path.is_file():
        return [path]
    raise ClassificationError(f"the input {item} does not exist (give files, folders, globs or a .txt list)")


def expand_inputs(items: Iterable[str]) -> dict[str, Path]:
    """``{output name: raster path}`` in the order given; duplicates dropped, clashing names refused."""
    named: dict[str, Path] = {}
    for item in items:
        for path in _expand_one(str(item)):
            path = path.resolve()
            name = path.stem
            if name in named and named[name] != path:
                raise ClassificationError(
                    f"two inputs would write outputs named {name!r} ({named[name]} and {path}): "
                    "rename one or run them into separate folders"
                )
            named[name] = path
    if not named:
        raise ClassificationError("no input rasters given")
    return named
