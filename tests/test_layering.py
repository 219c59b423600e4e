"""The layering of the package, read from the source (ast), every import included: module-level,
function-level, ``try`` and ``if TYPE_CHECKING`` ones alike (a lazy import is still an arrow).

Layers, top to bottom (an arrow may only point down; see README "Architecture"):

    ui ─> eurosat_processing ─┐
                              ├─> qgis_bridge ─> core ─> models
    cli ──────────────────────┘

``cli`` and ``ui`` are two entry points side by side (neither imports the other); ``cli`` reaches
the print layout (``qgis_bridge.print_layout``) downward, only when QGIS can be imported. core/
and models/ hold no Qt and no QGIS; models/ does not import core/. No two modules import each
other, directly or in a circle. ``errors`` (the readable-error base) sits below them all.
``toolbelt`` (the dependency installer) and the plugin's entry modules are outside these layers
but still may not form circles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

import pytest

PACKAGE = "eurosat_landcover"
ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"tests", "benchmarks", "scripts", "docs", "__pycache__", ".venv", ".pp", "sample_data", "icons"}
GUI = ("qgis", "PyQt5", "PyQt6", "PyQt", "sip", "processing")  # ``processing``: QGIS's own Processing package
PROCESSING = "eurosat_processing"  # our Processing provider package


def package_modules(root: Path) -> dict[str, Path]:
    """Dotted names (relative to the package, ``core.pipeline``; ``""`` for the root ``__init__``) -> files."""
    modules = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if SKIP_DIRS & set(rel.parts[:-1]) or any(p.startswith(".") for p in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _absolute(name: str, level: int, module: str, modules: dict[str, Path]) -> str:
    """The package-relative target of ``from <level dots><name> import ...`` inside ``module``."""
    base = module.split(".") if module else []
    if not _is_package(module, modules):
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *(name.split(".") if name else [])])


def imports_of(module: str, modules: dict[str, Path]) -> Iterable[tuple[str, int]]:
    """(imported name, line) for every import in the module: package-internal names relative
    (``core.errors``), external ones absolute and prefixed with ``ext:`` (``ext:qgis.core``)."""
    tree = ast.parse(modules[module].read_text(encoding="utf-8"), filename=str(modules[module]))
    prefix = PACKAGE + "."
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if name == PACKAGE or name.startswith(prefix):
                    yield name[len(prefix) :] if name != PACKAGE else "", node.lineno
                else:
                    yield "ext:" + name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = node.module or ""
                if name != PACKAGE and not name.startswith(prefix):
                    yield "ext:" + name, node.lineno
                    continue
                target = name[len(prefix) :] if name != PACKAGE else ""
            else:
                target = _absolute(node.module or "", node.level, module, modules)
            for alias in node.names:  # ``from pkg import sub``: the submodule when there is one
                sub = f"{target}.{alias.name}" if target else alias.name
                yield (sub if sub in modules else target), node.lineno


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, list[tuple[str, int]]]]:
    """(internal arrows module -> modules, every import with its line per module)."""
    modules = package_modules(root)
    arrows: dict[str, set[str]] = {m: set() for m in modules}
    every: dict[str, list[tuple[str, int]]] = {}
    for module in modules:
        every[module] = list(imports_of(module, modules))
        for name, _line in every[module]:
            if name.startswith("ext:"):
                continue
            while name not in modules and "." in name:  # ``from .pkg.mod import a_function``
                name = name.rsplit(".", 1)[0]
            if name in modules and name != module:
                arrows[module].add(name)
    return arrows, every


def _top(module: str) -> str:
    return module.split(".")[0]


def _forbidden(src_top: str, target: str) -> Optional[str]:
    """Why an import of ``target`` (internal relative name or ``ext:NAME``) from layer ``src_top`` is
    not allowed, or None."""
    ext = target[4:] if target.startswith("ext:") else None
    if src_top == "errors" and ext is None:
        return "errors.py (the readable-error base) is the bottom: it imports nothing of the package"
    if src_top in ("core", "models"):
        if ext is not None and ext.split(".")[0] in GUI:
            return "core/ and models/ import no Qt, QGIS or QGIS Processing"
        if ext is None and _top(target) in ("qgis_bridge", "ui", PROCESSING, "cli"):
            return "core/ and models/ do not import the layers above them"
        if src_top == "models" and ext is None and _top(target) == "core":
            return "models/ does not import core/"
    if src_top in (PROCESSING, "qgis_bridge") and ext is None and _top(target) in ("ui", "cli"):
        return f"{src_top} does not import ui/ or cli/"
    if src_top == "qgis_bridge" and ext is None and _top(target) == PROCESSING:
        return "qgis_bridge does not import the Processing package"
    if src_top == "cli" and ext is None and _top(target) in ("ui", PROCESSING):
        return "cli/ does not import ui/ or the Processing package"
    if src_top == "ui" and ext is None and _top(target) == "cli":
        return "ui/ does not import cli/ (two entry points side by side)"
    if src_top == "cli" and ext is not None and ext.split(".")[0] in ("PyQt5", "PyQt6", "PyQt"):
        return "cli/ imports no Qt"
    return None


def layer_violations(root: Path) -> list[str]:
    """One line per import that points the wrong way."""
    _arrows, every = import_graph(root)
    found = set()
    for module, names in every.items():
        for name, line in names:
            why = _forbidden(_top(module), name)
            if why:
                found.add(f"{module}:{line} imports {name.removeprefix('ext:')}: {why}")
    return sorted(found)


def import_cycles(root: Path) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    arrows, _every = import_graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        # iterative Tarjan: (node, iterator over its arrows)
        work = [(v, iter(sorted(arrows[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(arrows[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        group.append(w)
                        if w == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for v in sorted(arrows):
        if v not in index:
            visit(v)
    return sorted(groups)


def test_the_package_is_read_whole():
    modules = package_modules(ROOT)
    assert {"core.pipeline", "models.registry", "cli", "qgis_bridge.print_layout", "ui.dock", PROCESSING} <= set(
        modules
    )
    assert not any(m.startswith(("tests", "benchmarks", "scripts")) for m in modules)


def test_no_import_points_the_wrong_way():
    assert layer_violations(ROOT) == []


def test_no_import_cycles():
    assert import_cycles(ROOT) == []


def test_no_top_level_processing_package_shadows_qgis():
    assert not (ROOT / "processing").exists()


# --- the test of the test: a small planted tree -------------------------------------------------


def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


CLEAN = {
    "__init__.py": "",
    "core/__init__.py": "",
    "core/engine.py": "from ..models import net\nimport numpy\n",
    "models/__init__.py": "",
    "models/net.py": "import torch\n",
    "qgis_bridge/__init__.py": "",
    "qgis_bridge/layers.py": "from qgis.core import QgsProject\nfrom ..core.engine import *\n",
    "cli/__init__.py": "def main():\n    from ..qgis_bridge import layers\n",
    "ui/__init__.py": "",
    "ui/page.py": "from qgis.PyQt.QtWidgets import QWidget\nfrom ..qgis_bridge import layers\n",
    f"{PROCESSING}/__init__.py": "from ..qgis_bridge.layers import *\n",
}


def test_a_clean_planted_tree_passes(tmp_path):
    root = _plant(tmp_path / PACKAGE, CLEAN)
    assert layer_violations(root) == []
    assert import_cycles(root) == []


@pytest.mark.parametrize(
    "rel, text, expected",
    [
        ("core/late.py", "def f():\n    from qgis.core import QgsProject\n", "core.late:2 imports qgis.core"),
        ("core/late.py", "def f():\n    import PyQt5.QtCore\n", "core.late:2 imports PyQt5.QtCore"),
        ("models/up.py", "def f():\n    from ..core import engine\n", "models.up:2 imports core.engine"),
        ("models/up.py", "from eurosat_landcover.core.engine import x\n", "models.up:1 imports core.engine"),
        ("core/up.py", "try:\n    from ..qgis_bridge import layers\nexcept ImportError:\n    pass\n", "core.up:2"),
        ("core/up.py", "from ..ui import page\n", "core.up:1 imports ui.page"),
        ("core/up.py", "import processing\n", "core.up:1 imports processing"),
        ("core/up.py", f"from .. import {PROCESSING}\n", f"core.up:1 imports {PROCESSING}"),
        (f"{PROCESSING}/alg.py", "from ..ui.page import x\n", f"{PROCESSING}.alg:1 imports ui.page"),
        ("qgis_bridge/w.py", "def f():\n    from ..ui import page\n", "qgis_bridge.w:2 imports ui.page"),
        ("cli/sub.py", "from ..ui import page\n", "cli.sub:1 imports ui.page"),
        ("errors.py", "from .core import engine\n", "errors:1 imports core.engine"),
        ("ui/late.py", "def f():\n    from ..cli import main\n", "ui.late:2 imports cli"),
    ],
)
def test_a_planted_wrong_import_is_found(tmp_path, rel, text, expected):
    root = _plant(tmp_path / PACKAGE, {**CLEAN, rel: text})
    found = layer_violations(root)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_planted_cycle_is_found_even_through_a_function_level_import(tmp_path):
    files = {
        **CLEAN,
        "models/a.py": "from . import b\n",
        "models/b.py": "def f():\n    from .c import g\n",
        "models/c.py": "from .a import x\n",
    }
    root = _plant(tmp_path / PACKAGE, files)
    assert import_cycles(root) == [["models.a", "models.b", "models.c"]]


def test_a_planted_two_module_cycle_through_the_absolute_name_is_found(tmp_path):
    files = {**CLEAN, "cli/x.py": "from eurosat_landcover.cli import main\n", "cli/__init__.py": "from . import x\n"}
    root = _plant(tmp_path / PACKAGE, files)
    assert import_cycles(root) == [["cli", "cli.x"]]
