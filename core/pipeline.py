"""One classification, end to end: request -> rasters, styles and a JSON summary.

Data flow (see docs/notes/engine.md): open the source with GDAL -> band mapping + radiometry
(bands.py, radiometry.py) -> working raster at the model's gsd in a metric CRS, cut to the AOI
(georef.py) -> reader thread: strips -> scaled windows -> batches (windows.py) -> model on the
best device (inference_mode, channels_last, autocast on GPU, TorchScript + oneDNN Graph fusion on
the CPU for large runs (models/fast_path.py), OOM -> half the batch) -> softmax
accumulated per output cell, rows written as soon as they are final (aggregate.py, writers.py)
-> overviews, QML styles, JSON summary, rename from temporary names.
"""

from __future__ import annotations

import datetime as _dt
import re
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import bands as bands_mod
from . import georef, writers
from .aggregate import CellAggregator
from .errors import ClassificationCancelled, ClassificationError
from .radiometry import SUBSAMPLE_MAX_SIDE, make_radiometry
from .request import (
    FAST_PATH_MODES,
    PROBABILITY_DTYPES,
    RADIOMETRY_CHOICES,
    ClassificationRequest,
    ClassificationResult,
)
from .windows import Grid, StripReader, check_stride

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]
MAX_BATCH = 4096


def _validate_request(req: ClassificationRequest) -> None:
    if req.radiometry not in RADIOMETRY_CHOICES:
        raise ClassificationError(
            f"unknown radiometry {req.radiometry!r}; choose one of {', '.join(RADIOMETRY_CHOICES)}"
        )
    if req.probabilities_dtype not in PROBABILITY_DTYPES:
        raise ClassificationError(
            f"probabilities_dtype must be one of {', '.join(PROBABILITY_DTYPES)}, got {req.probabilities_dtype!r}"
        )
    if req.fast_path not in FAST_PATH_MODES:
        raise ClassificationError(f"fast_path must be one of {', '.join(FAST_PATH_MODES)}, got {req.fast_path!r}")
    try:
        bs = int(req.batch_size)
    except (TypeError, ValueError):
        raise ClassificationError(f"batch size must be a whole number, got {req.batch_size!r}") from None
    if not 1 <= bs <= MAX_BATCH:
        raise ClassificationError(f"batch size must be between 1 and {MAX_BATCH}, got {bs}")
    if req.name is not None and (not str(req.name).strip() or re.search(r"[/\\\x00]", str(req.name))):
        raise ClassificationError(f"output name {req.name!r} must be a plain file name prefix")


def _is_gdal_connection_string(source: str) -> bool:
    """True for GDAL sources that are not plain file paths: URLs, /vsi paths and `DRIVER:...`
    strings such as `GPKG:/data/a.gpkg:table` (a Windows drive letter `C:` is one letter, a path)."""
    return "://" in source or source.startswith("/vsi") or bool(re.match(r"^[A-Za-z][A-Za-z0-9_]+:", source))


def _prepare_output_dir(path) -> Path:
    out = Path(path).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClassificationError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    if not out.is_dir():
        raise ClassificationError(f"the output path {out} is not a folder")
    try:  # a unique probe name: several runs in one process may share the folder
        with tempfile.NamedTemporaryFile(dir=out, prefix=".eurosat-write-test-"):
            pass
    except OSError as exc:
        raise ClassificationError(f"the output folder {out} is not writable: {exc.strerror or exc}") from None
    return out


def _card_path(req) -> Path:
    """The request's model card, or the bundled default; a clear error when the file is missing."""
    from ..models.checkpoint import default_card_path

    path = Path(req.model_card) if req.model_card else default_card_path()
    if not path.is_file():
        which = "the default model" if not req.model_card else "the model card"
        raise ClassificationError(f"{which} {path} does not exist (no model to classify with)")
    return path


def _load_card_and_model(req, device, injected):
    if injected is not None:
        return injected
    try:
        from ..models.card import ModelCardError
        from ..models.checkpoint import ModelLoadError, load_model
    except ImportError as exc:  # pragma: no cover - broken install
        raise ClassificationError(f"the model code cannot be imported ({exc}); reinstall the plugin") from None
    try:
        model, card = load_model(_card_path(req), device=device)
    except (ModelLoadError, ModelCardError) as exc:
        raise ClassificationError(f"cannot load the model: {exc}") from None
    return model, card


