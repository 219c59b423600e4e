"""Stage 3, map mode: overlapping tiles through the per-pixel model, blended without seams
(core/tiles.py), rows of 10 m pixels handed to the writer as soon as they are final.

A raster wider than ``tiles.PANEL`` runs as vertical panels, one after another (memory bounded by
the panel's width). Each row of tiles is one strip read (core/strips.read_strip: scaled values and
validity) of the panel's tiles' columns; nodata pixels are set to the model's mean value before
the forward pass and written as nodata; a tile with no valid pixel is skipped. The forward pass is
the windows stage's ModelRunner (autocast on GPU, out-of-memory -> smaller batches).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..ood import WindowStats
from ..progress import WINDOWS, WINDOWS_SPAN, WINDOWS_START, Progress
from ..strips import read_strip
from ..tiles import TileGrid, panels
from .run_windows import REPORT_EVERY_S, ModelRunner

TILE_PIXELS_PER_WINDOW = 64 * 64  # a batch of ``batch_size`` windows holds as many pixels as this many tiles


@dataclass
class MapRun:
    """What the map stage did, for the summary (field names shared with WindowRun)."""

    total: int  # tiles
    classified: int
    skipped: int  # all-nodata tiles, never sent to the model
    seconds: float
    read_seconds: float
    forward_seconds: float
    final_batch_size: int
    autocast: object
    warnings: list
    tile_px: int = 0
    overlap_px: int = 0
    window_stats: object = None  # core/ood.WindowStats of the tiles' 64 px windows (out-of-distribution check)
    blend_seconds: float = 0.0  # weighting and summing the tiles' probabilities (core/tiles.RowBlender)
    write_seconds: float = 0.0  # rows handed to the outputs (encoding, GDAL writes and compression)


def tile_windows(batch: np.ndarray, patch: int = 64) -> np.ndarray:
    """(N, C, th, tw) tiles -> their non-overlapping ``patch`` px windows (N * k, C, patch, patch), as
    the out-of-distribution check's reference was measured on (core/ood.py); a side shorter than
    ``patch`` is taken whole."""
    n, c, h, w = batch.shape
    ph, pw = min(patch, h), min(patch, w)
    ky, kx = h // ph, w // pw
    x = batch[:, :, : ky * ph, : kx * pw].reshape(n, c, ky, ph, kx, pw)
    return x.transpose(0, 2, 4, 1, 3, 5).reshape(n * ky * kx, c, ph, pw)


def tiles_per_batch(batch_size: int, tiles: TileGrid) -> int:
    """Tiles per forward pass: about as many pixels as ``batch_size`` 64 px windows, at least 1."""
    return max(1, int(batch_size) * TILE_PIXELS_PER_WINDOW // (tiles.th * tiles.tw))


def choose_map_path(net, req, device, grid, bands: int, on_trace=None, idle_since=None):
    """The model path of a map run (stages/model.choose_fast_path at the tile shape): the CPU fast
    path (traced once per machine and tile batch, models/graph_cache.py) when every tile is a full
    square tile, else the eager model. Its window count is the tiles' area in 64 px windows.
    ``fast_path="int8"``: stages/model.choose_model_path at the tile shape, i.e. on the CPU the per-pixel
    network quantized for it (models/int8_map.py) on the CPUs idle since ``idle_since``, else (no
    calibration data, the probe check failed) what ``auto`` picks, with a warning. ``auto`` never tries
    INT8 in map mode."""
    from types import SimpleNamespace

    from ...models.fast_path import FastPathReport
    from .model import ModelPath, choose_fast_path, choose_model_path, eager

    tiles = TileGrid(grid.width, grid.height)
    if tiles.th != tiles.tile or tiles.tw != tiles.tile:
        return ModelPath(eager(net), FastPathReport("eager", "a raster smaller than one map tile"))
    shape = SimpleNamespace(windows=tiles.count * (tiles.tile // grid.patch) ** 2, patch=tiles.tile)
    batch = tiles_per_batch(req.batch_size, tiles)
    if req.fast_path == "int8":
        return choose_model_path(net, "int8", device, shape, batch, bands, on_trace, idle_since)
    return choose_fast_path(net, req.fast_path, device, shape, batch, bands, on_trace, int8=False)


def _emitter(write_rows, valid_rows, a: int, b: int, n):
    """-> emit(y0, sums, weights): blended rows, cut to the panel's columns ``[a, b)`` of the
    blender's, to ``write_rows(y0, probs (C, rows, width), valid (rows, width))`` as new arrays;
    ``valid_rows(y0, rows)``: the strip's validity of those rows. The time spent handing them to the
    writer (with a write-behind writer: waiting for it) is added to ``n.write_s``."""

    def emit(y0, sums, weights):
        w = weights[:, a:b]
        probs = sums[:, :, a:b] / np.maximum(w, 1e-12)[None]
        valid = (w > 0) & valid_rows(y0, w.shape[0])[:, a:b]
        t0 = time.perf_counter()
        write_rows(y0, probs, valid)
        n.write_s += time.perf_counter() - t0

    return emit


@dataclass
class _Counts:
    classified: int = 0
    skipped: int = 0
    read_s: float = 0.0
    blend_s: float = 0.0  # RowBlender add and row_done, the writes they hand rows to included
    write_s: float = 0.0
    last_report: float = 0.0
    stats: object = None  # core/ood.WindowStats


def run_map(prepared, model, device, batch_size: int, num_classes: int, sink, progress, check_cancel) -> MapRun:
    """Every tile of the working raster classified per pixel, panel by panel (core/tiles.py);
    ``sink.start_panel(x0, width)`` then pixel rows of that panel to ``sink.write_rows(y0, probs, valid)``
    (core/writers.OutputSet)."""
    import torch

    wr = prepared.working
    tiles = TileGrid(wr.width, wr.height)
    warnings: list = []
    runner = ModelRunner(model, device, tiles_per_batch(batch_size, tiles), warnings)
    fill = _fill_values(model, len(wr.data_bands))
    cols = [(a, b, tiles.columns(a, b)) for a, b in panels(wr.width)]
    total = sum(len(js) for _, _, js in cols) * len(tiles.ys)  # a tile straddling two panels counts twice
    n = _Counts(last_report=time.perf_counter(), stats=WindowStats())
    t_start = n.last_report
    progress(Progress(WINDOWS_START, WINDOWS, f"classifying {total} tiles on {device}", 0, total))
    hooks = (check_cancel, lambda: _report(n, total, progress))
    with torch.inference_mode():
        for a, b, js in cols:
            sink.start_panel(a, b - a)
            _run_panel(prepared, tiles, js, (a, b), runner, fill, num_classes, sink.write_rows, n, hooks)
    return MapRun(
        total=total,
        classified=n.classified,
        skipped=n.skipped,
        seconds=time.perf_counter() - t_start,
        read_seconds=n.read_s,
        forward_seconds=runner.forward_seconds,
        final_batch_size=runner.bs,
        autocast=runner.amp_dtype,
        warnings=warnings,
        tile_px=tiles.tile,
        overlap_px=tiles.overlap,
        window_stats=n.stats,
        blend_seconds=n.blend_s - n.write_s,
        write_seconds=n.write_s,
    )


def _report(n: _Counts, total: int, progress) -> None:
    now = time.perf_counter()
    if now - n.last_report > REPORT_EVERY_S:
        n.last_report = now
        done = n.classified + n.skipped
        frac = WINDOWS_START + WINDOWS_SPAN * done / max(1, total)
        progress(Progress(frac, WINDOWS, f"{done}/{total} tiles", done, total))


def _run_panel(prepared, tiles, js, panel, runner, fill, num_classes, write_rows, n: _Counts, hooks) -> None:
    """The tile columns ``js`` top to bottom; the rows of output columns ``panel = (a, b)`` written;
    ``hooks = (check_cancel, report)``, the latter called after each row of tiles.

    Batches are filled across rows of tiles (the CPU fast path runs the batch it was traced at: the
    short last batch of every row was padded with blank tiles): a row's last tiles go through the
    model with the next row's first ones. The blender still gets each row's tiles in order and each
    row whole, from the results in the order the tiles were read, so nothing is held back."""
    import torch

    from ..tiles import RowBlender

    check_cancel, report = hooks
    wr, radiometry = prepared.working, prepared.radiometry
    x0 = tiles.xs[js[0]]
    width = tiles.xs[js[-1]] + tiles.tw - x0
    strip = {"y": 0, "valid": None}
    a, b = panel[0] - x0, panel[1] - x0
    emit = _emitter(write_rows, lambda r, k: strip["valid"][r - strip["y"] : r - strip["y"] + k], a, b, n)
    blender = RowBlender(tiles, num_classes, emit, x0, width)
    rows: deque = deque()  # rows of tiles read and not yet done: [i, y, valid, tiles to run, tiles blended]
    queue: list = []  # (row, tile) read and not yet through the model, in reading order

    def finish_rows():
        while rows and rows[0][4] == rows[0][3]:
            i, strip["y"], strip["valid"], _, _ = rows.popleft()
            t0 = time.perf_counter()
            blender.row_done(i)
            n.blend_s += time.perf_counter() - t0
            report()

    def run_batch():
        take, queue[:] = queue[: runner.bs], queue[runner.bs :]
        probs = runner(torch.from_numpy(np.stack([t for _, _, t in take])))
        for (row, j, _), p in zip(take, probs):
            t0 = time.perf_counter()
            blender.add(row[0], j, p)
            n.blend_s += time.perf_counter() - t0
            row[4] += 1
            finish_rows()
        n.classified += len(take)
        check_cancel()

    for i, y in enumerate(tiles.ys):
        check_cancel()
        t0 = time.perf_counter()
        data, valid = read_strip(wr, radiometry, y, tiles.th, x0, width)
        n.read_s += time.perf_counter() - t0
        data = np.where(valid[None], data, fill[:, None, None]).astype(np.float32, copy=False)
        todo = [j for j in js if valid[:, tiles.xs[j] - x0 : tiles.xs[j] - x0 + tiles.tw].any()]
        n.skipped += len(js) - len(todo)
        row = [i, y, valid, len(todo), 0]
        rows.append(row)
        for pos in range(0, len(todo), runner.bs):  # the out-of-distribution statistics as one row's batches
            chunk = todo[pos : pos + runner.bs]
            batch = np.stack([data[:, :, tiles.xs[j] - x0 : tiles.xs[j] - x0 + tiles.tw] for j in chunk])
            n.stats.add(tile_windows(batch))
            queue += [(row, j, t) for j, t in zip(chunk, batch)]
        finish_rows()
        while len(queue) >= runner.bs:
            run_batch()
    while queue:
        run_batch()
    finish_rows()


def _fill_values(model, bands: int) -> np.ndarray:
    """The value nodata pixels get before the forward pass: the model's mean (0 after normalising)."""
    mean = getattr(model, "mean", None)
    if mean is None:
        return np.full(bands, 127.0, np.float32)
    return np.asarray(mean.detach().cpu().reshape(-1), np.float32)
