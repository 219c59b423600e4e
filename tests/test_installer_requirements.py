"""The one place for version ranges (toolbelt/requirements.py) and the files and checks that use it."""

import re
import sys
import types
from pathlib import Path

import pytest
from eurosat_landcover.toolbelt import advice, dependencies
from eurosat_landcover.toolbelt import requirements as reqs

REPO_ROOT = Path(__file__).resolve().parents[1]


def _requirements_txt() -> dict:
    lines = {}
    for raw in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]
            lines[reqs.normalize(name)] = line
    return lines


@pytest.mark.parametrize("requirement", reqs.RUNTIME + reqs.OPTIONAL, ids=lambda r: r.name)
def test_requirements_txt_agrees(requirement):
    assert _requirements_txt().get(reqs.normalize(requirement.name)) == requirement.line


def test_runtime_ranges_are_bounded_both_ways():
    for r in reqs.RUNTIME:
        assert ">=" in r.specifier and "<" in r.specifier.replace("<=", ""), r


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ("2.14.1+cu130", ">=2.14,<2.15", True),
        ("2.14.0", ">=2.14,<2.15", True),
        ("2.15.0", ">=2.14,<2.15", False),
        ("2.13.1+cpu", ">=2.14,<2.15", False),
        ("0.9.16", ">=0.9.16,<1.1", True),
        ("1.0.31", ">=0.9.16,<1.1", True),
        ("1.1.0.dev0", ">=0.9.16,<1.1", False),
        ("0.4.3", ">=0.4.3,<0.9", True),
        ("0.9", ">=0.4.3,<0.9", False),
    ],
)
def test_version_in_range(version, spec, ok):
    assert reqs.version_in_range(version, spec) is ok


def test_the_installed_engine_is_in_range():
    """The venv the suite runs in has what requirements.txt asks for, and the check agrees."""
    statuses = dependencies.check()
    assert [s.requirement.name for s in statuses] == [r.name for r in reqs.RUNTIME]
    assert all(s.ok for s in statuses), [s.describe() for s in statuses]
    assert dependencies.missing_packages() == []


def test_an_out_of_range_version_counts_as_missing(monkeypatch):
    """A torch outside the range (here a fake module already imported as version 2.3.0) must be installed."""
    fake = types.ModuleType("torch")
    fake.__version__ = "2.3.0"
    fake.__file__ = "/somewhere/torch/__init__.py"
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert dependencies.missing_packages() == ["torch"]
    assert dependencies.problems() == ["torch 2.3.0 (needs >=2.14,<2.15)"]
    message = advice.missing_message(["torch"])
    assert "torch 2.3.0 (needs >=2.14,<2.15)" in message
    assert "'torch>=2.14,<2.15'" in message and "--target" in message
