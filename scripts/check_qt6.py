"""Report what stands between the plugin's Python code and PyQt6 / QGIS 4 (nothing is changed).

A re-implementation of the checks of QGIS's own migration script (scripts/pyqt5_to_pyqt6/pyqt5_to_pyqt6.py
in the QGIS repository, GPL, not vendored here), as a report instead of an in-place rewrite:
- enum values used without their enum's name (``Qt.AlignLeft`` must be ``Qt.AlignmentFlag.AlignLeft`` in
  PyQt6): the table of scoped names comes from introspecting PyQt6 itself (as QGIS's script does) and, for
  QGIS classes, the enums of the installed QGIS (``Qgis.Info`` -> ``Qgis.MessageLevel.Info``);
- imports from PyQt5/PyQt6/sip instead of ``qgis.PyQt``; ``exec_``; ``QVariant`` types (QMetaType in Qt6);
  ``qApp``; ``QRegExp``; compiled resources (``resources_rc``); ``fontMetrics().width``;
  ``activated[str]``; ``QDesktopWidget``/``desktop()``; Qt5-only enum names (``Qt.MidButton`` ...).

    .venv/bin/python scripts/check_qt6.py [PATH ...] --pyqt6-python /path/to/python-with-PyQt6

``--pyqt6-python``: an interpreter with PyQt6 installed (e.g. a scratch venv:
``python3 -m venv /tmp/qt6 && /tmp/qt6/bin/pip install PyQt6``); without it Qt's enum names are taken
from the installed PyQt5 (the same names for all but a few enums). Exit status 1 when something is reported.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", ".git", "runs", "dist", "__pycache__", "shared"}

_QT6_TABLE = r"""
import enum, inspect, json
from PyQt6 import QtCore, QtGui, QtWidgets, QtTest, QtNetwork, QtXml, QtSvg, QtPrintSupport, QtSql
table, ambiguous = {}, {}

def subclasses(cls):
    out = {cls}
    for sub in cls.__subclasses__():
        out |= subclasses(sub)
    return out

def visit(cls):
    if not inspect.isclass(cls):
        return
    for key, value in list(vars(cls).items()):
        if inspect.isclass(value) and isinstance(value, enum.EnumMeta):
            for member in value.__members__:
                for owner in subclasses(cls):
                    k = f"{owner.__name__}.{member}"
                    if k in ambiguous:
                        ambiguous[k].add(value.__name__)
                    elif k in table and table[k] != value.__name__:
                        ambiguous[k] = {table.pop(k), value.__name__}
                    else:
                        table[k] = value.__name__
        elif inspect.isclass(value) and value.__module__.startswith("PyQt6"):
            visit(value)

for module in (QtCore, QtGui, QtWidgets, QtTest, QtNetwork, QtXml, QtSvg, QtPrintSupport, QtSql):
    for value in list(vars(module).values()):
        visit(value)
print(json.dumps({"table": table, "ambiguous": {k: sorted(v) for k, v in ambiguous.items()}}))
"""

_SIP_TABLE = r"""
import importlib, inspect, json, sys
table = {}
for module in map(importlib.import_module, sys.argv[1:]):
    for cls in list(vars(module).values()):
        if not inspect.isclass(cls) or not cls.__name__.startswith("Q"):
            continue
        names = dir(cls)  # inherited enums too (QLabel.StyledPanel is QFrame.Shape)
        enums = {}
        for n in names:
            try:
                e = getattr(cls, n)
            except Exception:
                continue
            if type(e).__name__ == "enumtype":
                enums[n] = e
        for name in names:
            if name in enums:
                continue
            try:
                value = getattr(cls, name)
            except Exception:
                continue
            for enum_name, enum_type in enums.items():
                if isinstance(value, enum_type):
                    table[f"{cls.__name__}.{name}"] = enum_type.__name__
                    break
print(json.dumps({"table": table, "ambiguous": {}}))
"""
QGIS_MODULES = ["qgis.core", "qgis.gui"]
QT5_MODULES = ["PyQt5.QtCore", "PyQt5.QtGui", "PyQt5.QtWidgets", "PyQt5.QtTest"]

RENAMED = {"Qt.MidButton": "Qt.MouseButton.MiddleButton", "Qt.TextColorRole": "Qt.ItemDataRole.ForegroundRole",
           "Qt.BackgroundColorRole": "Qt.ItemDataRole.BackgroundRole"}  # fmt: skip


def _table(python: str, code: str, *args: str) -> dict:
    command = [python, "-c", code, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{python}: could not introspect ({result.stderr.strip().splitlines()[-1:]})")
    return json.loads(result.stdout.strip().splitlines()[-1])


def scoped_enums(qgis_python: str = "/usr/bin/python3", pyqt6_python=None) -> tuple:
    """({"Class.VALUE": "EnumName"}, {ambiguous}) from QGIS's classes and PyQt6 (else PyQt5)."""
    enums = _table(qgis_python, _SIP_TABLE, *(QGIS_MODULES + ([] if pyqt6_python else QT5_MODULES)))["table"]
    ambiguous = {}
    if pyqt6_python:
        data = _table(pyqt6_python, _QT6_TABLE)
        enums.update(data["table"])
        ambiguous = data["ambiguous"]
    return enums, ambiguous


