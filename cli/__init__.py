"""The command line, ``python -m eurosat_landcover COMMAND`` (see cli/app.py).

A top-level entry point beside the dock (ui/): it imports core/, models/ and, for the print-ready
map only, qgis_bridge/; nothing below imports it.
"""

from .app import main

__all__ = ["main"]
