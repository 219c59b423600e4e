"""The Python that runs QGIS, as pip sees it: which interpreter, whether it has pip, what it already provides."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

from . import requirements as reqs
from .deps_folder import PROTECTED, deps_root

# Needed by torch only to compile C++ extensions (torch.utils.cpp_extension), which the plugin never does:
# not pinned, and not installed when the running Python has any version (Debian 12 has setuptools 66.1,
# torch 2.14 asks for >=77.0.3).
BUILD_TOOLS = ("setuptools", "pip", "wheel")


# The Python that runs pip ---------------------------------------------------------------------------------
def python_for_pip() -> Optional[str]:
    """The Python interpreter of the running QGIS (inside QGIS ``sys.executable`` is often QGIS itself, or
    whatever ``python3`` comes first on PATH, e.g. a pyenv shim: each candidate must report this Python's
    version and prefix). Found once per session (it runs a few interpreters)."""
    return _python_for(sys.executable or "")


@functools.lru_cache(maxsize=4)
def _python_for(executable: str) -> Optional[str]:
    exe = Path(executable)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    names = ("python.exe", "python3.exe") if os.name == "nt" else (f"python{version}", "python3", "python")
    candidates = [folder / name for folder in (Path(sys.exec_prefix) / "bin", Path(sys.exec_prefix)) for name in names]
    if exe.name.lower().startswith("python"):
        candidates.insert(0, exe)
    candidates += [exe.parent / name for name in names]
    seen = set()
    for candidate in candidates:
        if candidate in seen or not candidate.is_file():
            continue
        seen.add(candidate)
        if _same_python(str(candidate)):
            return str(candidate)
    return None


_IDENTITY = "import sys; print(sys.version_info[0], sys.version_info[1], sys.base_exec_prefix)"


def _same_python(python: str) -> bool:
    """True when `python` is this interpreter (same version and installation), not another one on PATH."""
    try:
        out = subprocess.run(
            [python, "-c", _IDENTITY], capture_output=True, text=True, timeout=20, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == f"{sys.version_info[0]} {sys.version_info[1]} {sys.base_exec_prefix}"


def pip_problem(python: Optional[str]) -> Optional[str]:
    """None when ``python -m pip`` works, else why not."""
    if not python:
        return "the Python interpreter that runs QGIS was not found"
    try:
        result = subprocess.run(
            [python, "-m", "pip", "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{python} cannot be run ({exc})"
    if result.returncode != 0:
        return f"pip is not installed for {python}"
    return None


def _pip_missing(python: Optional[str]) -> bool:
    """For the messages, cheaply: can this interpreter find pip? (No subprocess: the messages are built when
    the plugin loads; the installer itself runs ``python -m pip --version``.)"""
    import importlib.util

    return python is None or importlib.util.find_spec("pip") is None


# What the running Python provides -------------------------------------------------------------------------
def provided_distributions(exclude: Optional[Path] = None) -> dict:
    """{normalized name: (name, version)} of the distributions on ``sys.path``, the plugin's folder excluded."""
    root = str(Path(exclude or deps_root()).resolve())
    paths = [p for p in sys.path if p and not str(Path(p).resolve()).startswith(root)]
    found = {}
    for dist in metadata.distributions(path=paths):
        name = dist.metadata["Name"]
        if name and reqs.normalize(name) not in found:
            found[reqs.normalize(name)] = (name, dist.version)
    return found


def imported_distributions() -> set:
    """Normalized names of the distributions whose modules the running Python has imported (QGIS's own)."""
    try:
        mapping = metadata.packages_distributions()
    except AttributeError:  # Python < 3.10
        return set()
    top = {name.split(".")[0] for name in list(sys.modules)}
    return {reqs.normalize(d) for module in top for d in mapping.get(module, ())}


def pins(provided: dict, own: tuple) -> dict:
    """{name: version} pip must keep: the protected and imported distributions, except the plugin's own."""
    keep = set(PROTECTED) | imported_distributions()
    ours = {reqs.normalize(r.name) for r in own} | set(BUILD_TOOLS)
    return {
        name: version
        for key, (name, version) in provided.items()
        if key in keep and key not in ours and re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version)
    }
