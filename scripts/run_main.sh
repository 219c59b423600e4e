#!/usr/bin/env bash
# Command 1 of the README: set up what is missing, then classify the bundled sample raster with the
# bundled model, headless. Outputs go to runs/sample/ (land cover, probabilities, confidence, styles,
# summary JSON); the summary is printed on stdout.
# Run again, it finds the outputs in runs/sample/ and skips: it says so on stderr, prints the existing summary
# on stdout and exits 0; --overwrite classifies again (replacing them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ " $* " != *" --overwrite "* ]] && compgen -G "runs/sample/*_summary.json" > /dev/null; then
    summary=$(ls -t runs/sample/*_summary.json | head -n 1)
    echo "runs/sample/ already holds the outputs of an earlier run ($summary): skipped; add --overwrite to classify again" >&2
    cat "$summary"
    exit 0
fi
bash scripts/setup.sh
exec .venv/bin/python -m eurosat_landcover classify sample_data/eurosat_mosaic_rgb.tif runs/sample "$@"
