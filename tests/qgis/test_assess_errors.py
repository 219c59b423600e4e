"""The Assess page shows a ReadableError's line as it is, and treats anything else as a bug: a KeyError or
a ValueError raised inside the engine is not shown as if it were advice to the analyst; its traceback goes
to the log and the analyst reads one "something went wrong" line (no Python dialog)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from qgis.core import Qgis, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from assessment_testlib import blocky_map, write_classes


@pytest.fixture
def page(iface, tmp_path, qgis_new_project, monkeypatch):
    from eurosat_landcover.ui import page_base
    from eurosat_landcover.ui.assess.page import AssessPage

    layer = QgsRasterLayer(str(write_classes(tmp_path / "scene_classes.tif", blocky_map())), "Land cover")
    QgsProject.instance().addMapLayer(layer)
    ref = QgsVectorLayer("Point?crs=EPSG:4326&field=klasse:integer", "reference", "memory")
    QgsProject.instance().addMapLayer(ref)
    p = AssessPage(iface)
    p.design.map_combo.setLayer(layer)
    p.reference.use_layer.setChecked(True)
    p.reference.layer_combo.setLayer(ref)
    p.reference.field_combo.setField("klasse")
    p.analysis.folder.setFilePath(str(tmp_path))
    p.pushed, p.logged = [], []
    monkeypatch.setattr(
        p, "push", lambda text, level=Qgis.MessageLevel.Info, duration=8: p.pushed.append((text, level))
    )
    monkeypatch.setattr(page_base, "log_error", p.logged.append)
    p.show()
    yield p
    p.shutdown()
    p.close()


def _analyse(page):
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)


def test_a_readable_error_is_shown_as_it_is(page, monkeypatch):
    from eurosat_landcover.core.accuracy.errors import AssessmentError
    from eurosat_landcover.ui.assess import page as page_mod

    def refuse(*_a):
        raise AssessmentError("the reference layer 'reference' has no field 'klasse': pick its class field")

    monkeypatch.setattr(page_mod, "reference_records", refuse)
    _analyse(page)
    assert page.pushed == [
        ("the reference layer 'reference' has no field 'klasse': pick its class field", Qgis.MessageLevel.Warning)
    ]
    assert page.logged == []


def test_the_page_s_own_refusals_are_readable(page):
    page.reference.layer_combo.setLayer(None)
    _analyse(page)
    assert page.pushed == [("Pick the reference layer (section 3).", Qgis.MessageLevel.Warning)]


@pytest.mark.parametrize("error", [KeyError("map_code"), ValueError("could not convert string to float: 'x'")])
def test_a_bug_in_the_engine_is_logged_not_shown_as_advice(page, monkeypatch, error):
    from eurosat_landcover.ui.assess import page as page_mod

    def broken(*_a):
        raise error

    monkeypatch.setattr(page_mod, "reference_records", broken)
    _analyse(page)  # no exception reaches Qt (QGIS would open its Python error dialog)
    assert (str(error), Qgis.MessageLevel.Warning) not in page.pushed
    assert len(page.pushed) == 1 and page.pushed[0][0].startswith("Something went wrong")
    assert type(error).__name__ in page.pushed[0][0] and "log panel" in page.pushed[0][0]
    assert len(page.logged) == 1 and "Traceback" in page.logged[0] and type(error).__name__ in page.logged[0]
    assert page.analysis.run_button.isEnabled()  # the page is not left half-way
