"""Helpers for the corrections tests: a run on disk, expected masks computed independently, read-only folders."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read(path) -> np.ndarray:
    from osgeo import gdal

    ds = gdal.Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray()


def centre(grid, row, col):
    return grid.cell_center(row, col)


def bfs_region(arr: np.ndarray, row: int, col: int) -> np.ndarray:
    """4-connected region of arr[row, col]'s value (a plain breadth-first search)."""
    target = arr[row, col]
    seen = np.zeros(arr.shape, bool)
    todo = [(row, col)]
    seen[row, col] = True
    while todo:
        r, c = todo.pop()
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < arr.shape[0] and 0 <= cc < arr.shape[1] and not seen[rr, cc] and arr[rr, cc] == target:
                seen[rr, cc] = True
                todo.append((rr, cc))
    return seen


def centres_inside(grid, x0, y0, x1, y1) -> np.ndarray:
    """Mask of the cells whose centre lies inside the box."""
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    gt = grid.geotransform
    cx = gt[0] + (cols + 0.5) * gt[1]
    cy = gt[3] + (rows + 0.5) * gt[5]
    return (cx > min(x0, x1)) & (cx < max(x0, x1)) & (cy > min(y0, y1)) & (cy < max(y0, y1))


@contextlib.contextmanager
def read_only_folder(folder: Path):
    """Make a folder unwritable, for root too (chattr +i on ext4); skip when the file system cannot."""
    folder = Path(folder)
    mode = folder.stat().st_mode
    os.chmod(folder, 0o555)
    immutable = False
    if os.geteuid() == 0 and shutil.which("chattr"):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    probe = folder / ".probe"
    try:
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("this file system lets the test user write into a read-only folder")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        os.chmod(folder, mode)


def folder_state(folder: Path) -> dict:
    """{file name: sha256} of every file in the folder."""
    return {p.name: sha256(p) for p in sorted(Path(folder).iterdir()) if p.is_file()}
