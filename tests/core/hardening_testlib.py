"""Helpers for the hardening tests (tests/core/test_hardening_*.py): folder snapshots, the exact
file set of a run, one-line CLI errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from engine_testlib import write_geotiff

ROOT = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` ({} when it does not exist)."""
    folder = Path(folder)
    if not folder.exists():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() or p.is_symlink():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "link"
    return out


def run_set(prefix: str, probabilities: bool = True) -> set[str]:
    """The files one successful run named ``prefix`` leaves (styles and summary included)."""
    kinds = ["classes", "confidence"] + (["probabilities"] if probabilities else [])
    names = {f"{prefix}_summary.json"}
    for k in kinds:
        names |= {f"{prefix}_{k}.tif", f"{prefix}_{k}.qml"}
    names.add(f"{prefix}_classes.tif.aux.xml")  # category names (GDAL PAM)
    return names


def assert_folder(folder: Path, before: dict, added: set[str] = frozenset()) -> None:
    """``folder`` holds exactly what it held before (same bytes) plus ``added``."""
    after = snapshot(folder)
    assert set(after) == set(before) | set(added), (sorted(set(after) ^ (set(before) | set(added))),)
    for name, digest in before.items():
        if name not in added:
            assert after[name] == digest, f"{name} was changed"


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def small_rgb(path: Path, size: int = 128, **kw) -> Path:
    rng = np.random.default_rng(0)
    return write_geotiff(path, rng.integers(0, 255, (3, size, size), np.uint8), **kw)
