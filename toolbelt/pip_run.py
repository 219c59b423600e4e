"""Run pip in a subprocess, streaming its lines and stopping it on cancel; turn its log into one readable line."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional


@dataclass
class _Result:
    returncode: int
    log: list


def _run_pip(
    command: list, target_on_path: Optional[Path], on_line: Callable, is_canceled=lambda: False, proxy=None
) -> _Result:
    """Run pip, streaming its output lines to ``on_line``; terminate it when ``is_canceled()``.
    A proxy goes through the environment, so its password is neither in the log nor on the command line."""
    env = dict(os.environ)
    if proxy:
        env.update({name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")})
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if target_on_path is not None and Path(target_on_path).is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(target_on_path), env.get("PYTHONPATH", ""))))
    log = []
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        log.append(line)
        if line:
            on_line(line)
        if is_canceled():
            process.terminate()
            break
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    return _Result(-1 if is_canceled() else code, log)


def _pip_failure(what: str, log: list, pinned: dict) -> str:
    if "The conflict is caused by:" in log:  # the lines that name the conflicting requirements
        start = log.index("The conflict is caused by:") + 1
        causes = [line.strip() for line in log[start : start + 6] if line.startswith(" ")]
        detail = "; ".join(causes)
    else:
        errors = [line for line in log if "ERROR" in line or "requires" in line]
        detail = " ".join(errors[-3:] or log[-3:])
    hint = ""
    if any(n in detail for n in pinned):
        hint = " (a package needs another version of one that QGIS provides, which the plugin never replaces)"
    return f"{what}{hint}: {detail.strip()}"
