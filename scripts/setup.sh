#!/usr/bin/env bash
# Installs what the project needs on Debian 12 and is idempotent: every step is skipped when done.
#   - Debian packages for QGIS 3.22 LTR and GDAL (only when run as root and they are missing)
#   - .venv made from the system Python (which owns the QGIS bindings) with --system-site-packages
#   - Python packages from requirements.txt, numpy kept < 2 by constraints.txt
#   - a link .venv/plugin-path/eurosat_landcover -> this folder, so `python -m eurosat_landcover` works
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
SYS_PY=/usr/bin/python3
PKG=eurosat_landcover

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. QGIS, GDAL, Xvfb from Debian.
if ! "$SYS_PY" -c "import qgis.core, osgeo.gdal" >/dev/null 2>&1 || ! command -v qgis_process >/dev/null 2>&1 \
   || ! command -v Xvfb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    log "installing QGIS, GDAL and Xvfb from Debian (about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qgis python3-qgis qgis-providers gdal-bin python3-gdal \
      xvfb python3-venv poppler-utils >/dev/null
  else
    log "QGIS/GDAL are missing; run as root or: sudo apt-get install qgis python3-qgis qgis-providers gdal-bin python3-gdal xvfb python3-venv"
    exit 1
  fi
fi
# pdftoppm (poppler-utils) renders the exported PDF map in the export tests; optional otherwise.
if ! command -v pdftoppm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null \
      || log "could not install poppler-utils: the PDF check of the export tests is skipped"
  else
    log "pdftoppm is missing (sudo apt-get install poppler-utils): the PDF check of the export tests is skipped"
  fi
fi

# 2. The virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV from $SYS_PY with system site packages"
  "$SYS_PY" -m venv --system-site-packages "$VENV"
fi

# 3. Python packages, reinstalled only when requirements or constraints change.
STAMP="$VENV/.requirements.sha256"
WANT="$(cat "$ROOT/requirements.txt" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  log "installing Python packages (torch is large: a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --upgrade-strategy only-if-needed \
    -c "$ROOT/constraints.txt" -r "$ROOT/requirements.txt"
  echo "$WANT" > "$STAMP"
fi

# 4. Import path: the repository root is the plugin folder, importable as eurosat_landcover.
LINKDIR="$VENV/plugin-path"
mkdir -p "$LINKDIR"
ln -sfn "$ROOT" "$LINKDIR/$PKG"
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$LINKDIR" > "$SITE/$PKG-plugin-path.pth"

"$VENV/bin/python" - <<'PY'
import numpy, torch
assert numpy.__version__.startswith("1."), f"numpy {numpy.__version__}: QGIS/GDAL need numpy 1.x"
import sys
print(f"[setup] ready: numpy {numpy.__version__}, torch {torch.__version__}", file=sys.stderr, flush=True)
PY
