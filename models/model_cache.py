"""Process-wide cache of loaded models and of their CPU fast-path modules.

Loading the bundled model takes a fraction of a second, but tracing it for the CPU fast path
(models/fast_path.py) takes about a second and each new trace keeps ~50 MB that PyTorch does not
give back (the fused graph's compiled kernels): a QGIS session or a batch script that classifies
many rasters in one process grew by that much per run. Here each model is loaded once and traced
once per shape, and every later run reuses them, so memory stays flat (benchmarks/soak.py).

Keys are what determines the object:
- a loaded model: the card's resolved path, the card file's and the weights file's identity
  (size, modification time, inode) and the weights' SHA-256 named by the card (checked against
  the file when it is loaded), and the device. Editing or replacing either file gives a new key.
- a fast-path module: the model's key, or the model object itself (held weakly: the engine's
  models are kept by this cache, so their modules live as long as they do; a model passed in by
  a caller keeps its modules while it lives), and the traced batch size, bands, patch size and
  torch's CPU threads (the fast-path mode decides whether a module is asked for at all).

At most ``MAX_MODELS`` models and ``MAX_TRACED`` traced modules (per store) are kept (least recently used
are dropped first). :func:`release` empties the cache (the plugin calls it when it unloads).
When memory is short (the system has less than ``MIN_AVAILABLE_MB`` available: :func:`available_memory_mb`),
a model about to be loaded first drops what the cache holds, and :func:`release_if_memory_short`
gives everything back (the Classify page calls it while no run is active).
Thread-safe: QGIS runs classifications in worker threads.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Optional

MAX_MODELS = 4
MAX_TRACED = 8
# Below this much memory available to new allocations the cache gives back what it holds: a kept
# model with its traced graphs is about 150-300 MB (benchmarks/soak.py).
MIN_AVAILABLE_MB = 512
REUSED_NOTE = " (prepared by an earlier run in this process and reused)"

_lock = threading.RLock()
_models: OrderedDict = OrderedDict()  # model key -> (model, card)
_traced: OrderedDict = OrderedDict()  # (model key, shape...) -> (callable or None, FastPathReport)
_traced_injected: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {shape: (...)}
_stats = {"loads": 0, "model_hits": 0, "traces": 0, "trace_hits": 0}


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def model_key(card_path, device) -> tuple:
    """What determines a loaded model; raises the card's own errors for a bad card."""
    from .card import ModelCard

    return card_key(ModelCard.load(card_path), device)  # validates; cheap (a small JSON file)


def card_key(card, device) -> tuple:
    """The key of ``card``'s model on ``device`` (a card read from a file: ``card.path`` set)."""
    weights = card.weights_path
    wid = _identity(weights) if weights.is_file() else None
    cid = _identity(Path(card.path)) if card.path is not None and Path(card.path).is_file() else None
    return (str(card.path), cid, card.weights_sha256, wid, str(device))


