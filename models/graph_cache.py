"""The CPU fast path's frozen graph cached on disk, so a later process loads it instead of tracing.

models/fast_path.py traces, freezes and checks the classifier for the CPU in every new process
(about 0.7 s on 2 idle cores, and it needs the eager network, hence timm). Here the frozen graph
is saved (``torch.jit.save``) in ``<cache folder>/graphs/`` (models/weights_memo.cache_dir) and
loaded by later runs, from the CLI or a new QGIS session.

Key (every field must match, else the entry is not used): the weights' SHA-256 (verified against
the file when the model was loaded), the card's architecture and class count (an entry exists only
if that network was built and took these weights), the card's normalisation (mean, std: inside the graph)
and its input calibration when it has one (inside the graph too: models/input_calibration.py), torch's
version, this CPU (model name and instruction-set flags of /proc/cpuinfo), the batch shape (batch size,
bands, patch) and torch's CPU threads, and ``FORMAT``. The file name is a hash
of the key and the key is stored inside the archive too, and compared after loading.

Never trusted blindly: a loaded graph runs the fast path's probe batch (``WARMUP_CALLS`` times: the
same calls warm the fuser up) and its softmax must match, within ``fast_path.TOLERANCE``, the eager
model's when the eager model is in memory, else the eager model's softmax on that probe stored in
the entry when it was written (from the verified weights; a per-pixel model's on a lattice of
pixels, every ``probe_step``-th, so the entry stays small). A missing, unreadable, corrupt or
mismatched entry is ignored (traced afresh and rewritten) with a note in the run summary's
``fast_path.graph_cache``. Entries are written under a temporary name and renamed. Only models
loaded from a verified weights file by the engine (models/model_cache.py registers them) use the
disk cache: a model handed in by a caller is traced as before.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
import warnings
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Optional

FORMAT = 2
SUBDIR = "graphs"
MAX_ENTRIES = 16  # oldest files (by modification time) removed beyond this
_verified: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> verified weights sha256
_cpu: Optional[str] = None


def register_verified(model, weights_sha256: str) -> None:
    """``model`` was loaded from a weights file whose SHA-256 matched the card: it may use the disk cache."""
    if weights_sha256:
        _verified[model] = weights_sha256


def cpu_fingerprint() -> str:
    """A short hash of this CPU's model name and instruction-set flags (what oneDNN compiles for)."""
    global _cpu
    if _cpu is None:
        text = ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith(("model name", "flags", "Features", "CPU part")):
                        text += line.strip() + "\n"
                    elif not line.strip() and text:
                        break  # the first processor is enough
        except OSError:
            pass
        text = text or f"{platform.machine()} {platform.processor()}"
        _cpu = hashlib.sha256(text.encode()).hexdigest()[:16]
    return _cpu


def model_identity(model) -> Optional[dict]:
    """What every disk-cache key holds of ``model``: its verified weights' SHA-256, architecture and input
    normalisation; None for a model not loaded from a verified weights file (it may not use the cache)."""
    sha = _verified.get(model)
    card = getattr(model, "card", None)
    if not sha or card is None:
        return None
    identity = {
        "weights_sha256": sha,
        "architecture": str(card.architecture),  # an entry exists only if this network built and took the weights
        "mean": [float(v) for v in card.mean],
        "std": [float(v) for v in card.std],
    }
    calibration = getattr(card, "input_calibration", None)
    if calibration:  # inside the graph too; absent for a card without one (its keys and digests unchanged)
        identity["input_calibration"] = calibration
    return identity


def graph_key(model, batch_size: int, bands: int, patch: int) -> Optional[dict]:
    """The entry's key for ``model`` at this shape, or None when ``model`` may not use the disk cache."""
    import torch

    identity = model_identity(model)
    if identity is None:
        return None
    return {
        "format": FORMAT,
        **identity,
        "classes": int(model.card.num_classes),
        "torch": torch.__version__,
        "cpu": cpu_fingerprint(),
        "batch": int(batch_size),
        "bands": int(bands),
        "patch": int(patch),
        "threads": int(torch.get_num_threads()),
    }


def entry_path(key: dict, kind: str = "graph") -> Optional[Path]:
    """The cache file of ``key`` (``<kind>_<digest>.pt`` under the cache's graphs folder); None without a cache."""
    from .weights_memo import cache_dir

    folder = cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return folder / SUBDIR / f"{kind}_{digest}.pt"


def usable(model) -> bool:
    """True when ``model`` may use the disk cache (a verified model) and a cache folder is writable."""
    from .weights_memo import cache_dir

    return bool(_verified.get(model)) and getattr(model, "card", None) is not None and cache_dir() is not None


def has_entry(model, batch_size: int, bands: int, patch: int) -> bool:
    """True when an entry for this model and shape is on disk (not yet checked: loading checks it)."""
    key = graph_key(model, batch_size, bands, patch)
    path = entry_path(key) if key is not None else None
    return path is not None and path.is_file()


def _softmax(t):
    import torch

    return torch.softmax(t.float(), dim=1)


STORED_PROBE_VALUES = 1 << 16  # a per-pixel model's probe softmax is stored on a pixel lattice this small


