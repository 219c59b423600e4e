"""models/memory.py: a CPU run hands back the CUDA libraries' clean read-only pages, and only those."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from eurosat_landcover.models import memory

SMAPS = """\
7f0000000000-7f0000400000 r--p 00000000 08:01 11 /venv/nvidia/cublas/lib/libcublasLt.so.13
Rss:                4096 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000400000-7f0000500000 r--p 00400000 08:01 11 /venv/nvidia/cublas/lib/libcublasLt.so.13
Rss:                 512 kB
Private_Dirty:       256 kB
Anonymous:           256 kB
7f0000500000-7f0000600000 rw-p 00500000 08:01 11 /venv/nvidia/cublas/lib/libcublasLt.so.13
Rss:                 100 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000600000-7f0000700000 r-xp 00000000 08:01 12 /venv/torch/lib/libtorch_cpu.so
Rss:                1024 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000700000-7f0000800000 r-xp 00000000 08:01 13 /venv/torch/lib/libtorch_cuda.so
Rss:                2048 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000800000-7f0000900000 rw-p 00000000 00:00 0
Rss:                 900 kB
Private_Dirty:       900 kB
Anonymous:           900 kB
"""


def test_only_clean_read_only_gpu_library_mappings_are_selected():
    """A mapping with a copied-on-write page (relocations) or write permission keeps its pages: dropping
    them would lose the process's own data. Non-GPU libraries and anonymous memory are never touched."""
    got = memory.gpu_library_pages(SMAPS)
    assert [(name, kb) for _, _, name, kb in got] == [("libcublasLt.so.13", 4096), ("libtorch_cuda.so", 2048)]
    assert got[0][:2] == (0x7F0000000000, 0x400000)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps and madvise are Linux's")
def test_a_cpu_process_releases_the_cuda_pages_and_keeps_working():
    code = (
        "import torch\n"
        "from eurosat_landcover.models import memory\n"
        "def rss():\n"
        "    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])\n"
        "mapped = sum(kb for *_, kb in memory.gpu_library_pages())\n"
        "before = rss()\n"
        "released = memory.drop_unused_gpu_library_pages()\n"
        "after = rss()\n"
        "again = memory.drop_unused_gpu_library_pages()\n"
        "x = torch.nn.functional.conv2d(torch.ones(2, 3, 8, 8), torch.ones(4, 3, 3, 3))\n"
        "torch.cuda.is_available()\n"
        "print(mapped, released, before - after, again, float(x.sum()))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    mapped, released, drop, again, total = out.split()
    assert int(released) == int(mapped)  # every clean page of the GPU libraries, once per process
    assert int(again) == 0 and float(total) == 2 * 4 * 6 * 6 * 27
    if int(mapped) > 10_000:  # the CUDA build of torch (a CPU-only build maps no CUDA library)
        assert int(drop) > 0.8 * int(released), out
