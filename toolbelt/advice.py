"""What to tell a user whose Python lacks the plugin's dependencies: the one message the plugin's
load, the dock's Install panel and the Processing algorithms show (above the check and the installer)."""

from __future__ import annotations

from . import dependencies
from .installer import manual_instructions

MISSING_WORDS = "needs the Python package(s)"  # how the dock finds the start's warning again, to clear it


def missing_message(packages: list) -> str:
    """What is missing and how to get it: the dock's Install button, or a command that works on this platform."""
    found = {s.requirement.name: s for s in dependencies.check()}
    described = [found[p].describe() if p in found and not found[p].ok else p for p in packages]
    return (
        f"EuroSAT Land Cover {MISSING_WORDS} {', '.join(described)}, which the Python running QGIS "
        "cannot import in a compatible version. Press \u201cInstall dependencies\u201d in the plugin's dock, "
        f"or install them yourself:\n{manual_instructions(packages)}\nthen restart QGIS."
    )
