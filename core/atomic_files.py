"""Files written whole or not at all: staged files, atomic text and JSON."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import ClassificationError


@contextmanager
def staged_file(path, overwrite: bool = False, hint: str = "choose another name or allow overwriting"):
    """Yield a temporary path beside ``path`` to write the whole file to; when the block ends without
    an error it is renamed to ``path`` (with the permissions of any new file: mkstemp makes 0600),
    else removed. An existing ``path`` is refused unless ``overwrite`` (``hint`` says what to do)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ClassificationError(f"{path} exists: {hint}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


def write_json_atomic(path: Path, data: dict) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