def python_files(paths: list) -> list:
    out = []
    for path in paths:
        path = Path(path)
        if path.is_file():
            out.append(path)
            continue
        for file in sorted(path.rglob("*.py")):
            if not SKIP_DIRS.intersection(file.relative_to(path).parts):
                out.append(file)
    return out


def check_file(path: Path, enums: dict, ambiguous: dict) -> list:
    """[(line, col, message)] for one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        where = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
        if isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in ("PyQt5", "PyQt6", "sip"):
                found.append((*where, f"from {node.module} import ...: import from qgis.PyQt instead"))
            for name in node.names:
                if name.name == "QRegExp":
                    found.append((*where, "QRegExp is removed in Qt6: use QRegularExpression"))
                if name.name == "resources_rc" or node.module.endswith("resources_rc"):
                    found.append((*where, "compiled resources are removed in Qt6: load files by path"))
                if name.name == "qApp":
                    found.append((*where, "qApp is removed in Qt6: use QApplication.instance()"))
        elif isinstance(node, ast.Import):
            for name in node.names:
                if name.name.split(".")[0] in ("PyQt5", "PyQt6", "sip"):
                    found.append((*where, f"import {name.name}: use qgis.PyQt (from qgis.PyQt import sip)"))
        elif isinstance(node, ast.Attribute):
            if node.attr == "exec_":
                found.append((*where, "exec_() is exec() in PyQt6"))
            if isinstance(node.value, ast.Name):
                key = f"{node.value.id}.{node.attr}"
                if key in RENAMED:
                    found.append((*where, f"{key} -> {RENAMED[key]}"))
                elif node.value.id == "QVariant" and node.attr[:1].isupper() and node.attr != "Type":
                    found.append((*where, f"{key}: QVariant types are QMetaType.Type in Qt6"))
                elif not isinstance(parents.get(node), ast.Attribute) or parents[node].value is not node:
                    if key in enums:
                        found.append((*where, f"{key} -> {node.value.id}.{enums[key]}.{node.attr}"))
                    elif key in ambiguous:
                        options = ", ".join(f"{node.value.id}.{e}.{node.attr}" for e in ambiguous[key])
                        found.append((*where, f"{key}: scope it, one of {options}"))
            elif (
                isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "fontMetrics"
                and node.attr == "width"
            ):
                found.append((*where, "QFontMetrics.width() is removed in Qt6: horizontalAdvance()"))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
            if node.value.attr == "activated" and isinstance(node.slice, ast.Name) and node.slice.id == "str":
                found.append((*where, "activated[str] is removed in Qt6: textActivated"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "desktop" and not node.args:
                found.append((*where, "QDesktopWidget (desktop()) is removed in Qt6: use QScreen"))
            if node.func.attr == "addAction" and len(node.args) >= 4:
                found.append((*where, "fragile addAction(...) overload: create the QAction, then addAction(it)"))
    return sorted(set(found))


def fix_enums(path: Path, findings: list) -> int:
    """Rewrite the reported ``Class.VALUE`` as ``Class.Enum.VALUE`` in place; returns how many were fixed."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    fixed = 0
    for line_no, col, message in sorted(findings, reverse=True):  # right to left keeps offsets valid
        if " -> " not in message:
            continue
        old, new = message.split(" -> ")
        raw = lines[line_no - 1].encode("utf-8")  # ast offsets are UTF-8 byte offsets
        if raw[col : col + len(old.encode())] != old.encode():
            continue
        lines[line_no - 1] = (raw[:col] + new.encode() + raw[col + len(old.encode()) :]).decode("utf-8")
        fixed += 1
    if fixed:
        path.write_text("".join(lines), encoding="utf-8")
    return fixed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(ROOT)])
    parser.add_argument("--pyqt6-python", help="a Python with PyQt6 installed, for the Qt enum table")
    parser.add_argument("--qgis-python", default="/usr/bin/python3", help="a Python with QGIS's bindings")
    parser.add_argument("--fix", action="store_true", help="scope the reported enum values in place")
    args = parser.parse_args(argv)
    enums, ambiguous = scoped_enums(args.qgis_python, args.pyqt6_python)
    if not args.pyqt6_python:
        print("note: no --pyqt6-python: Qt's enum names are taken from PyQt5 (same names but a few)", file=sys.stderr)
    count = 0
    for path in python_files(args.paths):
        findings = check_file(path, enums, ambiguous)
        if args.fix and fix_enums(path, findings):
            findings = check_file(path, enums, ambiguous)
        for line, col, message in findings:
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            print(f"{shown}:{line}:{col}: {message}")
            count += 1
    print(f"{count} finding(s); enum table: {len(enums)} scoped names", file=sys.stderr)
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
