"""Issue 25 item 12: the PDF's north arrow sits outside the map frame (it used to cover the map's corner)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from eurosat_landcover.core.export import load_run
from eurosat_landcover.qgis_bridge.print_layout import MapOptions, build_layout, class_areas, classes_layer
from qgis.core import QgsProject

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from export_testlib import write_run


@pytest.mark.parametrize("orientation,page,size", [("landscape", "A4", (60, 40)), ("portrait", "A3", (40, 60))])
def test_north_arrow_does_not_cover_the_map(qgis_new_project, tmp_path, orientation, page, size):
    run = load_run(write_run(tmp_path / "run", w=size[0], h=size[1]))
    project = QgsProject()
    layer = classes_layer(run)
    project.addMapLayer(layer)
    layout = build_layout(project, layer, run, class_areas(run), MapOptions(page_size=page, orientation=orientation))
    the_map = layout.itemById("map").sceneBoundingRect()
    arrow = layout.itemById("north arrow")
    assert arrow is not None
    rect = arrow.sceneBoundingRect()
    assert not rect.intersects(the_map), f"north arrow {rect} over the map {the_map}"
    page_rect = layout.pageCollection().page(0).sceneBoundingRect()
    assert page_rect.contains(rect)
    for item in layout.items():  # nor the legend, the table, the credits
        if item is arrow or not hasattr(item, "id") or item.id() in ("map", "north arrow") or not item.isVisible():
            continue
        if type(item).__name__ in ("QgsLayoutItemLegend", "QgsLayoutItemLabel", "QgsLayoutItemAttributeTable"):
            assert not rect.intersects(item.sceneBoundingRect()), f"north arrow over {type(item).__name__}"
