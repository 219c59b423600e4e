"""One classification, end to end: request -> rasters, styles and a JSON summary.

:func:`classify` runs the stages of core/stages/ in order (docs/notes/engine.md):
1. prepare the input: the request checked, source opened, band mapping + radiometry (bands.py,
   radiometry.py), working raster at the model's gsd in a metric CRS, cut to the AOI (georef.py);
2. load the model: the card read once, the weights on the best device (devices.py), and on the
   CPU for large runs the fast path (TorchScript + oneDNN Graph fusion, models/fast_path.py);
3. run the windows: reader thread (strips -> scaled windows -> batches: windows.py, strips.py,
   validity.py, batching.py) -> model (inference_mode, channels_last, autocast on GPU, OOM -> half
   the batch) -> softmax averaged per output cell, rows written as soon as final (aggregate.py,
   writers.py);
4. write the summary: overviews, QML styles, the JSON summary (built once, the result is read
   from it), every file renamed from its temporary name.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from ..models.devices import cpu_sample, device_label, place_model, resolve_device
from ..models.memory import drop_unused_gpu_library_pages
from . import writers
from .errors import ClassificationCancelled
from .progress import DONE, FAST_PATH, LOAD_MODEL, OVERVIEWS, PREPARE, Progress, ProgressFn, as_callback
from .request import ClassificationRequest, ClassificationResult
from .stages.model import check_mode, choose_model_path, model_for, read_card
from .stages.outputs import commit_outputs, open_outputs
from .stages.prepare import check_input_exists, prepare_input, prepare_output_dir, validate_request
from .stages.run_map import choose_map_path, run_map
from .stages.run_windows import run_windows
from .stages.summary import build_summary, result_from_summary

CancelFn = Callable[[], bool]


class _Clock:
    """Seconds per stage, in the order they ran."""

    def __init__(self):
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}

    def since(self, key: str, t0: float) -> None:
        self.timings[key] = time.perf_counter() - t0


def classify(
    request: ClassificationRequest,
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[CancelFn] = None,
    *,
    model=None,
) -> ClassificationResult:
    """Classify ``request.input_path``; see the module docstring and docs/notes/engine.md.

    Args:
        request: what to classify and how (input, output folder, model card, bands, radiometry,
            area, stride, batch size, device, ...; core/request.py).
        progress: receives typed reports ``Progress(fraction, stage, message, done, total)``
            (core/progress.py); called from the calling thread.
        is_cancelled: polled between batches; True stops the run.
        model: (keyword) an already loaded ``(model, card)`` pair; the model takes float
            N x C x p x p on the 0-255 scale and returns logits (tests and benchmarks).

    Returns:
        The ClassificationResult: the output paths (classes, confidence, probabilities, summary),
        area per class, window counts, speed, device, warnings, and the summary as a dict.

    Raises:
        ClassificationError (readable) or ClassificationCancelled; the outputs are then removed.
    """
    clock, warnings = _Clock(), []
    progress = as_callback(progress)
    is_cancelled = is_cancelled or (lambda: False)

    def check_cancel():
        if is_cancelled():
            raise ClassificationCancelled("classification cancelled")

    req = request
    validate_request(req)
    progress(Progress(0.0, PREPARE, "opening the raster"))
    out_dir, created_dirs = prepare_output_dir(req.output_dir)
    try:
        return _classify_into(out_dir, req, progress, check_cancel, clock, warnings, model)
    except BaseException:
        writers.remove_created_dirs(created_dirs)  # a failed run leaves no folder it made
        raise


def _classify_into(out_dir, req, progress, check_cancel, clock, warnings, model) -> ClassificationResult:
    """The stages, once the output folder exists (the ``classify`` arguments, unpacked)."""
    # INT8 runs on the CPUs idle while the run prepares (models/devices.idle_cpu_threads), unless ``threads`` is set;
    # sampled from before ``import torch`` (a new process's first second), so the sample needs no wait of its own
    idle_since = cpu_sample() if req.fast_path == "int8" and req.threads is None else None
    import torch

    check_input_exists(req)
    card = model[1] if model is not None else read_card(req.model_card, req.mode)
    check_mode(card, req.mode)
    writers.check_class_count(card)
    prepared = prepare_input(req, card, out_dir)
    clock.since("prepare", clock.start)
    check_cancel()

    t0 = time.perf_counter()
    device, dev_warning = resolve_device(req.device)
    warnings += [dev_warning] if dev_warning else []
    if device.type == "cpu":  # the CUDA libraries' pages a CPU run never touches (models/memory.py)
        drop_unused_gpu_library_pages()
    progress(Progress(0.01, LOAD_MODEL, f"loading the model on {device}"))
    net = place_model(model[0], device) if model is not None else model_for(card, device)
    clock.since("model_load", t0)
    check_cancel()

    outputs = open_outputs(req, prepared, card)
    prev_threads = torch.get_num_threads()
    if req.threads:  # else PyTorch's default: all physical cores (see core/devices.py)
        torch.set_num_threads(max(1, int(req.threads)))
    try:
        summary = _run_and_summarise(
            req, prepared, card, net, device, outputs, progress, check_cancel, clock, warnings, idle_since
        )
        commit_outputs(outputs, prepared, card, summary)
    except BaseException:
        outputs.abort()
        raise
    finally:
        if torch.get_num_threads() != prev_threads:
            torch.set_num_threads(prev_threads)
    result = result_from_summary(summary, card, clock.timings)
    _report_done(progress, result)
    return result


def _report_done(progress, result: ClassificationResult) -> None:
    """Report "done" once the outputs are complete (renamed): a progress callback that raises there
    cannot undo them. An exception becomes a warning; an interrupt (Ctrl+C, a signal) is re-raised
    with ``outputs_complete`` = the result, so the caller says the outputs are kept, not removed."""
    try:
        progress(Progress(1.0, DONE, "done"))
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        result.warnings.append(f"the progress report at 'done' failed ({why}); the outputs are complete")
    except BaseException as exc:
        exc.outputs_complete = result
        raise


def _run_and_summarise(
    req, prepared, card, net, device, outputs, progress, check_cancel, clock, warnings, idle_since=None
) -> dict:
    """Fast path, windows (or map tiles), overviews; -> the run's summary (the outputs are still temporary)."""

    def on_trace():
        progress(Progress(0.015, FAST_PATH, "optimising the model for the CPU"))

    if req.mode == "map":  # tiles of the per-pixel model; the fast path traced at the tile shape
        path = choose_map_path(net, req, device, prepared.grid, len(card.bands), on_trace, idle_since)
        stage = run_map
    else:
        path = choose_model_path(
            net, req.fast_path, device, prepared.grid, req.batch_size, len(card.bands), on_trace, idle_since
        )
        stage = run_windows
    if path.tried:
        clock.timings["model_prepare"] = path.report.prepare_seconds
    warnings += [path.warning] if path.warning else []
    check_cancel()

    sink = outputs if req.mode == "map" else outputs.write_row  # map mode writes panel by panel
    run = stage(prepared, path.model, device, req.batch_size, len(card.classes), sink, progress, check_cancel)
    warnings += run.warnings
    if run.classified == 0:
        warnings.append(
            f"every {'tile' if req.mode == 'map' else 'window'} is nodata: nothing was classified "
            "(check the nodata value, the bands and the area)"
        )
    check_cancel()
    clock.timings.update(inference=run.seconds, reading=run.read_seconds, forward=run.forward_seconds)
    if req.mode == "map":  # the rest of map mode's inference: blending the tiles, writing the 10 m rows
        t0 = time.perf_counter()
        outputs.finish_writes()  # the rows still queued for the writer thread
        clock.timings.update(blend=run.blend_seconds, write=run.write_seconds + time.perf_counter() - t0)
        clock.timings["writer_thread"] = outputs.behind_seconds  # overlapped with the forward pass

    progress(Progress(0.96, OVERVIEWS, "building overviews"))
    t0 = time.perf_counter()
    outputs.close_rasters(overviews=True)
    clock.since("overviews_and_close", t0)
    check_cancel()
    clock.since("total", clock.start)
    return build_summary(req, prepared, card, device_label(device), run, path.report, outputs, clock.timings, warnings)
