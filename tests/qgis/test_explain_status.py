"""Explain page, issue 25 item 11: the status line after picking another class, the picked class on the next
click, the bold (picked) class name in the chart. Real clicks on the real map tool, a real model."""

from __future__ import annotations

import pytest
from qgis.PyQt.QtGui import QFont, QFontMetrics

from .landcover_helpers import wait_for_tasks
from .test_explain import add_layer, click, engine_run, mosaic, page, pytestmark, show, write_geotiff  # noqa: F401

pytest.importorskip("captum")


def test_status_and_picked_class_after_another_class_and_another_click(page, tmp_path, mosaic):  # noqa: F811
    src = write_geotiff(tmp_path / "m.tif", mosaic)
    _res, _probs, gt = engine_run(src, tmp_path / "out")
    show(page, add_layer(src), "EPSG:32632")
    x, y = gt[0] + 1.5 * gt[1], gt[3] + 0.5 * gt[5]
    click(page, x + 5, y - 5, "EPSG:32632")
    first = page.status.text()
    assert "640 m" in first and not first.endswith("…")
    page.class_combo.setCurrentIndex(page.class_combo.findText("Forest"))
    wait_for_tasks(60)
    assert page.view.heat is not None
    assert page.status.text() == first, "the status says what is shown again, not 'Grad-CAM…'"
    # the chart: the picked class is bold and its whole name fits the name column
    page.chart.resize(300, page.chart.height())
    assert page.chart.highlight == "Forest"
    bold = QFont(page.chart.font())
    bold.setBold(True)
    widest = max(QFontMetrics(bold).horizontalAdvance(n) for n, _, _ in page.chart.rows)
    assert page.chart.name_width() - 6 >= widest, "the bold class name is not cut"
    # another place: the heat map of its own top class again
    click(page, gt[0] + 0.5 * gt[1] + 5, gt[3] + 1.5 * gt[5] - 5, "EPSG:32632")
    wait_for_tasks(60)
    assert page.class_combo.currentIndex() == 0 and page.target() is None
    w = page.windows[0]
    assert page.chart.highlight == w.ranked(1)[0][0]
    assert (0, w.top_index) in page.heats
    assert not page.status.text().endswith("…")
