"""Map mode's tiling: overlapping square tiles over the working raster and the seamless blend of
their per-pixel probabilities, streamed one row of tiles at a time.

Tiles are ``TILE`` px with ``OVERLAP`` px shared with each neighbour (the last tile of a row or
column is moved back to end at the raster's edge; a raster smaller than a tile is one tile). Each
tile's probabilities are weighted by a ramp that rises over the overlap on every side that has a
neighbour (cosine-shaped, from near 0 at the tile's edge to 1), and every pixel's probability is
the weighted sum over the tiles covering it divided by the summed weights: no seam where tiles
meet, and tile edges (where the network sees padding) count least. Rows are final as soon as the
row of tiles below them starts, so only one row of tiles is held. A raster wider than ``PANEL`` px
is run as vertical panels of columns, one after another, each top to bottom through the tiles that
reach it (a tile straddling two panels runs in both; every pixel gets the same tiles, weights and
order as in one full-width pass): memory is bounded by the panel's width, never the raster's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TILE = 256  # px per tile side (a multiple of 32, the network's output stride)
OVERLAP = 64  # px shared by neighbouring tiles
PANEL = 4096  # px: the widest column range run at once (a multiple of 256, the output rasters' block)
BLOCK = 256


def starts(length: int, tile: int = TILE, overlap: int = OVERLAP) -> list[int]:
    """Tile origins along one axis: every ``tile - overlap`` px, the last one ending at ``length``."""
    if length <= tile:
        return [0]
    step = tile - overlap
    out = list(range(0, length - tile, step))
    return [*out, length - tile]


def ramp(size: int, before: bool, after: bool, overlap: int = OVERLAP) -> np.ndarray:
    """1-D weights of a tile side: a raised cosine over ``overlap`` px at each end that has a neighbour."""
    w = np.ones(size, np.float32)
    n = min(overlap, size // 2)
    if n > 0:
        rise = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
        if before:
            w[:n] = rise
        if after:
            w[size - n :] = np.minimum(w[size - n :], rise[::-1])
    return w


def panels(width: int, panel: int | None = None) -> list[tuple[int, int]]:
    """Column ranges ``[a, b)`` of the panels: as few as fit ``panel`` px (default ``PANEL``), of equal
    widths rounded up to whole 256 px blocks (the last one takes the rest); one for a raster up to
    ``panel`` wide."""
    panel = PANEL if panel is None else panel
    n = max(1, -(-width // panel))
    step = -(-width // n // BLOCK) * BLOCK if n > 1 else width
    step = max(step, -(-width // n))
    return [(a, min(width, a + step)) for a in range(0, width, step)]


@dataclass(frozen=True)
class TileGrid:
    """The tiles of a ``width x height`` raster."""

    width: int
    height: int
    tile: int = TILE
    overlap: int = OVERLAP

    @property
    def xs(self) -> list[int]:
        return starts(self.width, self.tile, self.overlap)

    @property
    def ys(self) -> list[int]:
        return starts(self.height, self.tile, self.overlap)

    @property
    def tw(self) -> int:
        return min(self.tile, self.width)

    @property
    def th(self) -> int:
        return min(self.tile, self.height)

    @property
    def count(self) -> int:
        return len(self.xs) * len(self.ys)

    def columns(self, a: int, b: int) -> list[int]:
        """Indices of the tile columns that reach output columns ``[a, b)``."""
        return [j for j, x in enumerate(self.xs) if x < b and x + self.tw > a]

    def weights(self, i: int, j: int) -> np.ndarray:
        """Weights th x tw of the tile in row ``i``, column ``j``."""
        ny, nx = len(self.ys), len(self.xs)
        wy = ramp(self.th, i > 0, i < ny - 1, self.overlap)
        wx = ramp(self.tw, j > 0, j < nx - 1, self.overlap)
        return wy[:, None] * wx[None, :]


class RowBlender:
    """Weighted sums of one row of tiles over columns ``[x0, x0 + width)`` (default: all);
    ``emit(y0, sums (C, rows, width), weight (rows, width))`` gets the finished rows in order
    (``weight == 0``: no tile covered them, i.e. skipped tiles), as views that the next row of
    tiles reuses. Class-first like the tiles, so each tile is added to contiguous rows in place."""

    def __init__(self, tiles: TileGrid, num_classes: int, emit, x0: int = 0, width: int | None = None):
        self.tiles = tiles
        self.C = num_classes
        self.emit = emit
        self.x0 = x0
        self.top = 0  # raster row of acc[0]
        self.width = tiles.width - x0 if width is None else width
        self.acc = np.zeros((num_classes, tiles.th, self.width), np.float32)
        self.wsum = np.zeros((tiles.th, self.width), np.float32)
        self._scratch = np.empty((num_classes, tiles.th, tiles.tw), np.float32)
        self._weights: dict = {}  # a tile's weights depend only on which sides have a neighbour

    def _tile_weights(self, i: int, j: int) -> np.ndarray:
        t = self.tiles
        key = (i > 0, i < len(t.ys) - 1, j > 0, j < len(t.xs) - 1)
        if key not in self._weights:
            self._weights[key] = t.weights(i, j)
        return self._weights[key]

    def add(self, i: int, j: int, probs: np.ndarray) -> None:
        """Tile (i, j)'s probabilities ``(C, th, tw)`` added with its weights (the tile lies inside the columns)."""
        t = self.tiles
        y, x = t.ys[i] - self.top, t.xs[j] - self.x0
        w = self._tile_weights(i, j)
        self.acc[:, y : y + t.th, x : x + t.tw] += np.multiply(probs, w, out=self._scratch)
        self.wsum[y : y + t.th, x : x + t.tw] += w

    def row_done(self, i: int) -> None:
        """Row ``i`` of tiles is complete: hand out the rows no later tile reaches, keep the rest."""
        t = self.tiles
        ys = t.ys
        stop = ys[i + 1] if i + 1 < len(ys) else t.height
        n = stop - self.top
        self.emit(self.top, self.acc[:, :n], self.wsum[:n])
        keep = self.wsum.shape[0] - n  # the overlap rows move up, in place (no second buffer)
        if keep > 0:
            self.acc[:, :keep], self.wsum[:keep] = self.acc[:, n:].copy(), self.wsum[n:].copy()
        self.acc[:, max(keep, 0) :] = 0
        self.wsum[max(keep, 0) :] = 0
        self.top = stop
