"""The package index over the network: which index pip uses, whether it answers, file sizes, pip's index options."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

from .torch_build import PYPI_SIMPLE, TorchSource


# The network ---------------------------------------------------------------------------------------------
def pip_config(python: str) -> list:
    """``pip config list`` of ``python``'s pip as ``[(key, value)]`` (stripped); [] when pip cannot say."""
    try:
        out = subprocess.run(
            [python, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    pairs = [line.partition("=") for line in out.splitlines()]
    return [(key.strip(), value.strip()) for key, _, value in pairs]


def configured_index(python: str) -> str:
    """The index pip uses (PIP_INDEX_URL, pip's configuration, else PyPI)."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    for key, value in pip_config(python):
        if key.endswith(".index-url") and not key.endswith("extra-index-url"):
            return value.strip("'\"")
    return PYPI_SIMPLE


def _open(request, timeout: float, proxy: Optional[str]):
    """urlopen, through ``proxy`` when given (else the environment's proxy settings, as pip does)."""
    handlers = [urllib.request.ProxyHandler({"http": proxy, "https": proxy})] if proxy else []
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def unreachable(url: str, timeout: float = 8.0, proxy: Optional[str] = None) -> Optional[str]:
    """None when ``url`` answers (any HTTP status), else the error in a few words."""
    if url.startswith("file:"):
        return None if _file_path(url).exists() else "no such folder"
    try:
        with _open(urllib.request.Request(url.rstrip("/") + "/", method="HEAD"), timeout, proxy):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))


def _file_path(url: str) -> Path:
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))


def download_size(url: str, timeout: float = 15.0, proxy: Optional[str] = None) -> Optional[int]:
    """Bytes of a file on an index (HTTP Content-Length, or the local file's size)."""
    url = url.split("#", 1)[0]
    if url.startswith("file:"):
        path = _file_path(url)
        return path.stat().st_size if path.is_file() else None
    try:
        with _open(urllib.request.Request(url, method="HEAD"), timeout, proxy) as response:
            length = response.headers.get("Content-Length")
            return int(length) if length else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def index_options(source: TorchSource, names: list, index_url: Optional[str] = None) -> list:
    """pip's index options: the chosen PyTorch index (only when torch or torchvision is installed)."""
    options = [] if index_url is None else ["--index-url", index_url]
    return options + (source.pip_options() if any(n in ("torch", "torchvision") for n in names) else [])


def _masked(proxy: Optional[str]) -> str:
    """The proxy address without its password."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", proxy or "")


def _hash(download_info: dict) -> Optional[str]:
    archive = download_info.get("archive_info", {})
    hashes = archive.get("hashes") or {}
    if "sha256" in hashes:
        return f"sha256={hashes['sha256']}"
    value = archive.get("hash")
    return value.replace(":", "=", 1) if value and "=" not in value else value