def probe_step(softmax) -> int:
    """Pixel step of the stored probe softmax: 1 for window classifiers (N x K) and small maps, else
    the smallest step whose lattice holds at most ``STORED_PROBE_VALUES`` values (a map model's full
    probe softmax was 2.6 M floats, ~50 MB of JSON decoded on every run)."""
    step = 1
    if softmax.dim() == 4:
        while softmax[..., ::step, ::step].numel() > STORED_PROBE_VALUES:
            step += 1
    return step


def load_entry(model, key: dict, path: Path, batch_size: int, bands: int, patch: int):
    """-> (TracedClassifier, max softmax difference, against what) or (None, note, None)."""
    import torch

    from .fast_path import TOLERANCE, WARMUP_CALLS, TracedClassifier, _probe, enable_onednn_fusion
    from .lazy_model import eager_model

    missing = enable_onednn_fusion()  # before the first call: the fuser compiles the graph then
    if missing:
        return None, f"the cached graph {path.name} not used: {missing}", None
    try:
        extra = {"meta.json": ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation: see models/fast_path.py
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        meta = json.loads(extra["meta.json"] or "{}")
    except Exception as exc:  # a corrupt or foreign file: ignored
        why = f"could not be read ({type(exc).__name__})"
        return None, f"the cached graph {path.name} {why}: ignored, traced afresh", None
    if meta.get("key") != key:
        why = "was made for another model, torch or CPU"
        return None, f"the cached graph {path.name} {why}: ignored, traced afresh", None
    probe = _probe(batch_size, bands, patch)
    eager = eager_model(model)
    try:
        with torch.inference_mode():
            if eager is not None:
                expected, against = _softmax(eager.eval()(probe)), "the eager model"
            else:
                expected = torch.tensor(meta["probe_softmax"], dtype=torch.float32)
                against = "the eager model's softmax stored with it"
            traced = TracedClassifier(module, batch_size)
            for _ in range(WARMUP_CALLS):
                got = _softmax(traced(probe))
            if eager is None and got.dim() == 4:  # stored on a pixel lattice (older entries: step 1)
                step = int(meta.get("probe_step", 1))
                got = got[..., ::step, ::step]
        diff = float((got - expected).abs().max())
    except Exception as exc:
        return None, f"the cached graph {path.name} failed on the probe batch ({type(exc).__name__}): ignored", None
    if not diff <= TOLERANCE:
        return None, f"the cached graph {path.name} differs from {against} by {diff:.2g}: ignored, traced afresh", None
    return traced, diff, against


def save_entry(model, module, key: dict, path: Path, batch_size: int, bands: int, patch: int) -> str:
    """Write ``module`` (frozen) with its key and the eager model's probe softmax; -> a note."""
    import torch

    from .fast_path import _probe
    from .lazy_model import materialise
    from .weights_memo import write_atomic

    try:
        import io

        with torch.inference_mode():
            expected = _softmax(materialise(model).eval()(_probe(batch_size, bands, patch)))
        step = probe_step(expected)
        meta = {"key": key, "probe_softmax": expected[..., ::step, ::step].tolist(), "probe_step": step}
        meta["written"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(module, buf, _extra_files={"meta.json": json.dumps(meta)})
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buf.getvalue())
        _prune(path.parent)
    except Exception as exc:  # a full disk or a graph that cannot be saved: the run goes on
        return f"the traced graph could not be cached ({type(exc).__name__}: {exc})"
    return f"traced and cached as {path}"


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("graph_*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[MAX_ENTRIES:]:
        try:
            old.unlink()
        except OSError:
            pass


def prepare(model, batch_size: int, bands: int, patch: int):
    """``(callable, FastPathReport)`` like ``fast_path.trace_for_cpu``: the graph loaded from the disk
    cache when a valid entry is there, else traced (and then cached); the report's ``graph_cache``
    says which and why."""
    from .fast_path import FastPathReport, trace_for_cpu

    t0 = time.perf_counter()
    key = graph_key(model, batch_size, bands, patch)
    path = entry_path(key) if key is not None else None
    if key is None:
        note = "not used: a model handed in by the caller (only models loaded from a verified weights file)"
    elif path is None:
        note = "off: no writable cache folder (EUROSAT_LANDCOVER_CACHE_DIR empty, or the folder is read-only)"
    elif not path.is_file():
        note = "no cached graph yet"
    else:
        traced, diff, against = load_entry(model, key, path, batch_size, bands, patch)
        if traced is not None:
            reason = (
                "CPU run: frozen TorchScript graph (oneDNN Graph fusion) loaded from the disk cache, "
                f"checked against {against}"
            )
            report = FastPathReport("torchscript+onednn", reason, time.perf_counter() - t0, diff, batch_size)
            return traced, _with_note(report, f"loaded {path}")
        note = diff  # the reason it was ignored
    module, report = trace_for_cpu(model, batch_size, bands, patch)
    if report.used and path is not None:
        note = f"{note}; " + save_entry(model, module.module, key, path, batch_size, bands, patch)
        report = replace(report, prepare_seconds=time.perf_counter() - t0)
    return module, _with_note(report, note)


def _with_note(report, note: str):
    try:
        return replace(report, graph_cache=note)
    except TypeError:  # a FastPathReport without the field
        return report
