"""``python -m eurosat_landcover ...``: the command-line interface (see cli/app.py)."""

from .cli import main

if __name__ == "__main__":  # not when a worker process of classify-many re-imports this module
    raise SystemExit(main())
