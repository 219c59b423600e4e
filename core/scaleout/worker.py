"""What a Dask worker runs: the engine on one block, cropped to the block's core cells.

Everything a task receives is plain data (a :class:`~.blocks.Block` and a dict of options): the
worker opens the raster with GDAL itself and keeps the model loaded in its process between tasks.
Files go under temporary names and are renamed when complete; the block's marker (a small JSON)
is written last, so a block with a valid marker is complete (:func:`complete_marker`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import fields
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from osgeo import gdal

from .. import writers
from ..request import ClassificationRequest
from .blocks import Block

MARKER_DIR = ".classify-many"
KINDS = ("classes", "confidence", "probabilities")
CANCEL_POLL_S = 0.5


def temp_token() -> str:
    """``<pid>-<8 hex>``: the middle of this job's temporary names (``<final>.<token>.partial``)."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def blocks_dir(outdir: Path, name: str) -> Path:
    return Path(outdir) / f"{name}_blocks"


def tile_path(outdir: Path, block: Block, kind: str) -> Path:
    return blocks_dir(outdir, block.name) / f"{block.block_id}_{kind}.tif"


def marker_path(outdir: Path, block: Block) -> Path:
    return Path(outdir) / MARKER_DIR / f"{block.name}.{block.block_id}.json"


def complete_marker(outdir: Path, block: Block, fingerprint: str) -> Optional[dict]:
    """The block's marker when the block is complete and valid for these options, else None."""
    path = marker_path(outdir, block)
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if marker.get("fingerprint") != fingerprint:
        return None
    for f, size in marker.get("files", {}).items():
        ds = gdal.OpenEx(f, gdal.OF_RASTER) if Path(f).is_file() else None
        if ds is None or [ds.RasterXSize, ds.RasterYSize] != size:
            return None
    return marker


def _worker_device(requested: str) -> str:
    """``auto`` on a worker with several GPUs: one GPU per worker, chosen by the worker's name."""
    if requested != "auto":
        return requested
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n <= 1:
        return requested
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return requested
    index = name if isinstance(name, int) else sum(str(name).encode())
    return f"cuda:{index % n}"


def _cancel_check(event_name: Optional[str]) -> Callable[[], bool]:
    """Polls the client's cancel event (a Dask Event) at most every CANCEL_POLL_S seconds."""
    if not event_name:
        return lambda: False
    from distributed import Event

    event = Event(event_name)
    state = {"t": 0.0, "set": False}

    def is_cancelled() -> bool:
        now = time.monotonic()
        if not state["set"] and now - state["t"] > CANCEL_POLL_S:
            state["t"] = now
            state["set"] = event.is_set()
        return state["set"]

    return is_cancelled


def _request(block: Block, options: dict, output_dir: Path, name: str, device: str) -> ClassificationRequest:
    known = {f.name for f in fields(ClassificationRequest)}
    values = {k: v for k, v in options.items() if k in known}
    values.update(
        input_path=block.input_path,
        output_dir=str(output_dir),
        name=name,
        bounds=list(block.bounds),
        bounds_crs=block.crs_wkt,
        device=device,
    )
    return ClassificationRequest(**values)


def _fast_path_mode(options: dict, device: str, single_run_windows: int) -> str:
    """The model path of a single run of the whole raster, so blocks take the same one: ``auto``
    stays ``auto`` (the engine then decides alike for the block) unless the whole raster is large
    enough for the fast path while a block alone might not be."""
    from ...models.devices import resolve_device
    from ...models.fast_path import eager_reason

    mode = options.get("fast_path", "auto")
    if mode == "auto" and eager_reason(mode, resolve_device(device)[0].type, single_run_windows) is None:
        return "on"
    return mode


def _crop(src_path: Path, dst: Path, window: tuple[int, int, int, int], token: str) -> Path:
    tmp = dst.with_name(f"{dst.name}.{token}.partial.tif")
    opts = ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2", "BIGTIFF=IF_SAFER"]
    ds = gdal.Translate(str(tmp), str(src_path), srcWin=list(window), creationOptions=opts)
    if ds is None:
        raise RuntimeError(f"cannot write {tmp}: {gdal.GetLastErrorMsg()}")
    ds = None
    os.replace(tmp, dst)
    return dst


def _class_counts(path: Path, num_classes: int) -> list[int]:
    ds = gdal.Open(str(path))  # kept in a name: a band outliving its dataset crashes GDAL
    data = ds.GetRasterBand(1).ReadAsArray()
    counts = np.bincount(data[data != writers.NODATA_CLASS].ravel(), minlength=num_classes)
    return [int(n) for n in counts[:num_classes]]


def run_block(block: Block, options: dict, outdir: str, fingerprint: str, cancel_event: Optional[str] = None) -> dict:
    """Classify one block on this worker; returns its marker (also written beside the outputs), or
    ``{"error": message}`` for a readable engine error, which retrying would only repeat (crashes
    and other exceptions propagate, and Dask retries them)."""
    from ..errors import ClassificationError

    try:
        return _run_block(block, options, outdir, fingerprint, cancel_event)
    except ClassificationError as exc:
        return {"error": str(exc)}


def _run_block(block: Block, options: dict, outdir: str, fingerprint: str, cancel_event: Optional[str]) -> dict:
    from ..pipeline import classify

    outdir = Path(outdir)
    t0 = time.perf_counter()
    device = _worker_device(options.get("device", "auto"))
    options = {**options, "fast_path": _fast_path_mode(options, device, options["single_run_windows"])}
    is_cancelled = _cancel_check(cancel_event)
    if not block.split:
        result = classify(_request(block, options, outdir, block.name, device), None, is_cancelled)
        files = {k: str(p) for k, p in _result_rasters(result).items()}
        counts = _class_counts(result.classes_path, len(result.card.classes))
        summary = result.summary
    else:
        token = temp_token()
        work = blocks_dir(outdir, block.name) / f"{block.block_id}.{token}.partial"
        work.mkdir(parents=True)
        try:
            result = classify(_request(block, options, work, block.block_id, device), None, is_cancelled)
            files = {
                kind: str(_crop(path, tile_path(outdir, block, kind), block.crop, token))
                for kind, path in _result_rasters(result).items()
            }
        finally:
            shutil.rmtree(work, ignore_errors=True)
        counts = _class_counts(Path(files["classes"]), len(result.card.classes))
        summary = result.summary
    sizes = {}
    for path in files.values():
        ds = gdal.Open(path)
        sizes[path] = [ds.RasterXSize, ds.RasterYSize]
    marker = {
        "fingerprint": fingerprint,
        "block": block.block_id,
        "name": block.name,
        "files": sizes,
        "outputs": files,
        "class_counts": counts,
        "windows": summary["windows"],
        "seconds": round(time.perf_counter() - t0, 3),
        "device": summary.get("device"),
        "fast_path": summary.get("fast_path"),
        "warnings": summary.get("warnings", []),
    }
    path = marker_path(outdir, block)
    path.parent.mkdir(parents=True, exist_ok=True)
    writers.write_json_atomic(path, marker)
    return marker


def _result_rasters(result) -> dict[str, Path]:
    out = {"classes": result.classes_path, "confidence": result.confidence_path}
    if result.probabilities_path is not None:
        out["probabilities"] = result.probabilities_path
    return out
