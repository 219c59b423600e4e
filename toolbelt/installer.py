"""Install the plugin's Python packages into the folder it owns, from inside QGIS (no Qt here).

The plan (:func:`make_plan`) and the install (:func:`install`) are two steps so the user sees what will be
downloaded, and how big it is, before anything is:

1. ``pip install --dry-run --report`` resolves the requirements of :mod:`.requirements` against what the
   running Python already has (the plugin's folder included), with a constraints file that pins every
   distribution QGIS has already imported (numpy, GDAL, PyQt5, ...) and the protected ones to the running
   version, so pip can never choose to replace them; the download size of each file comes from the index.
2. ``pip install --target <plugin folder> --no-deps <the exact files of the plan, hash-checked>``.
   Nothing is installed that the plan did not list, and the folder never receives numpy, GDAL or any
   distribution QGIS has imported (checked again afterwards: :func:`prune_protected`).

Where the automatic path cannot work (no pip, no network, no PyTorch build for the platform) it raises
:class:`InstallRefused` with one line saying why and the command that works on this platform
(:func:`manual_instructions`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

from . import requirements as reqs
from .dependencies import numpy_pin, requirement_lines
from .deps_folder import PROTECTED, deps_folder, deps_root, prune_protected
from .torch_build import PYPI_SIMPLE, Machine, TorchSource, choose_source, detect_machine, fallback_to_default

MANIFEST = "eurosat_landcover_install.json"
# Needed by torch only to compile C++ extensions (torch.utils.cpp_extension), which the plugin never does:
# not pinned, and not installed when the running Python has any version (Debian 12 has setuptools 66.1,
# torch 2.14 asks for >=77.0.3).
BUILD_TOOLS = ("setuptools", "pip", "wheel")


class InstallRefused(Exception):
    """Automatic installation is not possible here: ``reason`` (one line) and ``manual`` (what works)."""

    def __init__(self, reason: str, manual: str):
        super().__init__(f"{reason}. {manual}")
        self.reason = reason
        self.manual = manual


class InstallFailed(Exception):
    """pip ran and failed (the last lines of its log are in the message)."""


@dataclass
class Package:
    name: str
    version: str
    url: str
    size: Optional[int]  # bytes; None when the index did not say
    requested: bool

    def describe(self) -> str:
        return f"{self.name} {self.version} ({format_size(self.size)})"


@dataclass
class Plan:
    """What :func:`install` will do: into ``target``, these ``packages`` (exact files), torch from ``source``."""

    target: Path
    requirements: list
    packages: list
    source: TorchSource
    machine: Machine
    python: str
    pinned: dict = field(default_factory=dict)  # name -> version QGIS provides, kept as it is
    index_options: list = field(default_factory=list)
    build_tools: dict = field(default_factory=dict)  # asked for by a package, the running Python's kept
    proxy: Optional[str] = field(default=None, repr=False)  # given to pip through its environment

    @property
    def total_size(self) -> Optional[int]:
        sizes = [p.size for p in self.packages]
        return None if any(s is None for s in sizes) else sum(sizes)

    def describe(self) -> str:
        """A few lines for the dock and the log."""
        if not self.packages:
            return "Nothing to download: every package is already there in a compatible version."
        unknown = sum(p.size is None for p in self.packages)
        known = sum(p.size or 0 for p in self.packages)
        size = format_size(known) + (f" + {unknown} file(s) of unknown size" if unknown else "")
        lines = [
            f"Download {len(self.packages)} package(s), {size}, into {self.target}:",
            _largest(self.packages),
        ]
        if self.source.kind != "none":
            lines.append(f"PyTorch: {self.source.reason}.")
        kept = [f"{n} {self.pinned[n]}" for n in ("numpy", "gdal") if n in self.pinned]
        kept += [f"{n} {v}" for n, v in self.build_tools.items()]
        if kept:
            lines.append(f"Kept as QGIS has them: {', '.join(kept)}.")
        return "\n".join(lines)


def _largest(packages: list, shown: int = 8) -> str:
    """The largest packages by name and size, then how many others and their total."""
    ordered = sorted(packages, key=lambda p: -(p.size or 0))
    text = ", ".join(p.describe() for p in ordered[:shown])
    rest = ordered[shown:]
    if rest:
        text += f" and {len(rest)} smaller ({format_size(sum(p.size or 0 for p in rest))})"
    return text


def format_size(size: Optional[int]) -> str:
    if size is None:
        return "size unknown"
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    if size >= 1e6:
        return f"{size / 1e6:.1f} MB"
    return f"{max(size / 1e3, 0.1):.1f} kB"


# The Python that runs pip ---------------------------------------------------------------------------------
def python_for_pip() -> Optional[str]:
    """The Python interpreter of the running QGIS (inside QGIS ``sys.executable`` is often QGIS itself, or
    whatever ``python3`` comes first on PATH, e.g. a pyenv shim: each candidate must report this Python's
    version and prefix). Found once per session (it runs a few interpreters)."""
    return _python_for(sys.executable or "")


@functools.lru_cache(maxsize=4)
def _python_for(executable: str) -> Optional[str]:
    exe = Path(executable)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    names = ("python.exe", "python3.exe") if os.name == "nt" else (f"python{version}", "python3", "python")
    candidates = [folder / name for folder in (Path(sys.exec_prefix) / "bin", Path(sys.exec_prefix)) for name in names]
    if exe.name.lower().startswith("python"):
        candidates.insert(0, exe)
    candidates += [exe.parent / name for name in names]
    seen = set()
    for candidate in candidates:
        if candidate in seen or not candidate.is_file():
            continue
        seen.add(candidate)
        if _same_python(str(candidate)):
            return str(candidate)
    return None


_IDENTITY = "import sys; print(sys.version_info[0], sys.version_info[1], sys.base_exec_prefix)"


def _same_python(python: str) -> bool:
    """True when `python` is this interpreter (same version and installation), not another one on PATH."""
    try:
        out = subprocess.run(
            [python, "-c", _IDENTITY], capture_output=True, text=True, timeout=20, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == f"{sys.version_info[0]} {sys.version_info[1]} {sys.base_exec_prefix}"


def pip_problem(python: Optional[str]) -> Optional[str]:
    """None when ``python -m pip`` works, else why not."""
    if not python:
        return "the Python interpreter that runs QGIS was not found"
    try:
        result = subprocess.run(
            [python, "-m", "pip", "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{python} cannot be run ({exc})"
    if result.returncode != 0:
        return f"pip is not installed for {python}"
    return None


def _pip_missing(python: Optional[str]) -> bool:
    """For the messages, cheaply: can this interpreter find pip? (No subprocess: the messages are built when
    the plugin loads; the installer itself runs ``python -m pip --version``.)"""
    import importlib.util

    return python is None or importlib.util.find_spec("pip") is None


# Where the plugin runs: the manual commands ------------------------------------------------------------
def platform_kind() -> str:
    """flatpak, conda, osgeo4w, windows, macos-app, macos, debian (PEP 668 system Python), linux."""
    prefix = Path(sys.prefix)
    if Path("/.flatpak-info").exists():
        return "flatpak"
    if (prefix / "conda-meta").is_dir():
        return "conda"
    if os.name == "nt":
        return "osgeo4w" if "OSGEO4W_ROOT" in os.environ or "osgeo4w" in str(prefix).lower() else "windows"
    if sys.platform == "darwin":
        return "macos-app" if ".app/" in str(Path(sys.executable)) + str(prefix) + "/" else "macos"
    if sys.prefix == sys.base_prefix and externally_managed():
        return "debian"
    return "linux"


def externally_managed() -> bool:
    """True for a PEP 668 system Python (Debian 12, Ubuntu 23.04+): plain ``pip install`` is refused there."""
    import sysconfig

    return (Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").is_file()


def install_command(packages: list, target: Optional[Path] = None, python: Optional[str] = None) -> str:
    """A shell command that installs `packages` (pip names) with their compatible ranges into the plugin's own
    package folder (``pip install --target``), where the plugin finds them when it loads.

    ``--target`` works on every platform, needs no administrator rights, and is allowed by Debian's and
    Ubuntu's system Python (PEP 668 refuses a plain ``pip install`` there). numpy is pinned to the version
    the running Python already has, because GDAL and QGIS are built against it.
    """
    target = Path(target) if target is not None else deps_folder()
    python = python or python_for_pip() or "python3"
    words = [python, "-m", "pip", "install", "--target", str(target), *requirement_lines(packages), numpy_pin()]
    return " ".join(shlex.quote(w) for w in words)


def manual_command(packages: list, target: Optional[Path] = None, python: Optional[str] = None) -> str:
    """``python -m pip install --target <plugin folder> <requirements> numpy==<running>`` for this platform."""
    kind = platform_kind()
    if kind == "flatpak":
        inner = install_command(packages, target, python="python3")
        return "flatpak run --command=python3 org.qgis.qgis " + inner.split(" ", 1)[1]
    if kind in ("osgeo4w", "windows"):
        return install_command(packages, target, python="python")
    return install_command(packages, target, python)


def manual_instructions(packages: list, target: Optional[Path] = None, reason: str = "") -> str:
    """The way that works on this platform, as text for the dock and the message bar."""
    kind = platform_kind()
    python = python_for_pip()
    no_pip = _pip_missing(python)
    command = manual_command(packages, target, python)
    if kind == "conda":
        names = " ".join("pytorch" if p == "torch" else p for p in packages)
        return f"In this conda environment run: conda install -c conda-forge {names}"
    if kind == "osgeo4w":
        return f"Open the OSGeo4W Shell (Start menu) and run:\n{command}"
    if kind == "windows":
        return f"In a command prompt with QGIS's Python on the PATH run:\n{command}"
    if kind == "flatpak":
        return f"In a terminal run:\n{command}"
    if kind in ("macos-app", "macos"):
        prefix = f"{shlex.quote(python or 'python3')} -m ensurepip --user && " if no_pip else ""
        return f"In Terminal run:\n{prefix}{command}"
    if kind == "debian":
        first = "sudo apt install python3-pip && " if no_pip else ""
        return f"In a terminal run (Debian/Ubuntu: --target keeps it out of the system Python):\n{first}{command}"
    first = f"{shlex.quote(python or 'python3')} -m ensurepip --user && " if no_pip else ""
    return f"In a terminal run:\n{first}{command}"


# The network ---------------------------------------------------------------------------------------------
def configured_index(python: str) -> str:
    """The index pip uses (PIP_INDEX_URL, pip's configuration, else PyPI)."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    try:
        out = subprocess.run(
            [python, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".index-url") and not key.strip().endswith("extra-index-url"):
            return value.strip().strip("'\"")
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


# What the running Python provides -------------------------------------------------------------------------
def provided_distributions(exclude: Optional[Path] = None) -> dict:
    """{normalized name: (name, version)} of the distributions on ``sys.path``, the plugin's folder excluded."""
    root = str(Path(exclude or deps_root()).resolve())
    paths = [p for p in sys.path if p and not str(Path(p).resolve()).startswith(root)]
    found = {}
    for dist in metadata.distributions(path=paths):
        name = dist.metadata["Name"]
        if name and reqs.normalize(name) not in found:
            found[reqs.normalize(name)] = (name, dist.version)
    return found


def imported_distributions() -> set:
    """Normalized names of the distributions whose modules the running Python has imported (QGIS's own)."""
    try:
        mapping = metadata.packages_distributions()
    except AttributeError:  # Python < 3.10
        return set()
    top = {name.split(".")[0] for name in list(sys.modules)}
    return {reqs.normalize(d) for module in top for d in mapping.get(module, ())}


def pins(provided: dict, own: tuple) -> dict:
    """{name: version} pip must keep: the protected and imported distributions, except the plugin's own."""
    keep = set(PROTECTED) | imported_distributions()
    ours = {reqs.normalize(r.name) for r in own} | set(BUILD_TOOLS)
    return {
        name: version
        for key, (name, version) in provided.items()
        if key in keep and key not in ours and re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version)
    }


# Plan -----------------------------------------------------------------------------------------------------
def make_plan(
    requirements: Optional[list] = None,
    target: Optional[Path] = None,
    python: Optional[str] = None,
    machine: Optional[Machine] = None,
    source: Optional[TorchSource] = None,
    index_url: Optional[str] = None,
    probe: Optional[Callable] = None,
    on_line: Callable = lambda line: None,
    proxy: Optional[str] = None,
) -> Plan:
    """Resolve what must be downloaded (nothing is installed). Raises :class:`InstallRefused`.

    ``proxy``: ``http://[user:password@]host:port`` for pip and the size requests (QGIS's own proxy
    setting, which pip would not see otherwise); ``probe(url)``: the reachability check (tests).
    """
    probe = probe or (lambda url: unreachable(url, proxy=proxy))
    requirement_objs = list(reqs.RUNTIME)
    lines = [r.line for r in requirement_objs] if requirements is None else list(requirements)
    target = Path(target) if target is not None else deps_folder()
    names = [re.split(r"[<>=!~ \[;]", line, maxsplit=1)[0] for line in lines]
    python = python or python_for_pip()
    problem = pip_problem(python)
    if problem:
        raise InstallRefused(f"Cannot install automatically: {problem}", manual_instructions(names, target))
    index = index_url or configured_index(python)
    why = probe(index)
    if why:
        raise InstallRefused(
            f"Cannot install automatically: the package index {index} cannot be reached "
            f"{'through the proxy ' + _masked(proxy) + ' ' if proxy else ''}({why}); "
            "check the network connection or proxy (QGIS Settings \u2192 Options \u2192 Network)",
            manual_instructions(names, target),
        )
    machine = machine or detect_machine()
    if source is None and not any(n in ("torch", "torchvision") for n in names):
        source = TorchSource("none", None, "not part of this install")
    if source is None:
        source = choose_source(machine)
        if source.refusal:
            raise InstallRefused(f"Cannot install PyTorch here: {source.refusal}", manual_instructions(names, target))
        if source.index_url:
            why = probe(source.index_url)
            if why:
                source = fallback_to_default(source, why)
    options = index_options(source, names, index_url)
    provided = provided_distributions(exclude=target.parent)
    pinned = pins(provided, tuple(requirement_objs))
    missing_protected = [n for n in ("numpy",) if n not in provided]
    if missing_protected:
        raise InstallRefused(
            "Cannot install automatically: the Python running QGIS has no numpy, which the plugin never installs "
            "itself (it must be the one GDAL is built with)",
            "Install numpy with QGIS's own installer or package manager "
            "(Debian/Ubuntu: sudo apt install python3-numpy)",
        )
    with tempfile.TemporaryDirectory(prefix="eurosat-plan-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pinned.items())), encoding="utf-8")
        report_path = Path(tmp) / "report.json"
        command = [
            python,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--upgrade-strategy=only-if-needed",
            "--report",
            str(report_path),
            "--disable-pip-version-check",
            "--no-input",
            "-c",
            str(constraints),
            *options,
            *lines,
        ]
        on_line("$ " + " ".join(shlex.quote(c) for c in command))
        result = _run_pip(command, target_on_path=target, on_line=on_line, proxy=proxy)
        if result.returncode != 0:
            raise InstallFailed(_pip_failure("pip could not resolve the packages", result.log, pinned))
        report = json.loads(report_path.read_text(encoding="utf-8"))
    packages = []
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        info = item.get("download_info", {})
        url = info.get("url", "")
        digest = _hash(info)
        if digest and "#" not in url:
            url = f"{url}#{digest}"
        name, version = meta.get("name", "?"), meta.get("version", "?")
        packages.append(Package(name, version, url, None, bool(item.get("requested"))))
    bad = [p.name for p in packages if reqs.normalize(p.name) in set(PROTECTED) | {reqs.normalize(n) for n in pinned}]
    if bad:
        raise InstallRefused(
            f"Cannot install automatically: pip wants to replace {', '.join(bad)}, which QGIS provides",
            manual_instructions(names, target),
        )
    kept = {}
    for p in [p for p in packages if reqs.normalize(p.name) in BUILD_TOOLS and reqs.normalize(p.name) in provided]:
        packages.remove(p)
        kept[p.name] = provided[reqs.normalize(p.name)][1]
    for p in packages:
        p.size = download_size(p.url, proxy=proxy)
    return Plan(target, lines, packages, source, machine, python, pinned, options, kept, proxy)


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


# Install, repair, remove ----------------------------------------------------------------------------------
def install(plan: Plan, on_line: Callable = lambda line: None, is_canceled: Callable = lambda: False) -> list:
    """Install exactly the plan's files into its target; returns the installed ``name version`` list."""
    plan.target.mkdir(parents=True, exist_ok=True)
    if plan.packages:
        command = [
            plan.python,
            "-m",
            "pip",
            "install",
            "--target",
            str(plan.target),
            "--no-deps",
            "--upgrade",
            "--no-input",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            *plan.index_options,
            *[p.url or f"{p.name}=={p.version}" for p in plan.packages],
        ]
        on_line("$ " + " ".join(shlex.quote(c) for c in command))
        result = _run_pip(command, None, on_line, is_canceled, plan.proxy)
        if result.returncode == -1:
            raise InstallFailed("installation cancelled")
        if result.returncode != 0:
            raise InstallFailed(_pip_failure("pip failed", result.log, plan.pinned))
    removed = prune_protected(plan.target)
    for name in removed:
        on_line(f"removed {name} from {plan.target}: QGIS's own copy is used")
    _write_manifest(plan)
    return [f"{p.name} {p.version}" for p in plan.packages]


def _write_manifest(plan: Plan) -> None:
    manifest = plan.target / MANIFEST
    tmp = manifest.with_suffix(".json.tmp")
    data = {
        "requirements": plan.requirements,
        "packages": {p.name: p.version for p in plan.packages},
        "torch_source": plan.source.kind,
        "torch_index": plan.source.index_url,
        "reason": plan.source.reason,
        "machine": plan.machine.describe(),
    }
    previous = read_manifest(plan.target)
    if previous:
        data["packages"] = {**previous.get("packages", {}), **data["packages"]}
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(manifest)


def read_manifest(target: Optional[Path] = None) -> dict:
    path = Path(target or deps_folder()) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def remove(root: Optional[Path] = None) -> Optional[Path]:
    """Delete the plugin's package folder (every Python version); returns what was deleted."""
    root = Path(root or deps_root())
    if not root.exists():
        return None
    if root.name != "eurosat_landcover_deps" and not (root / f"py{sys.version_info[0]}.{sys.version_info[1]}").exists():
        raise InstallFailed(f"refusing to delete {root}: it is not the plugin's package folder")
    trash = root.with_name(root.name + ".removing")
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
    try:
        root.rename(trash)  # one atomic step: the folder is either there or gone
    except OSError:  # Windows: this session has loaded libraries from it; finish when the plugin next loads
        pending_removal(root).write_text("remove when the plugin loads\n", encoding="utf-8")
        return pending_removal(root)
    shutil.rmtree(trash, ignore_errors=True)
    return root


def pending_removal(root: Path) -> Path:
    """The marker that makes the plugin delete ``root`` the next time it loads (see deps_folder)."""
    from .deps_folder import pending_removal_marker

    return pending_removal_marker(root)


def repair_plan(target: Optional[Path] = None, **kwargs) -> Plan:
    """A plan that reinstalls every requirement into an emptied folder (same arguments as make_plan)."""
    target = Path(target) if target is not None else deps_folder()
    if target.exists():
        trash = target.with_name(target.name + ".repairing")
        shutil.rmtree(trash, ignore_errors=True)
        try:
            target.rename(trash)
        except OSError as exc:
            raise InstallFailed(
                f"{target} is in use by this QGIS session ({exc.strerror}): press Remove, restart QGIS, "
                "then Install dependencies"
            ) from exc
        shutil.rmtree(trash, ignore_errors=True)
    return make_plan(target=target, **kwargs)


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
