"""Temporary-file tokens and the sweep of killed runs' stale ``.partial`` files."""

from __future__ import annotations

import os
import re
import secrets
import socket
import zlib
from pathlib import Path


def host_tag() -> str:
    """Four hex digits naming this machine in temporary names (a folder may be shared)."""
    return f"{zlib.crc32(socket.gethostname().encode('utf-8', 'replace')) & 0xFFFF:04x}"


def new_token() -> str:
    """``<pid>-<host>-<random>``: whose temporary file it is, so a later run can tell a killed
    run's leftovers (process gone) from a live run's files (:func:`sweep_stale_partials`)."""
    return f"{os.getpid()}-{host_tag()}-{secrets.token_hex(4)}"


# <final name>.<pid>-<host>-<8 hex>.partial[.tif][GDAL sidecar]: the only names the sweep removes.
PARTIAL_RE = re.compile(
    r"^(?P<final>.+)\.(?P<pid>\d{1,10})-(?P<host>[0-9a-f]{4})-[0-9a-f]{8}\.partial(?:\.tif|\.gpkg)?"
    r"(?:\.aux\.xml|\.ovr|\.msk|-journal|-wal|-shm)?$"
)


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            ok = ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return not ok or code.value == 259  # STILL_ACTIVE
        finally:
            ctypes.windll.kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def sweep_stale_partials(out_dir) -> list[Path]:
    """Delete the temporary files of earlier runs that were killed (SIGKILL, power cut): only
    names matching :data:`PARTIAL_RE`, written on this machine by a process that no longer
    exists. A live run's files (this process or another) and anything else are left alone."""
    removed = []
    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return removed
    me = host_tag()
    for e in entries:
        m = PARTIAL_RE.match(e.name)
        if not m or m["host"] != me or pid_alive(int(m["pid"])):
            continue
        try:
            if e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            pass
    return removed
