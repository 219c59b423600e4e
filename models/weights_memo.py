"""The on-disk cache folder, and the weights' SHA-256 verified once per file version and remembered.

Hashing the bundled 13.7 MB weights on every run costs tens of milliseconds on an idle machine
and far more on a loaded one. The checksum of a file is remembered in ``weights_sha256.json`` in
the cache folder, keyed by the file's resolved path and its identity: size, modification time,
change time (which no program can set back) and inode. Any difference -> hashed again; a memo
entry is never trusted for a file whose identity differs. As git does for its index, a file
modified less than ``RACY_SECONDS`` before it was hashed is not remembered: a later write within
the same timestamp tick could leave its identity unchanged.

The cache folder (:func:`cache_dir`): ``$EUROSAT_LANDCOVER_CACHE_DIR`` when set (an empty value
turns every on-disk cache off), else ``%LOCALAPPDATA%/eurosat_landcover`` on Windows, else
``$XDG_CACHE_HOME/eurosat_landcover`` or ``~/.cache/eurosat_landcover``. A folder that cannot be
created or written means no cache (every run then hashes and traces afresh), never an error.
No torch import here.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

from . import hashing

ENV = "EUROSAT_LANDCOVER_CACHE_DIR"
MEMO_NAME = "weights_sha256.json"
MAX_ENTRIES = 64
RACY_SECONDS = 2.0
_lock = threading.Lock()


def cache_dir() -> Optional[Path]:
    """The on-disk cache folder (created when missing), or None when caching is off or impossible."""
    env = os.environ.get(ENV)
    if env is not None:
        if not env.strip():
            return None
        base = Path(env).expanduser()
    elif os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"]) / "eurosat_landcover"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "eurosat_landcover"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK | os.X_OK) else None


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` written under a temporary name in ``path``'s folder, then renamed onto ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def file_identity(path: Path) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _read_memo(path: Path) -> dict:
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _valid_sha(v) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def file_sha256(path) -> tuple[str, bool]:
    """``(sha256 hex, remembered)``: the file's checksum, from the memo when the file's identity is
    the one it was hashed with (``remembered`` True), else hashed now (and remembered when it can be)."""
    path = Path(path).resolve()
    folder = cache_dir()
    memo_path = folder / MEMO_NAME if folder is not None else None
    ident = file_identity(path)
    if memo_path is not None:
        entry = _read_memo(memo_path).get(str(path))
        if isinstance(entry, dict) and entry.get("identity") == ident and _valid_sha(entry.get("sha256")):
            return entry["sha256"], True
    sha = hashing.sha256_file(path)
    if memo_path is None or file_identity(path) != ident or time.time() - ident[1] / 1e9 < RACY_SECONDS:
        return sha, False
    with _lock:
        memo = _read_memo(memo_path)
        memo.pop(str(path), None)
        memo[str(path)] = {"identity": ident, "sha256": sha}
        while len(memo) > MAX_ENTRIES:
            memo.pop(next(iter(memo)))
        try:
            write_atomic(memo_path, json.dumps(memo, indent=1).encode("utf-8"))
        except OSError:
            pass
    return sha, False
