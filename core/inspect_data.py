"""What the window inspector returns: a window's footprint, an inspected window, a run's grid, a result cell."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import ClassificationError


@dataclass
class WindowFootprint:
    """Where a window lies: its top-left pixel in the working raster and its map geometry."""

    col: int  # top-left pixel of the window in the working raster (the whole raster, before any AOI)
    row: int
    size: int  # px
    geotransform: tuple  # of the window, working CRS, north-up
    crs_wkt: str
    crs_label: str
    shifted: bool = False  # moved to stay inside the raster

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        gt = self.geotransform
        return (gt[0], gt[3] + self.size * gt[5], gt[0] + self.size * gt[1], gt[3])

    @property
    def centre(self) -> tuple[float, float]:
        xmin, ymin, xmax, ymax = self.bounds
        return ((xmin + xmax) / 2, (ymin + ymax) / 2)

    def to_dict(self) -> dict:
        return {
            "pixel": [self.col, self.row],
            "size_px": self.size,
            "bounds": list(self.bounds),
            "crs": self.crs_label,
            "shifted_to_stay_inside": self.shifted,
        }


@dataclass
class InspectedWindow:
    footprint: WindowFootprint
    model_input: np.ndarray  # (C, p, p) float32, 0-255: exactly what the model gets
    patch_rgb: np.ndarray  # (p, p, 3) uint8: the model input shown as RGB
    valid: np.ndarray  # (p, p) bool: pixels with data (the others were filled)
    probabilities: np.ndarray  # (K,) float32
    class_names: list[str]
    class_colors: list[str]

    @property
    def valid_fraction(self) -> float:
        return float(self.valid.mean())

    @property
    def top_index(self) -> int:
        return int(np.argmax(self.probabilities))

    def ranked(self, k: Optional[int] = None) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities, kind="stable")[: k or len(self.probabilities)]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]


@dataclass
class RunGrid:
    """The window grid of a finished run (from its summary): stride, window counts, area origin."""

    stride: int
    patch: int
    origin: tuple[float, float]  # top-left corner of the run's working area (working CRS)
    pixel: float
    nx: int
    ny: int
    ncx: int
    ncy: int

    @property
    def k(self) -> int:
        return self.patch // self.stride

    @classmethod
    def from_summary(cls, summary: dict) -> RunGrid:
        try:
            g, wr, model = summary["grid"], summary["working_raster"], summary["model"]
            xmin, _ymin, _xmax, ymax = wr["bounds"]
            ncx, ncy, patch = int(g["cells"][0]), int(g["cells"][1]), int(model["patch_size"])
            return cls(
                stride=int(g["stride_px"]),
                patch=patch,
                origin=(float(xmin), float(ymax)),
                pixel=float(wr["pixel_size_m"][0]),
                nx=int(g.get("windows_per_row", max(1, ncx - patch + 1))),  # map mode: windows at every pixel
                ny=int(g.get("window_rows", max(1, ncy - patch + 1))),
                ncx=ncx,
                ncy=ncy,
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ClassificationError(
                f"the run summary lacks the window grid ({exc}): re-run the classification"
            ) from None

    def cell_at(self, x: float, y: float) -> Optional[tuple[int, int]]:
        size = self.stride * self.pixel
        ci = math.floor((x - self.origin[0]) / size)
        cj = math.floor((self.origin[1] - y) / size)
        if 0 <= ci < self.ncx and 0 <= cj < self.ncy:
            return ci, cj
        return None

    def windows_of_cell(self, ci: int, cj: int) -> list[tuple[int, int]]:
        """Window (i, j) covers cells i..i+k-1, j..j+k-1: the windows of the grid that cover (ci, cj).
        A map-mode run (cells of one pixel): the one window centred on the pixel, as the map model saw it."""
        if self.stride == 1:
            half = self.patch // 2
            return [(min(max(ci - half, 0), self.nx - 1), min(max(cj - half, 0), self.ny - 1))]
        k = self.k
        cols = range(max(0, ci - k + 1), min(self.nx - 1, ci) + 1)
        rows = range(max(0, cj - k + 1), min(self.ny - 1, cj) + 1)
        return [(i, j) for j in rows for i in cols]

    def cell_bounds(self, ci: int, cj: int) -> tuple[float, float, float, float]:
        size = self.stride * self.pixel
        x0, y1 = self.origin[0] + ci * size, self.origin[1] - cj * size
        return (x0, y1 - size, x0 + size, y1)


@dataclass
class CellInspection:
    cell: tuple[int, int]
    cell_bounds: tuple[float, float, float, float]
    windows: list[InspectedWindow]
    grid_windows: list[tuple[int, int]]  # (i, j) of each inspected window in the run's grid
    skipped: int  # windows of the cell with no valid pixel (the engine skips them too)
    probabilities: Optional[np.ndarray] = None  # mean of the windows' probabilities (the cell's value)
    notes: list[str] = field(default_factory=list)
