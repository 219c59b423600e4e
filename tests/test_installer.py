"""The installer's real path against the real package index (PyPI), into temporary folders.

Skipped, with the reason, when PyPI cannot be reached from this machine. The package installed is tifffile:
pure Python, about 0.25 MB, and it depends on numpy, so the test sees that numpy is kept as it is.
"""

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import eurosat_landcover
import pytest
from eurosat_landcover.toolbelt import installer
from eurosat_landcover.toolbelt.deps_folder import ENV_VAR

PYPI = "https://pypi.org/simple"
SMALL = "tifffile"
DEBIAN_PYTHON = "/usr/bin/python3"
PLUGIN_PATH = Path(eurosat_landcover.__file__).parent.parent  # the folder that holds the plugin folder

_NUMPY = "import json, numpy; print(json.dumps([numpy.__version__, numpy.__file__]))"


@pytest.fixture
def pypi_only(monkeypatch):
    """pip reads no configuration file (no local mirror, no find-links): the real index only."""
    why = installer.unreachable(PYPI)
    if why:
        pytest.skip(f"{PYPI} cannot be reached from this machine ({why})")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)


def _fresh(python: str, code: str, env=None) -> dict:
    result = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_install_from_pypi_into_the_plugin_folder(pypi_only, tmp_path):
    root = tmp_path / "eurosat_landcover_deps"
    target = root / f"py{sys.version_info[0]}.{sys.version_info[1]}"
    numpy_before = _fresh(sys.executable, _NUMPY)
    lines = []
    plan = installer.make_plan([SMALL], target=target, index_url=PYPI, on_line=lines.append)

    # The plan: exactly the small package, from PyPI, with its size; numpy kept at the running version.
    assert [p.name for p in plan.packages] == [SMALL], plan.describe()
    (package,) = plan.packages
    assert package.url.startswith("https://") and "#sha256=" in package.url  # PyPI's files or a mirror's
    assert "JSON API: nothing has been downloaded yet" in plan.describe()  # toolbelt/index_plan.py
    assert 10_000 < package.size < 5_000_000
    assert plan.pinned["numpy"] == numpy_before[0]
    assert f"{SMALL} {package.version}" in plan.describe() and "kB" in plan.describe()
    assert f"numpy {numpy_before[0]}" in plan.describe()

    assert installer.install(plan, on_line=lines.append) == [f"{SMALL} {package.version}"]
    assert any("Successfully installed" in line for line in lines), lines
    assert (target / SMALL).is_dir() and not (target / "numpy").exists()
    assert installer.read_manifest(target)["packages"] == {SMALL: package.version}

    # A fresh interpreter started the way QGIS starts the plugin (classFactory) imports it from the folder.
    code = textwrap.dedent(
        f"""
        import json, sys
        from unittest.mock import MagicMock
        import eurosat_landcover
        eurosat_landcover.classFactory(MagicMock())
        import numpy, {SMALL}
        print(json.dumps(dict(small={SMALL}.__file__, numpy=[numpy.__version__, numpy.__file__], path=sys.path[0])))
        """
    )
    after = _fresh(sys.executable, code, {ENV_VAR: str(root), "QT_QPA_PLATFORM": "offscreen"})
    assert after["path"] == str(target)
    assert after["small"].startswith(str(target))
    assert after["numpy"] == numpy_before  # same version, same file

    # A second plan sees the folder's package as installed: nothing to download.
    again = installer.make_plan([SMALL], target=target, index_url=PYPI)
    assert again.packages == [] and "Nothing to download" in again.describe()
    # Repair empties the folder first, so the same package is planned again.
    repair = installer.repair_plan(target=target, requirements=[SMALL], index_url=PYPI)
    assert [p.name for p in repair.packages] == [SMALL] and not (target / SMALL).exists()


def test_debian_message_command_works_there(pypi_only, tmp_path):
    """On Debian's system Python (PEP 668) the command the dock shows is `pip install --target`, and it runs."""
    if not Path(DEBIAN_PYTHON).is_file():
        pytest.skip(f"{DEBIAN_PYTHON} is not here")
    target = tmp_path / "deps"
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(PLUGIN_PATH)!r})
        from eurosat_landcover.toolbelt import advice, installer
        print(json.dumps(dict(
            kind=installer.platform_kind(),
            managed=installer.externally_managed(),
            message=advice.missing_message(["torch", "timm"]),
            torch_command=installer.install_command(["torch", "timm"]),
            small_command=installer.install_command([{SMALL!r}], target={str(target)!r}),
        )))
        """
    )
    report = _fresh(DEBIAN_PYTHON, code)
    if not report["managed"]:
        pytest.skip(f"{DEBIAN_PYTHON} is not an externally managed (PEP 668) Python")
    assert report["kind"] == "debian"
    assert report["torch_command"] in report["message"]
    words = shlex.split(report["torch_command"])
    assert words[:5] == [DEBIAN_PYTHON, "-m", "pip", "install", "--target"]
    assert Path(words[5]).parent.name == "eurosat_landcover_deps" and Path(words[5]).name == "py3.11"
    assert "torch>=2.14,<2.15" in words and any(w.startswith("numpy==") for w in words)

    # The plain `pip install` the dock used to show is refused by this Python ...
    refused = subprocess.run(
        [DEBIAN_PYTHON, "-m", "pip", "install", "--dry-run", SMALL], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr
    # ... the same command form with a small package, into a temporary target, works.
    result = subprocess.run(shlex.split(report["small_command"]), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / SMALL).is_dir()
    # numpy came along (pinned to Debian's version); the plugin's import path deletes it when the plugin
    # loads, so QGIS's own numpy is the one imported.
    assert (target / "numpy").is_dir()
    numpy_debian = _fresh(DEBIAN_PYTHON, _NUMPY)
    load = (
        f"import sys; sys.path.insert(0, {str(PLUGIN_PATH)!r}); from pathlib import Path; "
        "from eurosat_landcover.toolbelt.deps_folder import add_to_sys_path; "
        f"assert add_to_sys_path(Path({str(target)!r})); import {SMALL}; "
    )
    assert _fresh(DEBIAN_PYTHON, load + _NUMPY) == numpy_debian
    assert not (target / "numpy").exists() and (target / SMALL).is_dir()
