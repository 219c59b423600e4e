"""Cut one raster's working grid into blocks whose mosaic equals a single run cell for cell.

Grid facts (core/windows.py): windows start every ``s`` px from the working raster's origin and
cover ``k = p / s`` whole cells; output cell ``c`` is covered by the windows starting at cells
``c-k+1 .. c``. A block owns the core cells ``[c0, c1)`` (whole multiples of the block size) and is
read from cell ``c0-(k-1)`` to cell ``c1+(k-1)``, clamped to the raster: inside that extent the
engine computes exactly the windows of a single run that touch the core cells, and its window grid
is aligned with the single run's because the block origin lies a whole number of cells from the
raster's. Blocks are passed to the engine as bounds in the working CRS on exact pixel edges.

Map mode (``options["mode"] == "map"``): each raster is one block, run whole (its cells are the 10 m
pixels; the engine's own panels keep its memory flat, core/tiles.py). Blocks with halos would see
other tiles than a single run near their edges, so the mosaic would not equal it pixel for pixel.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .. import bands as bands_mod
from .. import georef
from ..errors import ClassificationError
from ..radiometry import make_radiometry
from ..request import DEFAULT_MODE, DEFAULT_STRIDE, cell_px
from ..stages.prepare import percentile_sampler
from ..windows import Grid, check_stride


@dataclass(frozen=True)
class Block:
    """One task: the core cells a block owns and the halo'd area the engine reads for them."""

    name: str  # output name of the raster
    input_path: str
    row: int
    col: int
    core_cells: tuple[int, int, int, int]  # cx0, cy0, cx1, cy1 in the raster's cell grid
    read_cells: tuple[int, int, int, int]  # the same, with the halo, clamped to the raster
    bounds: tuple[float, float, float, float]  # read_cells in the working CRS (exact pixel edges)
    crs_wkt: str
    split: bool  # False: the raster is one block, the engine writes its outputs directly
    windows: int  # windows the engine computes for this block (halo included)

    @property
    def block_id(self) -> str:
        return f"r{self.row:03d}_c{self.col:03d}"

    @property
    def crop(self) -> tuple[int, int, int, int]:
        """The core cells inside the block's own outputs: xoff, yoff, width, height."""
        cx0, cy0, cx1, cy1 = self.core_cells
        return cx0 - self.read_cells[0], cy0 - self.read_cells[1], cx1 - cx0, cy1 - cy0


@dataclass
class RasterPlan:
    name: str
    input_path: str
    grid: Grid
    cell_geotransform: tuple
    crs_wkt: str
    blocks: list[Block]
    windows: int  # windows of a single run of the whole raster
    percentile_limits: Optional[list] = None  # the whole raster's stretch, given to every block

    @property
    def split(self) -> bool:
        return len(self.blocks) > 1


