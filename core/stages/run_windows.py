"""Stage 3: the windows run through the model and their probabilities aggregated per cell.

The reader thread (core/windows.StripReader) hands out batches; :class:`ModelRunner` runs each
through the model (autocast on GPU, out-of-memory -> half the batch); the cell aggregator
(core/aggregate.py) averages the softmax per output cell and hands finished rows to ``sink``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...models.devices import autocast_dtype
from ..aggregate import CellAggregator
from ..errors import ClassificationError
from ..ood import WindowStats
from ..progress import WINDOWS, WINDOWS_START, Progress
from ..windows import StripReader

REPORT_EVERY_S = 0.2  # seconds between two progress reports while windows run


def is_oom(exc: BaseException) -> bool:
    import torch

    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class ModelRunner:
    """Forward pass + softmax with autocast on GPU and OOM back-off (half the batch, down to 1)."""

    def __init__(self, model, device, batch_size: int, warnings: list):
        import torch

        self.torch = torch
        self.model = model
        self.device = device
        self.bs = int(batch_size)
        self.warnings = warnings
        self.amp_dtype = autocast_dtype(device)
        self.forward_seconds = 0.0

    def _forward(self, x) -> np.ndarray:
        torch = self.torch
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        if self.amp_dtype is not None:
            try:
                ctx = torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)
            except (RuntimeError, ValueError):  # autocast unsupported for this device/dtype
                self.amp_dtype = None
                ctx = None
            if ctx is not None:
                with ctx:
                    logits = self.model(x)
                return torch.softmax(logits.float(), dim=1).cpu().numpy()
        logits = self.model(x)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()

    def _halve_batch(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()
        if self.bs <= 1:
            raise ClassificationError(f"the device {self.device} ran out of memory even with one window per batch")
        self.bs = max(1, self.bs // 2)
        self.warnings.append(f"out of memory on {self.device}: batch size reduced to {self.bs}")

    def __call__(self, data) -> np.ndarray:
        t0 = time.perf_counter()
        outs, pos = [], 0
        while pos < data.shape[0]:
            chunk = data[pos : pos + self.bs]
            try:
                outs.append(self._forward(chunk))
                pos += chunk.shape[0]
            except Exception as exc:
                if not is_oom(exc):
                    raise
                self._halve_batch()
        self.forward_seconds += time.perf_counter() - t0
        return outs[0] if len(outs) == 1 else np.concatenate(outs)


@dataclass
class WindowRun:
    """What the windows stage did, for the summary."""

    total: int
    classified: int
    skipped: int  # all-nodata windows, never sent to the model
    seconds: float  # the whole stage
    read_seconds: float  # reader thread: GDAL reads + scaling (overlapped with the model)
    forward_seconds: float  # model forward + softmax
    final_batch_size: int  # after any out-of-memory back-off
    autocast: object  # torch dtype or None
    warnings: list  # out-of-memory back-offs
    window_stats: object = None  # core/ood.WindowStats of the classified windows


def run_windows(prepared, model, device, batch_size: int, num_classes: int, sink, progress, check_cancel) -> WindowRun:
    """Every window of ``prepared.grid`` classified; cell rows handed to ``sink(row, probs, valid)``
    as soon as they are final. ``check_cancel()`` raises to stop; the reader is stopped on any exit."""
    import torch

    grid = prepared.grid
    warnings: list = []
    runner = ModelRunner(model, device, batch_size, warnings)
    agg = CellAggregator(grid, num_classes, sink)
    stats = WindowStats()  # for the out-of-distribution check (core/ood.py)
    reader = StripReader(
        prepared.working, prepared.radiometry, grid, int(batch_size), pin_memory=(device.type == "cuda")
    )
    total, done, classified, skipped = grid.windows, 0, 0, 0
    t_start = time.perf_counter()
    progress(Progress(WINDOWS_START, WINDOWS, f"classifying {total} windows on {device}", 0, total))
    reader.start()
    try:
        with torch.inference_mode():
            last_report = 0.0
            for batch in reader:
                check_cancel()
                agg.set_valid(batch.cell_valid)
                if batch.data is not None:
                    stats.add(batch.data)
                    agg.add(batch.rows, batch.cols, runner(batch.data))
                    classified += len(batch.rows)
                skipped += batch.skipped
                done = classified + skipped
                agg.finalize(batch.done_rows)
                now = time.perf_counter()
                if now - last_report > REPORT_EVERY_S:
                    last_report = now
                    progress(Progress.windows(done, total))
        agg.finish()
    except BaseException:
        reader.stop()
        raise
    return WindowRun(
        total=total,
        classified=classified,
        skipped=skipped,
        seconds=time.perf_counter() - t_start,
        read_seconds=reader.read_seconds,
        forward_seconds=runner.forward_seconds,
        final_batch_size=runner.bs,
        autocast=runner.amp_dtype,
        warnings=warnings,
        window_stats=stats,
    )
