"""Device choice and placement, one place for the engine, training and evaluation.

- :func:`resolve_device`: CUDA -> MPS -> CPU ("auto"), or as requested with a fallback and a
  warning (the engine); :func:`require_device`: the same without fallback (training, evaluation);
- :func:`autocast_dtype`: bf16 on CUDA with bf16, else fp16 on CUDA and MPS, None (fp32) on CPU;
- :func:`place_model`: a model on its device, in eval mode, with channels_last memory format.
"""

from __future__ import annotations

from typing import Optional


def _torch():
    import torch

    return torch


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    try:
        return bool(mps is not None and mps.is_available())
    except Exception:  # pragma: no cover - odd builds
        return False


def available_devices() -> list[tuple[str, str]]:
    """[(id, label)]: "auto" first, then every CUDA GPU, MPS when present, and "cpu"."""
    torch = _torch()
    out = [("auto", "Automatic (best available)")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            try:
                props = torch.cuda.get_device_properties(i)
                label = f"CUDA {i}: {props.name} ({props.total_memory / 2**30:.0f} GiB)"
            except Exception:  # pragma: no cover
                label = f"CUDA {i}"
            out.append((f"cuda:{i}", label))
    if _mps_available(torch):
        out.append(("mps", "Apple GPU (MPS)"))
    out.append(("cpu", "CPU"))
    return out


def resolve_device(name: Optional[str] = "auto"):
    """-> (torch.device, warning or None). An unavailable device falls back to the best one."""
    torch = _torch()
    name = (name or "auto").strip().lower()

    def best():
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available(torch):
            return torch.device("mps")
        return torch.device("cpu")

    if name == "auto":
        return best(), None
    if name == "gpu":
        dev = best()
        if dev.type == "cpu":
            return dev, "no GPU is available (neither CUDA nor MPS): running on the CPU"
        return dev, None
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        fb = best()
        return fb, f"unknown device {name!r}: using {_label(fb)} instead"
    if dev.type == "cpu":
        return dev, None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            fb = best()
            return fb, f"CUDA is not available on this machine: using {_label(fb)} instead of {name}"
        idx = dev.index if dev.index is not None else torch.cuda.current_device()
        if idx >= torch.cuda.device_count():
            fb = torch.device("cuda", 0)
            return fb, f"there is no {name} (GPUs: {torch.cuda.device_count()}): using cuda:0"
        return torch.device("cuda", idx), None
    if dev.type == "mps":
        if not _mps_available(torch):
            fb = best()
            return fb, f"MPS is not available on this machine: using {_label(fb)} instead"
        return dev, None
    fb = best()
    return fb, f"device {name!r} is not supported: using {_label(fb)} instead"


def require_device(name: Optional[str] = "auto"):
    """:func:`resolve_device` without the fallback: an unusable device ends the command
    (SystemExit with the reason), for training and evaluation where a silent CPU run would take hours."""
    dev, warning = resolve_device(name)
    if warning:
        raise SystemExit(f"device {name!r} cannot be used: {warning}")
    return dev


def autocast_dtype(dev):
    """The autocast dtype for ``dev``: bf16 on CUDA where supported, else fp16 (CUDA, MPS); None on the CPU."""
    torch = _torch()
    if dev.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dev.type == "mps":
        return torch.float16
    return None


def place_model(model, dev):
    """``model`` on ``dev``, in eval mode, with channels_last weights (faster for these convnets on
    the CPU's oneDNN and on GPUs); a LandCoverClassifier also makes its inputs channels_last."""
    torch = _torch()
    model = model.to(dev).eval()
    if hasattr(model, "use_channels_last"):
        model.use_channels_last(True)
    else:
        model = model.to(memory_format=torch.channels_last)
    return model


def _label(dev) -> str:
    return "the CPU" if dev.type == "cpu" else str(dev)


# CPU threads: the engine keeps PyTorch's default (all physical cores) unless a request sets
# `threads`. Measured on an idle 2-core machine with the bundled lite0, 1457 windows at stride 32:
# 2 threads 502-549 windows/s end-to-end, 1 thread 359-383; the reader thread spends under 1 % of the
# run, so no core is held back for it. Where other processes keep the cores busy, fewer threads are
# faster (OpenMP threads waiting for a busy core stall every layer: 2 threads fell to ~40 windows/s
# beside a training job), hence `threads` / `--threads 1`. The INT8 path (its outputs do not depend on the
# thread count: integer sums) takes the idle cores itself, :func:`idle_cpu_threads`.
IDLE_SAMPLE_SECONDS = 0.1


def _cpu_times() -> Optional[tuple[int, int]]:
    """``(idle, total)`` clock ticks of all CPUs since boot (/proc/stat), or None where unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    return (ticks[3] + ticks[4], sum(ticks)) if len(ticks) == 8 else None


def cpu_sample() -> Optional[tuple]:
    """The start of :func:`idle_cpu_threads`'s measurement: all CPUs' ticks, this process's CPU time, the clock."""
    import time

    ticks = _cpu_times()
    return None if ticks is None else (ticks, time.process_time(), time.perf_counter())


def idle_cpu_threads(most: int, since: Optional[tuple] = None, seconds: float = IDLE_SAMPLE_SECONDS) -> tuple[int, str]:
    """``(threads, why)``: the CPUs idle since ``since`` (a :func:`cpu_sample`; else now, waiting
    ``seconds``), /proc/stat's idle share plus the CPU time of this process (its own threads' cores are
    free for it; other processes' load, at any nice level, counts as busy), rounded, between 1 and
    ``most``; ``most`` where the kernel does not say (not Linux). A sample taken while the run prepares
    (reading the card, the input) waits only for what is missing of ``seconds``."""
    import os
    import time

    first = since if since is not None else cpu_sample()
    if first is None:
        return most, "idle CPUs unknown"
    time.sleep(max(0.0, seconds - (time.perf_counter() - first[2])))
    second = cpu_sample()
    total = second[0][1] - first[0][1] if second else 0
    if total <= 0:
        return most, "idle CPUs unknown"
    cpus = os.cpu_count() or 1
    own = (second[1] - first[1]) / max(1e-6, second[2] - first[2])
    idle = min(cpus, cpus * (second[0][0] - first[0][0]) / total + own)
    return max(1, min(most, int(idle + 0.5))), f"{idle:.1f} of {cpus} CPUs idle"


def device_label(dev) -> str:
    """Human-readable name for the summary, e.g. 'cuda:0 (NVIDIA H100)' or 'cpu (8 threads)'."""
    torch = _torch()
    if dev.type == "cuda":
        try:
            return f"{dev} ({torch.cuda.get_device_name(dev)})"
        except Exception:  # pragma: no cover
            return str(dev)
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(dev)
