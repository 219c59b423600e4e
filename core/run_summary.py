"""Reading a run's ``*_summary.json`` at the door: a hand-edited or tampered summary is refused with
one line naming the field, before any of it is used (export, corrections, inspection).

:func:`read_run_summary` reads and checks the file; :func:`check_run_summary` checks a dict. Fields
not listed in ``SCHEMA`` are kept as they are (newer engines may add some); the listed ones must have
the listed type when present. A per-raster summary of ``classify-many`` (``"input"`` is the path as
text) is normalised to the single-run shape (``{"input": {"path": ...}}``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .errors import ClassificationError

MAX_SUMMARY_BYTES = 64 * 2**20  # a summary is a few kB; a bigger file is not one


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


KINDS = {
    "an object": lambda v: isinstance(v, dict),
    "text": lambda v: isinstance(v, str),
    "a file path (text)": lambda v: isinstance(v, str) and 0 < len(v) < 4096 and "\0" not in v,
    "a whole number": _is_int,
    "a finite number": _is_num,
    "a list of whole numbers": lambda v: isinstance(v, list) and all(_is_int(x) for x in v),
    "a list of texts": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "two positive numbers": lambda v: isinstance(v, list) and len(v) == 2 and all(_is_num(x) and x > 0 for x in v),
    "class name -> finite area (km²)": lambda v: isinstance(v, dict) and all(_is_num(x) and x >= 0 for x in v.values()),
}

SCHEMA = {
    "outputs": "an object",
    "outputs.classes": "a file path (text)",
    "outputs.confidence": "a file path (text)",
    "outputs.probabilities": "a file path (text)",
    "outputs.corrected": "a file path (text)",
    "outputs.assessment": "a file path (text)",
    "input": "an object",
    "input.path": "text",
    "input.crs": "text",
    "request": "an object",
    "grid": "an object",
    "grid.stride_px": "a whole number",
    "grid.cell_size_m": "two positive numbers",
    "band_mapping": "an object",
    "band_mapping.bands": "a list of whole numbers",
    "radiometry": "an object",
    "radiometry.method": "text",
    "working_raster": "an object",
    "model": "an object",
    "model.card": "text",
    "model.name": "text",
    "model.title": "text",
    "model.bands": "a list of texts",
    "model.patch_size": "a whole number",
    "model.gsd_m": "a finite number",
    "model.metrics": "an object",
    "windows": "an object",
    "area_km2": "class name -> finite area (km²)",
    "warnings": "a list of texts",
    "created_utc": "text",
    "engine": "text",
    "device": "text",
}


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_run_summary(summary, name: str = "the run summary") -> dict:
    """``summary`` checked against ``SCHEMA`` (a readable ClassificationError naming the field), with a
    classify-many per-raster ``input`` normalised; returns the (normalised) dict."""
    if not isinstance(summary, dict):
        raise ClassificationError(f"{name} is not a run summary (not a JSON object): give the run's *_summary.json")
    if isinstance(summary.get("input"), str):  # classify-many writes the input path as text
        summary = {**summary, "input": {"path": summary["input"]}}
    for key, kind in SCHEMA.items():
        node, parts = summary, key.split(".")
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not KINDS[kind](node):
            raise ClassificationError(
                f"{name}: field '{key}' must be {kind}, got {_short(node)} (was the file edited?): "
                "restore it or classify again"
            )
    return summary


def read_run_summary(path) -> dict:
    """The run summary at ``path``, read and checked (:func:`check_run_summary`)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SUMMARY_BYTES:
            raise ClassificationError(f"{path.name} is too large to be a run summary ({path.stat().st_size:,} bytes)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0][:120]
        raise ClassificationError(f"cannot read the run summary {path.name}: {why}") from None
    return check_run_summary(data, path.name)
