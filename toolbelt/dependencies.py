"""Which Python packages the engine needs, which of them the running Python lacks or has in a wrong version,
and the command that installs them where this Python can use them.

Checked with importlib's finders and the installed metadata only, so nothing heavy (torch) is imported at
plugin load. The version ranges come from :mod:`.requirements`.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Optional

from . import requirements as reqs

# import name -> pip requirement (kept for callers that read it)
REQUIRED_PACKAGES = {r.import_name: r.line for r in reqs.RUNTIME}


@dataclass(frozen=True)
class Status:
    requirement: reqs.Requirement
    version: Optional[str]  # None: not importable
    location: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.version is not None and (self.version == "" or self.requirement.accepts(self.version))

    def describe(self) -> str:
        r = self.requirement
        if self.version is None:
            return f"{r.name} (missing)"
        return f"{r.name} {self.version} (needs {r.specifier})"


def is_importable(name: str) -> bool:
    """True when `import name` can be expected to succeed, without importing it."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _installed_version(requirement: reqs.Requirement) -> tuple:
    """(version, location) of the distribution that `import` would find; version "" when unknown."""
    module = sys.modules.get(requirement.import_name)
    if module is not None and getattr(module, "__version__", None):
        return str(module.__version__), getattr(module, "__file__", None)
    spec = importlib.util.find_spec(requirement.import_name)
    location = spec.origin if spec is not None else None
    if location:
        # The dist-info beside the package folder is the one import uses (there may be others on sys.path).
        parent = Path(location).parent.parent
        found = metadata.distributions(path=[str(parent)])
        for dist in found:
            if reqs.normalize(dist.metadata["Name"] or "") == reqs.normalize(requirement.name):
                return dist.version, location
    try:
        return metadata.version(requirement.name), location
    except metadata.PackageNotFoundError:
        return "", location


def check(requirements=reqs.RUNTIME) -> list:
    """A :class:`Status` per requirement."""
    out = []
    for r in requirements:
        if not is_importable(r.import_name):
            out.append(Status(r, None))
            continue
        version, location = _installed_version(r)
        out.append(Status(r, version, location))
    return out


def missing_packages() -> list:
    """pip names of the required packages that cannot be imported or are outside their compatible range."""
    return [s.requirement.name for s in check() if not s.ok]


def missing_optional() -> list:
    """Optional packages that cannot be imported, as ``name (what it is for)``: e.g. captum for the Explain
    page's Grad-CAM heat maps. The plugin runs without them; the page that needs one says so."""
    return [f"{s.requirement.name} ({s.requirement.purpose})" for s in check(reqs.OPTIONAL) if not s.ok]


def problems() -> list:
    """Readable descriptions of what is wrong, e.g. ``torch (missing)``, ``timm 0.6.12 (needs >=0.9.16,<1.1)``."""
    return [s.describe() for s in check() if not s.ok]


def requirement_lines(packages: list) -> list:
    lines = []
    for p in packages:
        r = reqs.by_name(p.split("<")[0].split(">")[0].split("=")[0])
        if r is None and p.split("<")[0] == "numpy":
            continue
        lines.append(r.line if r is not None else p)
    return lines


def numpy_pin() -> str:
    """``numpy==<the running version>``: keeps pip from choosing releases that need another numpy."""
    try:
        return f"numpy=={metadata.version('numpy')}"
    except metadata.PackageNotFoundError:
        return "numpy<2"
