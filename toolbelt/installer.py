"""Install the plugin's Python packages into the folder it owns, from inside QGIS (no Qt here).

The plan (:func:`make_plan`) and the install (:func:`install`) are two steps so the user sees what will be
downloaded, and how big it is, before anything is:

1. The requirements of :mod:`.requirements` are resolved against what the running Python already has (the
   plugin's folder included), every distribution QGIS has already imported (numpy, GDAL, PyQt5, ...) and the
   protected ones pinned to the running version, so nothing can replace them: from the index's JSON API
   (:mod:`.index_plan`, nothing downloaded; file sizes and hashes from the API), else, with a note saying why,
   by ``pip install --dry-run --report`` with a constraints file (which may download packages to read their
   metadata); the download size of each file then comes from the index.
2. ``pip install --target <plugin folder> --no-deps <the exact files of the plan, hash-checked>``.
   Nothing is installed that the plan did not list, and the folder never receives numpy, GDAL or any
   distribution QGIS has imported (checked again afterwards: :func:`prune_protected`).

Where the automatic path cannot work (no pip, no network, no PyTorch build for the platform) it raises
:class:`InstallRefused` with one line saying why and the command that works on this platform
(:func:`manual_instructions`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import ReadableError
from . import requirements as reqs
from .dependencies import numpy_pin, requirement_lines
from .deps_folder import PROTECTED, deps_folder, deps_root, prune_protected
from .device_probe import device_summary, probe_device
from .index_plan import JsonPlanUnavailable, fetcher, installed_in, json_root, pip_sources, plan_from_json
from .package_index import _hash, _masked, configured_index, download_size, index_options, unreachable
from .pip_run import _pip_failure, _run_pip
from .python_env import BUILD_TOOLS, _pip_missing, pins, pip_problem, provided_distributions, python_for_pip
from .torch_build import Machine, TorchSource, choose_source, detect_machine, fallback_to_default

# Re-exported: the installer's callers and tests reach the whole job through this module.
__all__ = [
    "BUILD_TOOLS",
    "InstallFailed",
    "InstallRefused",
    "Package",
    "Plan",
    "configured_index",
    "device_summary",
    "download_size",
    "format_size",
    "index_options",
    "install",
    "install_command",
    "make_plan",
    "manual_command",
    "manual_instructions",
    "pip_problem",
    "platform_kind",
    "probe_device",
    "prune_protected",
    "python_for_pip",
    "read_manifest",
    "remove",
    "repair_plan",
    "unreachable",
]

MANIFEST = "eurosat_landcover_install.json"


class InstallRefused(ReadableError):
    """Automatic installation is not possible here: ``reason`` (one line) and ``manual`` (what works)."""

    def __init__(self, reason: str, manual: str):
        super().__init__(f"{reason}. {manual}")
        self.reason = reason
        self.manual = manual


class InstallFailed(ReadableError):
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
    how: str = ""  # how the plan was worked out (the JSON API, or pip's resolver and why)

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
        if self.how:
            lines.append(self.how)
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

    Args:
        requirements: pip requirement lines (default: every runtime requirement of :mod:`.requirements`).
        target: the folder to install into (default: the plugin's own package folder).
        python: the interpreter that runs pip (default: the one running QGIS).
        machine, source: the detected machine and the chosen PyTorch build (detected/chosen when None).
        index_url: the package index (default: pip's configured one).
        probe: ``probe(url) -> None or why``, the reachability check (tests).
        on_line: receives every line pip prints.
        proxy: ``http://[user:password@]host:port`` for pip and the size requests (QGIS's own proxy
            setting, which pip would not see otherwise).

    Returns:
        The :class:`Plan`: the exact files, their sizes, the pins and the PyTorch source.
    """
    probe = probe or (lambda url: unreachable(url, proxy=proxy))
    requirement_objs = list(reqs.RUNTIME)
    lines = [r.line for r in requirement_objs] if requirements is None else list(requirements)
    target = Path(target) if target is not None else deps_folder()
    names = [re.split(r"[<>=!~ \[;]", line, maxsplit=1)[0] for line in lines]
    python = python or python_for_pip()
    _check_pip_and_index(python, index_url, probe, proxy, names, target)
    machine = machine or detect_machine()
    source = _torch_source(source, machine, names, target, probe)
    options = index_options(source, names, index_url)
    provided = provided_distributions(exclude=target.parent)
    pinned = pins(provided, tuple(requirement_objs))
    if "numpy" not in provided:
        raise InstallRefused(
            "Cannot install automatically: the Python running QGIS has no numpy, which the plugin never installs "
            "itself (it must be the one GDAL is built with)",
            "Install numpy with QGIS's own installer or package manager "
            "(Debian/Ubuntu: sudo apt install python3-numpy)",
        )
    packages, how = _resolve(python, options, lines, pinned, provided, target, index_url, on_line, proxy)
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
    for p in [p for p in packages if p.size is None]:
        p.size = download_size(p.url, proxy=proxy)
    return Plan(target, lines, packages, source, machine, python, pinned, options, kept, proxy, how)


def _resolve(python, options, lines, pinned, provided, target, index_url, on_line, proxy) -> tuple:
    """(packages, how they were worked out): from the index's JSON API (nothing downloaded), else pip's dry run."""
    index = index_url or configured_index(python)
    try:
        installed = {**provided, **installed_in(target)}
        fetch, other = fetcher(json_root(index), proxy), pip_sources(python)
        found = plan_from_json(lines, pinned, installed, fetch, options, other)
    except JsonPlanUnavailable as exc:
        on_line(f"planning with pip's resolver: the index's JSON API cannot be used ({exc})")
        how = (
            f"Worked out by pip's resolver, because the index's JSON API could not be used ({exc}): pip downloads "
            "the packages whose metadata the index does not serve on its own, to read it."
        )
        return _report_packages(_dry_run(python, options, lines, pinned, target, on_line, proxy)), how
    on_line(f"planned from {json_root(index)}/<name>/json: {len(found)} file(s), nothing downloaded")
    how = "Worked out from the package index's JSON API: nothing has been downloaded yet."
    return [Package(name, version, url, size, requested) for name, version, url, size, requested in found], how


def _check_pip_and_index(python, index_url, probe, proxy, names: list, target: Path) -> None:
    """Raise :class:`InstallRefused` when pip cannot run or the package index does not answer."""
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


def _torch_source(source, machine: Machine, names: list, target: Path, probe) -> TorchSource:
    """The PyTorch build to install: the given one, none when torch is not asked for, else the machine's."""
    if source is not None:
        return source
    if not any(n in ("torch", "torchvision") for n in names):
        return TorchSource("none", None, "not part of this install")
    source = choose_source(machine)
    if source.refusal:
        raise InstallRefused(f"Cannot install PyTorch here: {source.refusal}", manual_instructions(names, target))
    if source.index_url:
        why = probe(source.index_url)
        if why:
            source = fallback_to_default(source, why)
    return source


def _dry_run(python: str, options: list, lines: list, pinned: dict, target: Path, on_line, proxy) -> dict:
    """``pip install --dry-run --report`` under the pins; returns pip's JSON report."""
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
        return json.loads(report_path.read_text(encoding="utf-8"))


def _report_packages(report: dict) -> list:
    """The :class:`Package` list of a pip report, each URL carrying its hash."""
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
    return packages


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