def _load_card_only(req):
    from ..models.card import ModelCard, ModelCardError

    try:
        return ModelCard.load(_card_path(req))
    except ModelCardError as exc:
        raise ClassificationError(f"cannot load the model: {exc}") from None


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class _Runner:
    """Forward pass with autocast on GPU and OOM back-off (half the batch, down to 1)."""

    def __init__(self, model, device, batch_size, warnings):
        import torch

        self.torch = torch
        self.model = model
        self.device = device
        self.bs = batch_size
        self.warnings = warnings
        self.amp_dtype = None
        if device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        elif device.type == "mps":
            self.amp_dtype = torch.float16
        self.forward_seconds = 0.0

    def _forward(self, x):
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

    def __call__(self, data) -> np.ndarray:
        t0 = time.perf_counter()
        n = data.shape[0]
        outs = []
        pos = 0
        while pos < n:
            chunk = data[pos : pos + self.bs]
            try:
                outs.append(self._forward(chunk))
                pos += chunk.shape[0]
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                if self.device.type == "cuda":
                    self.torch.cuda.empty_cache()
                if self.bs <= 1:
                    raise ClassificationError(
                        f"the device {self.device} ran out of memory even with one window per batch"
                    ) from None
                self.bs = max(1, self.bs // 2)
                msg = f"out of memory on {self.device}: batch size reduced to {self.bs}"
                self.warnings.append(msg)
        self.forward_seconds += time.perf_counter() - t0
        return outs[0] if len(outs) == 1 else np.concatenate(outs)


def _sampler(wr, mapping):
    """Valid values (C, N) for the percentile stretch, from a decimated read of the source."""

    def sample():
        src = wr.source
        xo, yo, w, h = wr.source_window or (0, 0, src.RasterXSize, src.RasterYSize)
        f = max(1.0, max(w, h) / SUBSAMPLE_MAX_SIDE)
        bw, bh = max(1, int(round(w / f))), max(1, int(round(h / f)))
        bl = list(mapping.bands) + ([mapping.alpha_band] if mapping.alpha_band else [])
        arr = src.ReadAsArray(xo, yo, w, h, buf_xsize=bw, buf_ysize=bh, band_list=bl)
        if arr is None:
            raise ClassificationError("cannot read the raster to compute the percentile stretch (corrupt file?)")
        arr = arr.reshape(len(bl), bh, bw)
        C = len(mapping.bands)
        data = arr[:C].reshape(C, -1).astype(np.float64)
        valid = np.isfinite(data).all(axis=0)
        if mapping.alpha_band:
            valid &= arr[C].reshape(-1) > 0
        nds = [src.GetRasterBand(b).GetNoDataValue() for b in mapping.bands]
        if any(v is not None for v in nds):
            eq = np.ones(valid.shape, bool)
            for i, v in enumerate(nds):
                if v is not None:
                    eq &= data[i] == v
            valid &= ~eq
        return data[:, valid], {"sample_px": [bw, bh], "sample_valid": int(valid.sum())}

    return sample


def _model_metrics(card) -> dict:
    """The card's headline metrics (accuracy, n, macro F1, command per split), without matrices."""
    keep = (
        "accuracy",
        "n",
        "macro_f1",
        "loss",
        "windows_per_second",
        "batch_size",
        "device",
        "command",
        "members_sha256",
    )
    out = {}
    for key, val in (card.metrics or {}).items():
        if isinstance(val, dict):
            out[key] = {k: val[k] for k in keep if k in val}
        elif isinstance(val, (int, float, str)) or val is None:
            out[key] = val
    return out


def classify(
    request: ClassificationRequest,
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[CancelFn] = None,
    *,
    model=None,
) -> ClassificationResult:
    """Classify ``request.input_path``; see the module docstring and docs/notes/engine.md.

    ``model`` (keyword, optional): an already loaded ``(model, card)`` pair; the model takes
    float N x C x p x p on the 0-255 scale and returns logits (used by tests and benchmarks).
    Raises ClassificationError (readable) or ClassificationCancelled; outputs are then removed.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    warnings: list[str] = []
    progress = progress or (lambda f, m: None)
    is_cancelled = is_cancelled or (lambda: False)
    req = request
    _validate_request(req)

    def check_cancel():
        if is_cancelled():
            raise ClassificationCancelled("classification cancelled")

    progress(0.0, "opening the raster")
    out_dir = _prepare_output_dir(req.output_dir)
    input_path = Path(req.input_path)
    if not input_path.exists() and not _is_gdal_connection_string(str(req.input_path)):
        raise ClassificationError(f"the input raster {input_path} does not exist")
    card = model[1] if model is not None else _load_card_only(req)
    patch = int(card.patch_size)
    stride = check_stride(req.stride, patch)
    src = georef.open_source(req.input_path)
    mapping = bands_mod.detect_band_mapping(src, card, req.bands, req.radiometry)
    wr = georef.prepare(src, mapping, float(card.gsd_m), req.bounds, req.bounds_crs)
    if wr.width < patch or wr.height < patch:
        what = "the area of interest" if req.bounds is not None else "the raster"
        raise ClassificationError(
            f"{what} is {wr.width} x {wr.height} px at {card.gsd_m:g} m, smaller than one {patch} x {patch} px "
            f"window ({patch * card.gsd_m:g} m): nothing to classify"
        )
    grid = Grid(wr.width, wr.height, patch, stride)
    radiometry = make_radiometry(mapping.radiometry, card, mapping.radiometry_reason, _sampler(wr, mapping))
    timings["prepare"] = time.perf_counter() - t_start
    check_cancel()

    # ---- device and model
    import torch

    from .devices import device_label, resolve_device

    t0 = time.perf_counter()
    device, dev_warning = resolve_device(req.device)
    if dev_warning:
        warnings.append(dev_warning)
    progress(0.01, f"loading the model on {device}")
    net, card = _load_card_and_model(req, device, model)
    net = net.to(device).eval()
    if hasattr(net, "use_channels_last"):
        net.use_channels_last(True)
    else:
        net = net.to(memory_format=torch.channels_last)
    timings["model_load"] = time.perf_counter() - t0
    check_cancel()

    # ---- outputs
    prefix = req.name or input_path.stem
    cell_gt = (
        wr.geotransform[0],
        wr.geotransform[1] * stride,
        0.0,
        wr.geotransform[3],
        0.0,
        wr.geotransform[5] * stride,
    )
    metadata = {
        "MODEL": card.name,
        "MODEL_ARCHITECTURE": card.architecture,
        "SOURCE": str(req.input_path),
        "BANDS": " ".join(map(str, mapping.bands)),
        "BAND_NAMES": " ".join(card.bands),
        "STRIDE_PX": stride,
        "CELL_SIZE_M": f"{abs(cell_gt[1]):g}",
        "PATCH_PX": patch,
        "WORKING_CRS": wr.crs_label,
        "RESAMPLED": "yes" if wr.resampled else "no",
        **radiometry.metadata_items(),
    }
    outputs = writers.OutputSet(
        out_dir,
        prefix,
        grid,
        cell_gt,
        wr.srs.ExportToWkt(),
        card,
        req.probabilities_dtype,
        req.write_probabilities,
        metadata,
    )
    reader = None
    prev_threads = torch.get_num_threads()
    if req.threads:  # else PyTorch's default: all physical cores (see core/devices.py)
        torch.set_num_threads(max(1, int(req.threads)))
    try:
        from ..models.fast_path import FastPathReport, eager_reason, trace_for_cpu

        stay_eager = eager_reason(req.fast_path, device.type, grid.windows)
        if stay_eager:
            report = FastPathReport("eager", stay_eager)
        else:
            progress(0.015, "optimising the model for the CPU")
            net, report = trace_for_cpu(net, min(int(req.batch_size), grid.windows), len(card.bands), patch)
            timings["model_prepare"] = report.prepare_seconds
            if req.fast_path == "on" and not report.used:
                warnings.append(f"the CPU fast path is not available: {report.reason}")
        check_cancel()
        agg = CellAggregator(grid, len(card.classes), outputs.write_row)
        runner = _Runner(net, device, int(req.batch_size), warnings)
        reader = StripReader(
            wr,
            radiometry,
            grid,
            int(req.batch_size),
            pin_memory=(device.type == "cuda"),
        )
        total = grid.windows
        done = 0
        classified = 0
        skipped = 0
        t_inf = time.perf_counter()
        progress(0.02, f"classifying {total} windows on {device}")
        reader.start()
        with torch.inference_mode():
            last_report = 0.0
            for batch in reader:
                check_cancel()
                agg.set_valid(batch.cell_valid)
                if batch.data is not None:
                    probs = runner(batch.data)
                    agg.add(batch.rows, batch.cols, probs)
                    classified += len(batch.rows)
                    done += len(batch.rows)
                skipped += batch.skipped
                done += batch.skipped
                agg.finalize(batch.done_rows)
                now = time.perf_counter()
                if now - last_report > 0.2:
                    last_report = now
                    progress(0.02 + 0.93 * done / max(1, total), f"{done}/{total} windows")
        agg.finish()
        check_cancel()
        timings["inference"] = time.perf_counter() - t_inf
        timings["reading"] = reader.read_seconds
        timings["forward"] = runner.forward_seconds
        progress(0.96, "building overviews")
        t0 = time.perf_counter()
        outputs.close_rasters(overviews=True)
        timings["overviews_and_close"] = time.perf_counter() - t0
        check_cancel()

        cell_area_km2 = abs(cell_gt[1] * cell_gt[5]) / 1e6
        # rounded to 1 m² (cells are at least 80 m x 80 m, so nothing is lost)
        area = {c.name: round(float(n) * cell_area_km2, 6) for c, n in zip(card.classes, outputs.class_counts)}
        timings["total"] = time.perf_counter() - t_start
        wps = classified / timings["inference"] if timings["inference"] > 0 else 0.0
        final = outputs.final
        summary_path = out_dir / f"{prefix}_summary.json"
        styles = {name: p.with_suffix(".qml") for name, p in final.items()}
        summary = {
            "engine": "eurosat_landcover.core",
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "input": {
                "path": str(req.input_path),
                "size_px": [src.RasterXSize, src.RasterYSize],
                "bands": src.RasterCount,
                "dtype": mapping.source_dtype,
                "crs": georef.gdalutil.srs_label(src.GetSpatialRef()) if src.GetSpatialRef() else None,
            },
            "request": req.to_dict(),
            "band_mapping": mapping.to_dict(),
            "radiometry": radiometry.to_dict(),
            "working_raster": wr.describe(),
            "model": {
                "name": card.name,
                "title": card.title,
                "architecture": card.architecture,
                "card": str(card.path) if card.path else None,
                "bands": list(card.bands),
                "patch_size": patch,
                "gsd_m": card.gsd_m,
                "metrics": _model_metrics(card),
            },
            "grid": {
                "stride_px": stride,
                "cell_size_m": [abs(cell_gt[1]), abs(cell_gt[5])],
                "cells": [grid.ncx, grid.ncy],
                "windows_per_row": grid.nx,
                "window_rows": grid.ny,
                "edge": "cells in the right/bottom remainder (< stride px) are covered by no window: nodata",
            },
            "outputs": {
                **{k: str(v) for k, v in final.items()},
                "styles": {k: str(v) for k, v in styles.items()},
                "summary": str(summary_path),
                "encoding": (
                    "probabilities/confidence float32 0..1, nodata NaN"
                    if req.probabilities_dtype == "float32"
                    else "probabilities/confidence uint8 = round(p*254) with scale 1/254, nodata 255"
                ),
                "classes_nodata": writers.NODATA_CLASS,
            },
            "area_km2": area,
            "area_km2_total": round(float(sum(area.values())), 6),
            "valid_cells": outputs.valid_cells,
            "windows": {"total": total, "classified": classified, "skipped_nodata": skipped},
            "windows_per_second": wps,
            "km2_per_second": (classified * (stride * card.gsd_m) ** 2 / 1e6) / timings["inference"]
            if timings["inference"] > 0
            else 0.0,
            "batch_size": {"requested": int(req.batch_size), "final": runner.bs},
            "device": device_label(device),
            "autocast": str(runner.amp_dtype).replace("torch.", "") if runner.amp_dtype is not None else None,
            "fast_path": report.to_dict(),
            "timings_s": {k: round(v, 4) for k, v in timings.items()},
            "warnings": warnings,
        }
        texts = {styles["classes"]: writers.qml_paletted(card), styles["confidence"]: writers.qml_pseudocolor()}
        if "probabilities" in styles:
            texts[styles["probabilities"]] = writers.qml_pseudocolor(1)
        import json

        texts[summary_path] = json.dumps(summary, indent=2, ensure_ascii=False, default=writers._json_default) + "\n"
        outputs.commit(texts)
    except BaseException:
        if reader is not None:
            reader.stop()
        outputs.abort()
        raise
    finally:
        if torch.get_num_threads() != prev_threads:
            torch.set_num_threads(prev_threads)
    progress(1.0, "done")
    return ClassificationResult(
        classes_path=final["classes"],
        probabilities_path=final.get("probabilities"),
        confidence_path=final["confidence"],
        summary_path=summary_path,
        area_km2=area,
        windows=classified,
        skipped_windows=skipped,
        seconds=timings["total"],
        windows_per_second=wps,
        device=device_label(device),
        warnings=warnings,
        radiometry=radiometry.to_dict(),
        band_mapping=mapping.to_dict(),
        timings=timings,
        summary=summary,
        style_paths=styles,
    )
