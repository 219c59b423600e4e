"""CPU fast path: the classifier traced and frozen with TorchScript, oneDNN Graph fusion on.

On x86 CPUs PyTorch's oneDNN Graph fuser compiles the frozen graph into fused convolution
partitions; for the bundled EfficientNet-Lite0 at batch 64 on a 2-core AVX-512 machine this ran
1.7 x faster than the eager model, with the same predictions (`benchmarks/bench_engine.py`
measures both paths: benchmarks/results.md).

Preparing costs about 1 s (trace, freeze, a few warm-up calls in which the fuser
specialises the graph to the batch shape), so the engine takes this path on the CPU for runs of
at least ``AUTO_MIN_WINDOWS`` windows, or always / never on request. Every traced module is
checked against the eager model on a probe batch; any failure (an old PyTorch, a build or CPU
without oneDNN Graph, a mismatch) falls back to the eager model with the reason recorded.

`torch.jit` is deprecated in favour of `torch.compile`, whose CPU backend needs a C++ compiler
at run time (rarely present beside QGIS) and imports Triton, which qgis_bridge/compat.py keeps out of
QGIS (its LLVM clashes with QGIS's); so the deprecation warnings are silenced here, and the
eager fallback keeps the engine working once `torch.jit` is gone.
"""

from __future__ import annotations

import platform
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Optional

import torch

# Whole-call time with the bundled lite0 on 2 cores, fast path on vs off: slower up to ~1,500 windows,
# faster from ~2,200 (benchmarks/bench_engine.py, section (e)).
AUTO_MIN_WINDOWS = 2048
# Largest |softmax difference| to the eager model accepted on the probe batch.
TOLERANCE = 1e-3
WARMUP_CALLS = 3
X86_MACHINES = ("x86_64", "amd64")


@dataclass
class FastPathReport:
    """How the engine ran the model on the CPU, for the run's JSON summary."""

    path: str  # "torchscript+onednn" or "eager"
    reason: str
    prepare_seconds: float = 0.0
    max_softmax_difference: Optional[float] = None
    batch_size: Optional[int] = None
    graph_cache: Optional[str] = None  # the on-disk graph cache: loaded, traced and cached, or why not (graph_cache.py)

    @property
    def used(self) -> bool:
        return self.path != "eager"

    def to_dict(self) -> dict:
        return asdict(self)


def eager_reason(mode: str, device_type: str, windows: int) -> Optional[str]:
    """Why a run of ``windows`` windows stays on the eager model, or None to take the fast path."""
    if device_type != "cpu":
        return f"a {device_type} run (the fast path is for the CPU)"
    if mode == "off":
        return "fast_path=off"
    if mode == "auto" and windows < AUTO_MIN_WINDOWS:
        return f"fast_path=auto and {windows} windows (< {AUTO_MIN_WINDOWS}): too few to repay the ~1 s of tracing"
    if mode == "auto" and platform.machine().lower() not in X86_MACHINES:
        return (
            f"fast_path=auto on a {platform.machine()} CPU: the fast path is measured on x86-64 only "
            "(fast_path=on tries it)"
        )
    return None


class TracedClassifier:
    """Called like the eager classifier (float N x C x p x p on the 0-255 scale -> logits).

    The fuser specialises the graph to the traced batch shape; a new shape would be
    re-optimised (~0.2 s each), so smaller batches are padded to it and larger ones split.
    """

    def __init__(self, module, batch_size: int):
        self.module = module
        self.batch_size = int(batch_size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        B = self.batch_size
        if n > B:
            return torch.cat([self(x[i : i + B]) for i in range(0, n, B)])
        x = x.float().contiguous(memory_format=torch.channels_last)
        if n < B:
            x = torch.cat([x, x.new_zeros((B - n, *x.shape[1:]))]).contiguous(memory_format=torch.channels_last)
        return self.module(x)[:n]


def _probe(batch_size: int, bands: int, patch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch_size, bands, patch, patch), generator=gen).float()
    return x.contiguous(memory_format=torch.channels_last)


def enable_onednn_fusion() -> Optional[str]:
    """Switch oneDNN Graph fusion on for TorchScript graphs (process-wide); -> None, or why it cannot be.

    Both a freshly traced graph and one loaded from the disk cache (models/graph_cache.py) need it:
    without it a frozen graph runs unfused and slower (benchmarks/bench_fixed_costs.py, warm run)."""
    enable = getattr(getattr(torch, "jit", None), "enable_onednn_fusion", None)
    if enable is None or not torch.backends.mkldnn.is_available():
        return "this PyTorch build has no oneDNN Graph fuser"
    enable(True)
    return None


def trace_for_cpu(model, batch_size: int, bands: int, patch: int):
    """-> (callable, FastPathReport): the traced, frozen, fused module, or ``model`` itself
    (eager) when that cannot be built or does not match the eager model on a probe batch."""
    t0 = time.perf_counter()
    batch_size = max(1, int(batch_size))

    def eager(reason: str, diff=None):
        return model, FastPathReport("eager", reason, time.perf_counter() - t0, diff, batch_size)

    missing = enable_onednn_fusion()
    if missing:
        return eager(missing)
    probe = _probe(batch_size, bands, patch)
    try:
        model = model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation, see the module docstring
            # a Python branch on the input's size (map_net.py pads to its alignment) is fixed for the traced
            # shape, which is the only one the module runs (TracedClassifier pads batches), and the module is
            # checked against the eager model below: torch's warning would only alarm the analyst
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            with torch.no_grad():
                module = torch.jit.freeze(torch.jit.trace(model, probe, check_trace=False))
        traced = TracedClassifier(module, batch_size)
        with torch.inference_mode():
            expected = torch.softmax(model(probe).float(), dim=1)
            for _ in range(WARMUP_CALLS):
                got = torch.softmax(traced(probe).float(), dim=1)
        diff = float((got - expected).abs().max())
    except Exception as exc:  # any failure to build or run the traced module: stay eager
        return eager(f"the traced module could not be built or run ({type(exc).__name__}: {exc})")
    if not diff <= TOLERANCE:
        return eager(f"the traced module differs from the eager model by {diff:.2g} (> {TOLERANCE:g})", diff)
    return traced, FastPathReport(
        "torchscript+onednn",
        "CPU run: TorchScript trace + freeze with oneDNN Graph fusion, checked against the eager model",
        time.perf_counter() - t0,
        diff,
        batch_size,
    )
