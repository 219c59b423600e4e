"""Run-file guards: the names a run writes, the checks before it writes them, the output folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ClassificationError
from .partials import new_token
from .run_names import STYLE_EXTENSION, raster_name, summary_name

RASTER_KINDS = ("classes", "confidence", "probabilities")
# Sidecars GDAL or QGIS may keep beside a raster (PAM metadata, external overviews/masks built in QGIS):
# an old one beside a new raster would show the previous run's data, so they belong to the run's files.
RASTER_SIDECARS = (".aux.xml", ".ovr", ".msk")
NAME_MAX_BYTES = 255  # longest file name on the common file systems (ext4, NTFS, APFS)


def raster_path(out_dir: Path, prefix: str, kind: str) -> Path:
    return Path(out_dir) / raster_name(prefix, kind)


def run_output_paths(out_dir, prefix: str) -> list[Path]:
    """Every file a run named ``prefix`` may write in ``out_dir`` (rasters, their sidecars,
    styles, summary), whatever its options: the set that is checked, replaced and kept consistent."""
    out = []
    for kind in RASTER_KINDS:
        tif = raster_path(out_dir, prefix, kind)
        out += [tif, *(tif.with_name(tif.name + s) for s in RASTER_SIDECARS), tif.with_suffix(STYLE_EXTENSION)]
    out.append(Path(out_dir) / summary_name(prefix))
    return out


def check_prefix(prefix: str) -> None:
    """A plain file-name prefix whose longest temporary name fits the file system."""
    if not prefix.strip() or re.search(r"[/\\\x00]", prefix) or prefix in (".", ".."):
        raise ClassificationError(f"output name {prefix!r} must be a plain file name prefix")
    longest = f"{raster_name(prefix, 'probabilities')}.{new_token()}.partial.tif.aux.xml"
    excess = len(os.fsencode(longest)) - NAME_MAX_BYTES
    if excess > 0:
        room = len(os.fsencode(prefix)) - excess
        raise ClassificationError(
            f"output name is too long ({len(prefix)} characters): file names are limited to {NAME_MAX_BYTES} bytes; "
            f"use a name of at most {max(1, room)} bytes (--name)"
        )


def _same_file(a: Path, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_outputs(out_dir, prefix: str, input_files, overwrite: bool) -> list[Path]:
    """Refuse a run whose files would replace an input (never allowed) or, without ``overwrite``,
    any existing file. ``input_files``: every file the input raster is made of (GDAL's
    ``GetFileList()``: the raster, its sidecars, a VRT's sources). Returns the existing files."""
    check_prefix(prefix)
    inputs = [str(f) for f in input_files or () if f and not str(f).startswith("/vsi")]
    family = run_output_paths(out_dir, prefix)
    for f in family:
        for i in inputs:
            if _same_file(f, i):
                raise ClassificationError(
                    f"the output {f.name} would replace the input file {i}: choose another output folder or name "
                    "(outputs never replace inputs)"
                )
    existing = [f for f in family if os.path.lexists(f)]
    if existing and not overwrite:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        names = ", ".join(f.name for f in existing[:3]) + more
        raise ClassificationError(
            f"{names} already exist{'s' if len(existing) == 1 else ''} in {Path(out_dir)}: allow overwriting "
            "(--overwrite, or the overwrite option) or choose another output name or folder"
        )
    return existing


def prepare_output_dir(path) -> tuple[Path, list[Path]]:
    """Create the output folder (and missing parents) and check it is writable.

    Returns ``(folder, created)``: the folders this call created, deepest last, for
    :func:`remove_created_dirs` when the run fails."""
    out = Path(path).expanduser()
    created = []
    p = out
    while not os.path.lexists(p) and p.parent != p:
        created.append(p)
        p = p.parent
    created.reverse()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_created_dirs(created)
        raise ClassificationError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    if not out.is_dir():
        raise ClassificationError(f"the output path {out} is not a folder")
    try:  # a unique probe name: several runs in one process may share the folder
        import tempfile

        with tempfile.NamedTemporaryFile(dir=out, prefix=".eurosat-write-test-"):
            pass
    except OSError as exc:
        remove_created_dirs(created)
        raise ClassificationError(f"the output folder {out} is not writable: {exc.strerror or exc}") from None
    return out, created


def remove_created_dirs(created) -> None:
    """Remove the folders a failed run created, deepest first, if they are (still) empty."""
    for d in reversed(list(created)):
        try:
            d.rmdir()
        except OSError:
            break
