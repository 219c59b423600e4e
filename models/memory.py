"""Resident memory a CPU run does not need, handed back (issue 26; figures: benchmarks/bench_memory.py).

What a CPU classification's peak RSS holds that is not the run's own:

- the CUDA build of PyTorch maps its CUDA libraries at ``import torch`` and their static initialisers
  touch ~130 MB of their read-only pages (libcublasLt, libnvJitLink, libnvrtc, libtorch_cuda, ...),
  although a CPU run never calls them. :func:`drop_unused_gpu_library_pages` tells the kernel those
  pages are not needed (``madvise(MADV_DONTNEED)``) -- only mappings that are read-only and hold no
  private (copied-on-write) page, so every page is the file's own content and comes back from the
  file if a later GPU run touches it, exactly as after the kernel reclaimed it under memory pressure;
- glibc keeps freed large blocks (a batch's activations) in the heap: fixing its mmap threshold
  (``mallopt(M_MMAP_THRESHOLD, 256 kB)``) returned ~35 MB of them but ran the INT8 and fp32 loops
  3 x slower (every activation a fresh mapping, page faults per batch), so it is not done.

It acts process-wide, once, on Linux only; anywhere else it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import sys
from pathlib import Path
from typing import Optional

MADV_DONTNEED = 4
GPU_LIBRARIES = re.compile(
    r"^lib(cublas|cublasLt|cudnn|cufft|cufile|curand|cusolver|cusparse|cusparseLt|cupti|nccl|nvJitLink|nvrtc|"
    r"nvshmem|nvToolsExt|torch_cuda|c10_cuda|caffe2_nvrtc|cudart|triton)[\w.-]*\.so"
)
_done: dict = {}


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def gpu_library_pages(smaps: Optional[str] = None) -> list[tuple[int, int, str, int]]:
    """``(start, length, library, resident kB)`` of each read-only mapping of a GPU library with no private
    page (from /proc/self/smaps, or the text ``smaps``)."""
    text = smaps if smaps is not None else Path("/proc/self/smaps").read_text()
    found, current = [], None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and "-" in parts[0] and not parts[0].endswith(":"):
            current = None
            name = Path(parts[5]).name if len(parts) >= 6 else ""
            if GPU_LIBRARIES.match(name) and "w" not in parts[1]:
                start, end = (int(v, 16) for v in parts[0].split("-"))
                current = {"start": start, "length": end - start, "name": name, "rss": 0, "private": 0}
                found.append(current)
        elif current is not None and parts and parts[0] in ("Rss:", "Anonymous:", "Private_Dirty:"):
            current["rss" if parts[0] == "Rss:" else "private"] += int(parts[1])
    return [(m["start"], m["length"], m["name"], m["rss"]) for m in found if m["private"] == 0 and m["rss"] > 0]


def drop_unused_gpu_library_pages() -> int:
    """Once per process, unless a GPU is in use: the resident pages of the GPU libraries' clean read-only
    mappings released; -> the kB released (0 when nothing was done)."""
    if "gpu" in _done:
        return 0
    _done["gpu"] = True
    torch = sys.modules.get("torch")
    if torch is None or torch.cuda.is_initialized():
        return 0
    libc = _libc()
    if libc is None:
        return 0
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    released = 0
    try:
        pages = gpu_library_pages()
    except OSError:
        return 0
    for start, length, _, rss in pages:
        if libc.madvise(start, length, MADV_DONTNEED) == 0:
            released += rss
    return released
