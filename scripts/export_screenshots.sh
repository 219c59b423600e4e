#!/usr/bin/env bash
# The pictures of the README's "Export" section, made from the bundled sample and model:
# classify sample_data/eurosat_mosaic_rgb.tif at stride 8, export everything with the CLI (5 ha MMU),
# render the PDF map with pdftoppm (docs/export-map.png) and open the HTML report in headless
# chromium (docs/export-report.png). Needs poppler-utils and chromium (apt-get install -y poppler-utils chromium).
# Usage: bash scripts/export_screenshots.sh [WORK_DIR]   (the work folder is kept when given)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="${1:-$(mktemp -d)}"
name=eurosat_mosaic_rgb
if [ ! -f "$work/run/${name}_summary.json" ]; then
  .venv/bin/python -m eurosat_landcover classify sample_data/$name.tif "$work/run" --mode windows --stride 8 --quiet > /dev/null
fi
rm -rf "$work/export"
.venv/bin/python -m eurosat_landcover export "$work/run/${name}_summary.json" "$work/export" \
  --what raster,polygons,report,map --mmu-ha 5 --title "Land cover of the sample mosaic (EuroSAT RGB)" \
  --quiet > "$work/export.json"
pdftoppm -r 90 -png -singlefile "$work/export/${name}_landcover_map.pdf" docs/export-map
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1300 \
  --screenshot=docs/export-report.png "file://$work/export/${name}_landcover_report.html" 2> /dev/null
echo "docs/export-map.png docs/export-report.png (from $work)"
