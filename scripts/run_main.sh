#!/usr/bin/env bash
# Command 1 of the README: set up what is missing, then classify the bundled sample raster with the
# bundled model, headless. Outputs go to runs/sample/ (land cover, probabilities, confidence, styles,
# summary JSON); the summary is printed on stdout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m eurosat_landcover classify sample_data/eurosat_mosaic_rgb.tif runs/sample "$@"