def _cells_to_bounds(gt, stride: int, cells, width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = cells
    px0, py0 = x0 * stride, y0 * stride
    px1, py1 = min(width, x1 * stride), min(height, y1 * stride)
    return (gt[0] + px0 * gt[1], gt[3] + py1 * gt[5], gt[0] + px1 * gt[1], gt[3] + py0 * gt[5])


def _block_windows(read_cells, grid: Grid) -> int:
    """Windows the engine computes on the block: its own grid over the read extent."""
    x0, y0, x1, y1 = read_cells
    w = min(grid.width, x1 * grid.stride) - x0 * grid.stride
    h = min(grid.height, y1 * grid.stride) - y0 * grid.stride
    if w < grid.patch or h < grid.patch:
        return 0
    return Grid(w, h, grid.patch, grid.stride).windows


def _split(n_cells: int, per_block: int, k: int) -> list[tuple[int, int]]:
    """Runs of ``per_block`` cells; a last run shorter than ``k + 1`` cells joins the one before,
    so that every block's read extent holds at least one whole window."""
    runs = [(a, min(n_cells, a + per_block)) for a in range(0, n_cells, per_block)]
    if len(runs) > 1 and runs[-1][1] - runs[-1][0] < k + 1:
        runs[-2:] = [(runs[-2][0], n_cells)]
    return runs


def plan_raster(name: str, path: Path, card, options: dict, block_size: int) -> RasterPlan:
    """The blocks of one raster; ``block_size`` in working px (rounded down to whole cells)."""
    patch = int(card.patch_size)
    stride = check_stride(options.get("stride", DEFAULT_STRIDE), patch)
    src = georef.open_source(path)
    mapping = bands_mod.detect_band_mapping(src, card, options.get("bands"), options.get("radiometry", "auto"))
    mode = options.get("mode", DEFAULT_MODE)
    snap = cell_px(mode, stride)
    wr = georef.prepare(src, mapping, float(card.gsd_m), options.get("bounds"), options.get("bounds_crs"), snap=snap)
    if wr.width < patch or wr.height < patch:
        raise ClassificationError(
            f"{path.name}: {wr.width} x {wr.height} px at {card.gsd_m:g} m is smaller than one {patch} px window"
        )
    if mode == "map":
        return _whole_raster_plan(name, path, wr, patch)
    grid = Grid(wr.width, wr.height, patch, stride)
    if int(block_size) < 2 * patch:
        raise ClassificationError(f"the block size must be at least {2 * patch} px (two windows), got {block_size}")
    per_block = int(block_size) // stride
    k = grid.k
    gt, wkt = wr.geotransform, wr.srs.ExportToWkt()
    xs, ys = _split(grid.ncx, per_block, grid.k), _split(grid.ncy, per_block, grid.k)
    split = len(xs) * len(ys) > 1
    blocks = []
    for row, (cy0, cy1) in enumerate(ys):
        for col, (cx0, cx1) in enumerate(xs):
            core = (cx0, cy0, cx1, cy1)
            read = (max(0, cx0 - k + 1), max(0, cy0 - k + 1), min(grid.ncx, cx1 + k - 1), min(grid.ncy, cy1 + k - 1))
            if not split:
                read = core
            blocks.append(
                Block(
                    name=name,
                    input_path=str(path),
                    row=row,
                    col=col,
                    core_cells=core,
                    read_cells=read,
                    bounds=_cells_to_bounds(gt, stride, read, grid.width, grid.height),
                    crs_wkt=wkt,
                    split=split,
                    windows=_block_windows(read, grid),
                )
            )
    cell_gt = (gt[0], gt[1] * stride, 0.0, gt[3], 0.0, gt[5] * stride)
    limits = None
    if split and mapping.radiometry == "percentile":  # blocks must not each stretch their own pixels
        radiometry = make_radiometry("percentile", card, mapping.radiometry_reason, percentile_sampler(wr, mapping))
        limits = [list(radiometry.low), list(radiometry.high)]
    return RasterPlan(name, str(path), grid, cell_gt, wkt, blocks, grid.windows, limits)


def map_windows(width: int, height: int, patch: int) -> int:
    """A map run's work in windows, as the engine counts it for its fast-path choice
    (core/stages/run_map.choose_map_path): the tiles' area in ``patch`` px windows."""
    from ..tiles import TileGrid

    tiles = TileGrid(width, height)
    return tiles.count * max(1, tiles.tile // patch) ** 2


def _whole_raster_plan(name: str, path: Path, wr, patch: int) -> RasterPlan:
    """Map mode: the raster as one block of 10 m cells, written by the engine directly."""
    grid = Grid(wr.width, wr.height, patch, 1)
    cells = (0, 0, grid.ncx, grid.ncy)
    windows = map_windows(wr.width, wr.height, patch)
    wkt = wr.srs.ExportToWkt()
    bounds = _cells_to_bounds(wr.geotransform, 1, cells, grid.width, grid.height)
    block = Block(name, str(path), 0, 0, cells, cells, bounds, wkt, split=False, windows=windows)
    return RasterPlan(name, str(path), grid, tuple(wr.geotransform), wkt, [block], windows, None)


def fingerprint(options: dict, card, block_size: int) -> str:
    """What decides the pixels of a block: a re-run reuses a complete block only when this matches."""
    keys = ("stride", "bands", "radiometry", "bounds", "bounds_crs", "probabilities_dtype", "write_probabilities")
    material = {k: options.get(k) for k in keys}
    mode = options.get("mode", DEFAULT_MODE)
    if mode != "windows":  # only then: windows-mode fingerprints stay as they were
        material["mode"] = mode
    material.update(model=card.name, weights_sha256=card.weights_sha256, block_size=int(block_size))
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]
