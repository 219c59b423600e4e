"""core/ and models/ hold no Qt and no QGIS: importing every module of them in a fresh
interpreter loads neither (the rule of docs/notes/CONTRACTS.md, checked rather than trusted)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import eurosat_landcover

PACKAGES = ("core", "models")

SCRIPT = """
import importlib, json, pkgutil, sys
import eurosat_landcover
names = []
for pkg in {packages!r}:
    mod = importlib.import_module("eurosat_landcover." + pkg)
    names.append(mod.__name__)
    for info in pkgutil.walk_packages(mod.__path__, mod.__name__ + "."):
        importlib.import_module(info.name)
        names.append(info.name)
gui = sorted(m for m in sys.modules if m.split(".")[0] in ("qgis", "PyQt5", "PyQt6", "sip", "PyQt"))
print(json.dumps({{"imported": names, "gui": gui}}))
"""


def test_core_and_models_import_without_qgis_or_qt():
    root = Path(eurosat_landcover.__file__).parent
    expected = {
        f"eurosat_landcover.{pkg}." + ".".join(p.relative_to(root / pkg).with_suffix("").parts)
        for pkg in PACKAGES
        for p in (root / pkg).rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(packages=PACKAGES)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["gui"] == [], f"core/models pulled in {report['gui']}"
    assert expected <= set(report["imported"]), sorted(expected - set(report["imported"]))
    assert len(report["imported"]) > 30


def test_the_walk_covers_the_stage_modules():
    """The subprocess walks packages with pkgutil: the stages must be a package it can see."""
    import eurosat_landcover.core as core

    names = {m.name for m in pkgutil.walk_packages(core.__path__, "eurosat_landcover.core.")}
    assert {"eurosat_landcover.core.stages.prepare", "eurosat_landcover.core.stages.run_windows"} <= names
