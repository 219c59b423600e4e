"""``python -m eurosat_landcover ...``: the command-line interface (see core/cli.py)."""

from .core.cli import main

raise SystemExit(main())
