"""The one sha256-of-a-file helper (weights checks, dataset and class-raster fingerprints)."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike, bufsize: int = 1 << 20) -> str:
    """Hex sha256 of the file's bytes, read in ``bufsize`` chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(bufsize):
            h.update(chunk)
    return h.hexdigest()
