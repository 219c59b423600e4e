"""After installing: ask a fresh interpreter which device torch sees, and say which one the plugin will use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from .deps_folder import deps_folder
from .python_env import python_for_pip
from .torch_build import Machine

# After installing: the device ----------------------------------------------------------------------------
_DEVICE_PROBE = r"""
import json, sys
out = {}
try:
    import torch
except Exception as exc:
    print(json.dumps({"error": f"torch cannot be imported: {exc}"})); sys.exit(0)
out["torch"] = torch.__version__
out["cuda_build"] = torch.version.cuda
out["cuda"] = bool(torch.cuda.is_available())
out["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if out["cuda"] else []
mps = getattr(torch.backends, "mps", None)
out["mps"] = bool(mps is not None and mps.is_available())
print(json.dumps(out))
"""


def probe_device(python: Optional[str] = None, target: Optional[Path] = None, timeout: float = 180) -> dict:
    """What torch sees, asked in a fresh interpreter with the plugin's folder first on its path."""
    python = python or python_for_pip() or sys.executable
    env = dict(os.environ)
    target = Path(target or deps_folder())
    if target.is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(target), env.get("PYTHONPATH", ""))))
    try:
        result = subprocess.run(
            [python, "-c", _DEVICE_PROBE], capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return {"error": f"torch could not be asked ({exc})"}


def device_summary(probe: dict, machine: Machine) -> tuple:
    """(text, warning or None): which device the plugin will use and why."""
    if "error" in probe:
        return probe["error"], probe["error"]
    torch = f"torch {probe['torch']}"
    if probe.get("cuda"):
        return f"GPU: {probe['gpus'][0] if probe['gpus'] else 'CUDA'} (CUDA {probe['cuda_build']}, {torch}).", None
    if probe.get("mps"):
        return f"Apple GPU (MPS), {torch}.", None
    if machine.gpu:
        if not probe.get("cuda_build"):
            why = f"{torch} is a CPU build"
        else:
            why = f"{torch} is built for CUDA {probe['cuda_build']}, which driver {machine.driver} cannot run"
        warning = f"{machine.gpu} is present but unused: {why}. Press Repair to install the matching build."
        return f"CPU ({torch}).", warning
    return f"CPU ({torch}): no GPU found ({machine.describe()}).", None