def _put(cache: OrderedDict, key, value, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def available_memory_mb() -> Optional[float]:
    """Memory the system can still give to new allocations, in MB (Linux's MemAvailable; psutil's
    figure elsewhere when it is installed), or None when unknown (then nothing is released for it)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    try:
        return psutil.virtual_memory().available / 2**20
    except Exception:  # pragma: no cover - a platform psutil cannot read
        return None


def memory_short(min_available_mb: float = MIN_AVAILABLE_MB, available_mb: Optional[float] = None) -> bool:
    """True when less than ``min_available_mb`` MB are available (``available_mb``: measured if None)."""
    available = available_memory_mb() if available_mb is None else available_mb
    return available is not None and available < min_available_mb


def release_if_memory_short(
    min_available_mb: float = MIN_AVAILABLE_MB, available_mb: Optional[float] = None
) -> Optional[str]:
    """Give back every cached model and graph when memory is short and the cache holds any;
    -> a sentence for the user saying so, or None when nothing was released."""
    available = available_memory_mb() if available_mb is None else available_mb
    if not _holds_anything() or not memory_short(min_available_mb, available):
        return None
    release()
    return (
        f"Memory is short ({available:.0f} MB available): the model kept for the next run was released; "
        "the next run loads it again."
    )


def _holds_anything() -> bool:
    with _lock:
        return bool(_models or _traced or any(_traced_injected.values()))


def _room_for_a_new_model() -> None:
    """Before loading a model that is not cached: when memory is short, drop what the cache holds."""
    if _holds_anything() and memory_short():
        release()


def cached_model(card_path, device):
    """``(model, card, key)``: the model of ``card_path`` on ``device``, loaded on first use
    (``models.checkpoint.load_model``, which verifies the weights' SHA-256) and reused after."""
    from .checkpoint import load_model as _load

    key = model_key(card_path, device)
    with _lock:
        hit = _models.get(key)
        if hit is not None:
            _models.move_to_end(key)
            _stats["model_hits"] += 1
            return hit[0], hit[1], key
        _room_for_a_new_model()
        model, card = _load(card_path, device=device)
        _register_verified(model, card)
        _put(_models, key, (model, card), MAX_MODELS)
        _stats["loads"] += 1
        return model, card, key


def _register_verified(model, card) -> None:
    from .graph_cache import register_verified  # its weights matched the card: the disk graph cache may serve it

    register_verified(model, card.weights_sha256)


def _check_architecture(card) -> None:
    """A lazy model's card names a known architecture (the eager load's message otherwise)."""
    from .checkpoint import ModelLoadError
    from .registry import get_spec

    try:
        get_spec(card.architecture)
    except ValueError as exc:
        raise ModelLoadError(f"card {card.path or Path(card.weights)}: {exc}") from None


def load_weights(card, device, lazy: bool = False):
    """``(model, key)``: the model of an already read ``card`` on ``device`` (the engine reads the
    card once per run), loaded on first use by ``models.checkpoint.load_weights`` and reused after.
    ``lazy``: the weights are verified now but the network is built on first use
    (models/lazy_model.py), so a run served by a cached CPU graph never imports timm."""
    from .checkpoint import load_weights as _load

    key = card_key(card, device)
    with _lock:
        hit = _models.get(key)
        if hit is not None:
            _models.move_to_end(key)
            _stats["model_hits"] += 1
            if getattr(hit[0], "card", None) is not None:
                hit[0].card = card  # the same file (same key): the model carries the card this run read
            return hit[0], key
        _room_for_a_new_model()
        if lazy:
            from .checkpoint import verify_weights
            from .lazy_model import LazyClassifier

            verify_weights(card)
            _check_architecture(card)
            model = LazyClassifier(card, device, lambda: _load(card, device))
        else:
            model = _load(card, device)
        _register_verified(model, card)
        _put(_models, key, (model, card), MAX_MODELS)
        _stats["loads"] += 1
        return model, key


def fast_path_module(model, key: Optional[tuple], batch_size: int, bands: int, patch: int, int8: bool = False):
    """``(callable, FastPathReport)`` as ``models.fast_path.trace_for_cpu`` gives, traced on the
    first call for this model and shape and reused after (the report then says so and its
    ``prepare_seconds`` is 0). ``key``: from :func:`cached_model`, or None for a model the caller
    loaded itself (cached while that model object lives). ``int8``: the INT8 module of
    models/int8_path.py instead (any batch size; a map model's: models/int8_map.py, ``patch`` its tile size)."""
    import torch

    from .graph_cache import prepare  # the disk cache's graph, else models.fast_path.trace_for_cpu

    if int8:
        from .input_calibration import prepare_int8  # models/int8_path.prepare, behind a card's input calibration
        from .registry import is_per_pixel

        per_pixel = None
        if is_per_pixel(getattr(getattr(model, "card", None), "architecture", "")):
            from .int8_map import prepare as per_pixel  # a map model, quantized at the tile shape ``patch``

        batch_size = 0  # the quantized module takes any batch
        prepare = lambda model, _b, bands, patch: prepare_int8(model, bands, patch, per_pixel)  # noqa: E731
    shape = (int(batch_size), int(bands), int(patch), torch.get_num_threads(), "int8" if int8 else "fp32")
    with _lock:
        if key is not None:
            store, skey = _traced, (key, *shape)
        else:
            store, skey = _traced_injected.setdefault(model, OrderedDict()), shape
        hit = store.get(skey)
        if hit is not None:
            store.move_to_end(skey)
            _stats["trace_hits"] += 1
            module, report = hit
            report = replace(report, prepare_seconds=0.0, reason=report.reason + REUSED_NOTE)
            return (module if module is not None else model), report
        module, report = prepare(model, batch_size, bands, patch)
        _stats["traces"] += 1
        # an eager fallback is stored as None: the cache must not hold the model through its own value
        _put(store, skey, (None if module is model else module, report), MAX_TRACED)
        return module, report


def has_fast_path(model, key: Optional[tuple], batch_size: int, bands: int, patch: int) -> bool:
    """True when this process already holds the fast-path module of ``model`` at this shape."""
    import torch

    shape = (int(batch_size), int(bands), int(patch), torch.get_num_threads(), "fp32")
    with _lock:
        hit = _traced.get((key, *shape)) if key is not None else _traced_injected.get(model, {}).get(shape)
        return hit is not None and hit[1].used


def stats() -> dict:
    """Counters (loads, model_hits, traces, trace_hits) and sizes, for tests and the soak script."""
    with _lock:
        traced = len(_traced) + sum(len(v) for v in _traced_injected.values())
        return {**_stats, "models": len(_models), "traced": traced}


def release() -> None:
    """Drop every cached model and module (plugin unload); the next run loads afresh."""
    with _lock:
        _models.clear()
        _traced.clear()
        _traced_injected.clear()
    import gc

    gc.collect()
    import sys

    torch = sys.modules.get("torch")  # never imported here just to release (plugin unload stays fast)
    try:
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - a broken torch must not break unloading
        pass
