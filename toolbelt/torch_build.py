"""Which PyTorch build suits this machine, and where pip gets it.

- An NVIDIA GPU with a driver (``nvidia-smi`` answers): the CUDA build the driver can run, from PyTorch's
  CUDA wheel index (the newest CUDA the driver supports, among the builds PyTorch publishes).
- Apple silicon: PyPI's default build (it has MPS).
- Anything else: the CPU build, from PyTorch's CPU wheel index (on Linux a fraction of the size of PyPI's
  default build, which bundles the CUDA libraries).
When PyTorch's index cannot be reached the plan falls back to the default package index and says so.

Detection is plain subprocess calls with their inputs injectable, so the choice is tested without a GPU.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable, Optional

TORCH_INDEX = "https://download.pytorch.org/whl"
PYPI_SIMPLE = "https://pypi.org/simple"

# CUDA builds PyTorch publishes for the supported torch releases (toolbelt/requirements.py), newest first,
# with the lowest CUDA version the NVIDIA driver must support to run them.
CUDA_BUILDS = (((13, 0), "cu130"), ((12, 8), "cu128"), ((12, 6), "cu126"))


@dataclass(frozen=True)
class Machine:
    """What the choice depends on. ``cuda_driver``: the CUDA version the NVIDIA driver supports, None without one."""

    system: str  # platform.system(): Linux, Windows, Darwin
    arch: str  # platform.machine(): x86_64, AMD64, arm64, aarch64
    gpu: Optional[str] = None  # e.g. "NVIDIA H100 80GB HBM3"
    driver: Optional[str] = None  # e.g. "580.95.05"
    cuda_driver: Optional[tuple] = None  # e.g. (13, 0)

    @property
    def apple_silicon(self) -> bool:
        return self.system == "Darwin" and self.arch.lower() in ("arm64", "aarch64")

    def describe(self) -> str:
        where = f"{self.system} {self.arch}"
        if self.gpu:
            cuda = ".".join(map(str, self.cuda_driver)) if self.cuda_driver else "unknown"
            return f"{where}, {self.gpu} (driver {self.driver}, CUDA {cuda})"
        return where + (", Apple silicon" if self.apple_silicon else ", no NVIDIA GPU found")


@dataclass(frozen=True)
class TorchSource:
    """Where torch comes from: ``kind`` cuda/cpu/default, the extra index (None: the default index), why."""

    kind: str
    index_url: Optional[str]
    reason: str
    refusal: Optional[str] = None  # set when no supported build exists for this machine

    def pip_options(self) -> list:
        return ["--extra-index-url", self.index_url] if self.index_url else []


def _run(command: list, timeout: float = 10.0) -> Optional[str]:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def detect_machine(run: Callable = _run, which: Callable = shutil.which, system=None, arch=None) -> Machine:
    """This machine, from platform and ``nvidia-smi`` (absent or failing: no usable NVIDIA GPU)."""
    system = system or platform.system()
    arch = arch or platform.machine()
    smi = which("nvidia-smi")
    if not smi:
        return Machine(system, arch)
    query = run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"])
    if not query or not query.strip():
        return Machine(system, arch)
    name, _, driver = query.strip().splitlines()[0].partition(",")
    banner = run([smi]) or ""
    match = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", banner)
    cuda = (int(match.group(1)), int(match.group(2))) if match else None
    return Machine(system, arch, gpu=name.strip(), driver=driver.strip() or None, cuda_driver=cuda)


def choose_source(machine: Machine) -> TorchSource:
    """The PyTorch build for `machine` (the CPU build whenever no GPU build fits)."""
    if machine.system == "Darwin":
        if machine.apple_silicon:
            return TorchSource("default", None, "Apple silicon: the default macOS build, which uses the GPU (MPS)")
        return TorchSource(
            "default",
            None,
            "Intel Mac",
            refusal="PyTorch publishes no builds for Intel Macs since torch 2.3; the plugin needs a newer torch "
            "(a Mac with Apple silicon, or Linux/Windows, runs it)",
        )
    if machine.gpu:
        if machine.cuda_driver is None:
            return _cpu(f"{machine.gpu} found, but its driver reports no CUDA version: the CPU build")
        for needed, tag in CUDA_BUILDS:
            if machine.cuda_driver >= needed:
                return TorchSource(
                    "cuda",
                    f"{TORCH_INDEX}/{tag}",
                    f"{machine.gpu} with driver {machine.driver} (CUDA {_v(machine.cuda_driver)}): "
                    f"the CUDA {_v(needed)} build ({tag})",
                )
        oldest = CUDA_BUILDS[-1][0]
        return _cpu(
            f"{machine.gpu} found, but its driver supports CUDA {_v(machine.cuda_driver)} and PyTorch's builds need "
            f"CUDA {_v(oldest)} or newer: the CPU build (update the NVIDIA driver, then Repair, to use the GPU)"
        )
    if machine.system == "Windows":
        return TorchSource("cpu", None, "no NVIDIA GPU found: the CPU build (PyPI's Windows build is the CPU one)")
    return _cpu("no NVIDIA GPU found: the CPU build")


def _cpu(reason: str) -> TorchSource:
    return TorchSource("cpu", f"{TORCH_INDEX}/cpu", reason)


def _v(version: tuple) -> str:
    return ".".join(map(str, version))


def fallback_to_default(source: TorchSource, why: str) -> TorchSource:
    """The same choice from the default index, when PyTorch's index is unreachable (said in the reason)."""
    if source.index_url is None:
        return source
    note = f"{source.index_url} cannot be reached ({why}); using the default package index instead"
    if source.kind == "cpu" and platform.system() == "Linux":
        note += ", whose Linux torch bundles the CUDA libraries (a much larger download)"
    return TorchSource(source.kind, None, f"{source.reason}. {note}")
