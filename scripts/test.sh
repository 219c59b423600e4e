#!/usr/bin/env bash
# Command 2 of the README: set up what is missing, then run the whole test suite headless
# against the real QGIS. Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/core -x`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
exec .venv/bin/python -m pytest "$@"
