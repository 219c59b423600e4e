"""The one place for the Python packages the plugin needs and their compatible version ranges.

requirements.txt, the in-QGIS installer (:mod:`.installer`) and the dependency check
(:mod:`.dependencies`) all read these ranges; ``tests/test_installer_requirements.py`` checks that
requirements.txt agrees. A range's lower bound is the oldest release the engine was run with, its upper
bound excludes the next minor release not run yet, so a future release cannot silently break the plugin
(docs/notes/install.md: how each bound was checked).

Plain Python only (no Qt, no QGIS, no ``packaging``): the plugin reads this at load time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Requirement:
    """A distribution (pip name), the module it provides and its compatible range (``>=a,<b``)."""

    name: str
    import_name: str
    specifier: str
    purpose: str
    extras: str = ""  # e.g. "[distributed]"

    @property
    def line(self) -> str:
        """The requirement as pip and requirements.txt write it, e.g. ``torch>=2.14,<2.15``."""
        return f"{self.name}{self.extras}{self.specifier}"

    def accepts(self, version: str) -> bool:
        return version_in_range(version, self.specifier)


# What the engine needs to run (Classify, Processing, CLI).
RUNTIME = (
    Requirement("torch", "torch", ">=2.14,<2.15", "the neural-network engine"),
    Requirement("torchvision", "torchvision", ">=0.29,<0.30", "image models (built for one torch release)"),
    Requirement("timm", "timm", ">=0.9.16,<1.1", "the EfficientNet-Lite architecture of the bundled model"),
    Requirement("safetensors", "safetensors", ">=0.4.3,<0.9", "reading model weights without unpickling"),
)

# Needed by one page only; the installer offers them, the plugin runs without them.
OPTIONAL = (
    Requirement("captum", "captum", ">=0.8,<0.10", "Grad-CAM heat maps (Explain page, predict --gradcam)"),
    Requirement("dask", "distributed", ">=2024.8,<2027", "classify-many on a Dask cluster", "[distributed]"),
)

# Provided by QGIS itself: never installed by the plugin, only required to be importable.
PROVIDED_BY_QGIS = ("numpy", "osgeo")


def by_name(name: str) -> Requirement | None:
    key = normalize(name)
    return next((r for r in RUNTIME + OPTIONAL if normalize(r.name) == key), None)


def normalize(name: str) -> str:
    """PEP 503 name: ``Foo_Bar`` -> ``foo-bar``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> tuple:
    """The numeric release of a version, local and pre-release parts dropped: ``2.14.1+cu130`` -> (2, 14, 1)."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(p) for p in match.group(1).split("."))


def _compare(a: tuple, b: tuple) -> int:
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


_OPERATORS = {
    ">=": lambda c: c >= 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    "<": lambda c: c < 0,
    "==": lambda c: c == 0,
    "!=": lambda c: c != 0,
}


def version_in_range(version: str, specifier: str) -> bool:
    """True when ``version`` satisfies every clause of ``specifier`` (``>=2.14,<2.15``; release numbers only)."""
    have = release(version)
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        match = re.fullmatch(r"(>=|<=|==|!=|>|<)\s*([\w.+]+)", clause)
        if not match:
            raise ValueError(f"unsupported version clause {clause!r} in {specifier!r}")
        op, bound = match.groups()
        if not _OPERATORS[op](_compare(have, release(bound))):
            return False
    return True
