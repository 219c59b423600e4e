"""Issue 25 item 12: the export report's bar labels start after the CI whiskers (never crossed by them)."""

from __future__ import annotations

import re

from eurosat_landcover.core.export.report import bar_chart_svg

ROWS = [
    {"class_name": "Forest", "area_km2": 40.0, "percent": 50.0, "color": "#228b22"},
    {"class_name": "River", "area_km2": 8.0, "percent": 10.0, "color": "#4169e1"},
    {"class_name": "SeaLake", "area_km2": 32.0, "percent": 40.0, "color": "#00008b"},
]
ADJUSTED = {
    "Forest": {"area_km2": 36.0, "low_km2": 30.0, "high_km2": 44.0},
    "River": {"area_km2": 12.0, "low_km2": 6.0, "high_km2": 19.0},  # the whisker reaches far past the bar
    "SeaLake": {"area_km2": 32.0, "low_km2": 31.0, "high_km2": 33.0},
}


def test_bar_labels_start_after_the_whiskers():
    svg = bar_chart_svg({"rows": ROWS}, ADJUSTED)
    width = int(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1))
    whiskers = [float(x1) for x1 in re.findall(r'<path d="M[\d.]+,[\d.]+H([\d.]+)', svg)]
    labels = [(float(x), text) for x, text in re.findall(r'<text x="([\d.]+)" y="[\d.]+">([^<]*km²[^<]*)</text>', svg)]
    assert len(whiskers) == len(labels) == 3
    for x1, (x, text) in zip(whiskers, labels):
        assert x > x1 + 3, f"the label {text!r} at {x} is crossed by the whisker ending at {x1}"
        assert x + 7.5 * len(text) <= width, f"the label {text!r} runs off the chart"
