"""The Assess page in a real QGIS: design, labelling with key events, resume, reference layer, analysis."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from osgeo import ogr, osr
from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import QDialog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from assessment_testlib import NAMES, ORIGIN, blocky_map, write_classes


def wait_tasks(page, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if not page.tasks and QgsApplication.taskManager().countActiveTasks() == 0:
            break
        time.sleep(0.02)
    for _ in range(10):
        QCoreApplication.processEvents()
    assert not page.tasks, "the page's task did not finish"


def saved_labels(gpkg) -> dict:
    ds = ogr.Open(str(gpkg))
    out = {}
    for f in ds.GetLayerByName("sample_points"):
        out[f.GetField("point_id")] = (f.GetField("status"), f.GetField("ref_code"), f.GetField("ref_class"))
    return out


@pytest.fixture
def map_layer(tmp_path, qgis_new_project):
    tif = write_classes(tmp_path / "scene_classes.tif", blocky_map())
    layer = QgsRasterLayer(str(tif), "Land cover")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


@pytest.fixture
def page(iface, map_layer):
    from eurosat_landcover.ui.assess.page import AssessPage

    p = AssessPage(iface)
    p.design.map_combo.setLayer(map_layer)
    p.resize(520, 1400)
    p.show()
    yield p
    p.shutdown()
    p.close()


def _create(page, tmp_path, name="sample.gpkg"):
    page.design.output.setFilePath(str(tmp_path / name))
    QTest.mouseClick(page.design.create_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    return tmp_path / name


def test_design_table_and_sample_creation(page, tmp_path, iface):
    d = page.design
    assert d.table.rowCount() == 4
    assert [d.table.item(r, 0).text() for r in range(4)] == ["AnnualCrop", "Forest", "Residential", "SeaLake"]
    d.target_se.setValue(0.02)
    d.min_per_class.setValue(20)
    n = d.current_plan.n_total
    assert f"{n} points" in d.size_label.text() and n == sum(d.table.cellWidget(r, 3).value() for r in range(4))
    d.allocation.setCurrentIndex(d.allocation.findData("manual"))
    for r, k in enumerate((10, 12, 14, 16)):
        d.table.cellWidget(r, 3).setValue(k)
    assert d.current_plan.n_total == 52
    gpkg = _create(page, tmp_path)
    labels = saved_labels(gpkg)
    assert len(labels) == 52 and all(v == ("", None, None) for v in labels.values())
    layer = page.labels.layer
    assert layer is not None and layer.featureCount() == 52 and QgsProject.instance().mapLayer(layer.id())
    assert page.labels.progress.value() == 0 and page.labels.progress.maximum() == 52
    assert any("52 sample points" in m for m in iface.messageBar().get_messages(Qgis.MessageLevel.Success))
    # the same file again: the page asks, and keeps it when told no
    page.ask = lambda q: False
    QTest.mouseClick(page.design.create_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    assert saved_labels(gpkg) == labels


def test_labelling_with_keys_saves_at_once_and_resumes(page, tmp_path, iface):
    page.design.min_per_class.setValue(6)
    page.design.allocation.setCurrentIndex(page.design.allocation.findData("equal"))
    page.design.target_se.setValue(0.1)
    gpkg = _create(page, tmp_path)
    lab = page.labels
    n = len(lab.fids)
    assert [b.text() for b in lab.class_buttons[:2]] == ["1  AnnualCrop", "2  Forest"]
    assert len(lab.class_buttons) == 10  # every class of the model, not only the mapped ones
    # point 1 is shown: the canvas is centred on it with a box of one model window (640 m)
    first = lab.feature()
    assert int(first["point_id"]) == 1
    pt = first.geometry().asPoint()
    box = lab.band.asGeometry().boundingBox()
    assert box.width() == pytest.approx(640.0) and box.center().x() == pytest.approx(pt.x())
    assert iface.mapCanvas().extent().contains(box)
    QTest.keyClick(lab, Qt.Key.Key_2)  # Forest
    assert saved_labels(gpkg)[1] == ("labelled", 1, "Forest")  # written at once
    QTest.keyClick(lab, Qt.Key.Key_U)
    QTest.keyClick(lab, Qt.Key.Key_S)
    QTest.keyClick(lab, Qt.Key.Key_0)  # the tenth class, SeaLake
    saved = saved_labels(gpkg)
    assert saved[2] == ("unsure", None, None) and saved[3] == ("skipped", None, None)
    assert saved[4] == ("labelled", 9, "SeaLake")
    assert lab.progress.value() == 4 and "1 unsure · 1 skipped" in lab.counts.text()
    QTest.keyClick(lab, Qt.Key.Key_Left)  # back to point 4, relabel it on the map canvas
    assert int(lab.feature()["point_id"]) == 4
    QTest.keyClick(iface.mapCanvas(), Qt.Key.Key_6)  # Pasture, typed while the canvas has the focus
    assert saved_labels(gpkg)[4] == ("labelled", 5, "Pasture")
    # resume: a fresh page on the same sample starts at the first unlabelled point
    from eurosat_landcover.ui.assess.page import AssessPage

    again = AssessPage(iface)
    try:
        again.labels.set_layer(lab.layer)
        assert int(again.labels.feature()["point_id"]) == 5
        assert again.labels.progress.value() == 4
    finally:
        again.shutdown()
    assert n > 5


def _label_everything(lab, gpkg):
    """Every remaining point by key: the map class, except that every fourth Forest point is Pasture."""
    for _ in range(len(lab.fids) + 2):
        f = lab.feature()
        if f["status"]:
            break
        code = int(f["map_code"])
        if code == 1 and int(f["point_id"]) % 4 == 0:
            code = 5
        QTest.keyClick(
            lab,
            [
                Qt.Key.Key_1,
                Qt.Key.Key_2,
                Qt.Key.Key_3,
                Qt.Key.Key_4,
                Qt.Key.Key_5,
                Qt.Key.Key_6,
                Qt.Key.Key_7,
                Qt.Key.Key_8,
                Qt.Key.Key_9,
                Qt.Key.Key_0,
            ][code],
        )
    return saved_labels(gpkg)


def test_analysis_of_the_labelled_sample_writes_the_report(page, tmp_path, iface):
    page.design.allocation.setCurrentIndex(page.design.allocation.findData("equal"))
    page.design.min_per_class.setValue(8)
    page.design.target_se.setValue(0.1)
    gpkg = _create(page, tmp_path)
    lab = page.labels
    # too few labels: one clear message, no files
    QTest.keyClick(lab, Qt.Key.Key_2)
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    crit = iface.messageBar().get_messages(Qgis.MessageLevel.Critical)
    assert crit and ("at least two" in crit[-1] or "no labelled point" in crit[-1])
    assert not (tmp_path / "scene_classes_assessment.json").exists()
    saved = _label_everything(lab, gpkg)
    assert all(s[0] == "labelled" for s in saved.values())
    page.analysis.kappa.setChecked(True)
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    data = json.loads((tmp_path / "scene_classes_assessment.json").read_text())
    assert data["results"]["n_labelled"] == len(saved) and "kappa" in data["results"]
    text = page.analysis.view.toPlainText()
    assert "Overall accuracy" in text and "Pasture" in text and page.analysis.open_button.isEnabled()
    assert split_numbers(page.analysis.view, 280) == []  # no number cut in two in a 300 px dock ("0." / "89±0.08")
    assert (tmp_path / "scene_classes_assessment.html").is_file()
    # results exist: asked before replacing; "no" keeps them untouched
    before = (tmp_path / "scene_classes_assessment.json").read_text()
    page.ask = lambda q: False
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    assert (tmp_path / "scene_classes_assessment.json").read_text() == before
    # the corrected map, assessed with the same labels (the sample's strata stay the model map's classes)
    fixed = blocky_map()
    corrected = QgsRasterLayer(str(write_classes(tmp_path / "scene_corrected.tif", fixed, summary=False)), "fixed")
    QgsProject.instance().addMapLayer(corrected)
    page.design.map_combo.setLayer(corrected)
    page.analysis.other_map.setChecked(True)
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    data = json.loads((tmp_path / "scene_corrected_assessment.json").read_text())
    assert data["results"]["estimator"] == "stehman2014" and data["provenance"]["sampled_map"].endswith("classes.tif")


def _utm_to_wgs84():
    """(the transformation UTM 32N -> EPSG:4326 in x/y order, the EPSG:4326 SRS)."""
    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    wgs.ImportFromEPSG(4326)
    for s in (utm, wgs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(utm, wgs), wgs


def _reference_points(path):
    """Points in EPSG:4326 labelled in German, one outside the map and one on its nodata corner."""
    arr = blocky_map()
    ct, wgs = _utm_to_wgs84()
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("ref", wgs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("klasse", ogr.OFTString))
    word = {0: "Acker", 1: "Wald", 7: "Siedlung", 9: "See"}
    spots = []
    for code in (0, 1, 7, 9):
        rows, cols = (arr == code).nonzero()
        spots += [(rows[i], cols[i], word[code]) for i in range(0, len(rows), len(rows) // 5)][:5]
    pts = [(ORIGIN[0] + (c + 0.5) * 10, ORIGIN[1] - (r + 0.5) * 10, w) for r, c, w in spots]
    pts += [(ORIGIN[0] - 300, ORIGIN[1] + 300, "Wald"), (ORIGIN[0] + 15, ORIGIN[1] - 15, "Wald")]
    for x, y, w in pts:
        lon, lat, _ = ct.TransformPoint(x, y)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("klasse", w)
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({lon} {lat})"))
        lyr.CreateFeature(f)
    ds = None
    return path


def test_existing_reference_layer_with_a_mapping(page, tmp_path, iface):
    ref = QgsVectorLayer(str(_reference_points(tmp_path / "ref.gpkg")) + "|layername=ref", "Referenz", "ogr")
    assert ref.isValid()
    QgsProject.instance().addMapLayer(ref)
    sec = page.reference
    sec.use_layer.setChecked(True)
    sec.layer_combo.setLayer(ref)
    sec.field_combo.setField("klasse")
    page.analysis.folder.setFilePath(str(tmp_path))
    # without a mapping the German names map to nothing: one clear message naming them
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    assert (
        "'Acker', 'See', 'Siedlung', 'Wald' map to no class"
        in iface.messageBar().get_messages(Qgis.MessageLevel.Critical)[-1]
    )

    def fill(dlg):
        pairs = {"Acker": "AnnualCrop", "Wald": "Forest", "Siedlung": "Residential", "See": "SeaLake"}
        assert [v for v, _ in dlg.combos] == sorted(pairs)
        for value, combo in dlg.combos:
            combo.setCurrentText(pairs[value])
        dlg.done(QDialog.DialogCode.Accepted)

    assert sec.edit_mapping(dialog_hook=fill)
    assert sec.mapping["Wald"] == "Forest" and "Wald → Forest" in sec.mapping_label.text()
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    data = json.loads((tmp_path / "scene_classes_assessment.json").read_text())
    assert data["reference"]["excluded"] == {"outside the map": 1, "on nodata": 1}
    assert data["results"]["n_labelled"] == 20 and data["overall_accuracy"] == pytest.approx(1.0)
    assert any("transformed" in n for n in data["results"]["notes"])


def test_a_point_layer_that_is_no_sample_is_refused(page, tmp_path):
    ref = QgsVectorLayer(str(_reference_points(tmp_path / "r.gpkg")) + "|layername=ref", "pts", "ogr")
    QgsProject.instance().addMapLayer(ref)
    page.labels.set_layer(ref)
    assert page.labels.layer is None and "is not a sample made by" in page.labels.current.text()
    assert NAMES[0] == "AnnualCrop"


def test_a_large_map_is_read_in_a_task(iface, map_layer, monkeypatch):
    from eurosat_landcover.ui.assess import design_section
    from eurosat_landcover.ui.assess.page import AssessPage

    monkeypatch.setattr(design_section, "SYNC_READ_PIXELS", 10)  # every map counts as large
    p = AssessPage(iface)
    try:
        p.design.map_combo.setLayer(None)
        p.design.map_combo.setLayer(map_layer)
        assert p.design.info is None and "Counting pixels" in p.design.size_label.text()
        assert p.tasks  # the counting runs in QGIS's task manager
        wait_tasks(p)
        assert p.design.info is not None and p.design.table.rowCount() == 4
        assert "points" in p.design.size_label.text()
    finally:
        p.shutdown()


def _reference_csv(path, duplicates=0):
    """The map's own class at 120 pixel centres (30 per class) as lon/lat rows of a CSV, keep = 1; 6 more rows
    (keep = 0) with a wrong class; then ``duplicates`` copies of kept rows."""
    import csv

    arr = blocky_map()
    ct, _wgs = _utm_to_wgs84()
    rows = []
    for code in (0, 1, 7, 9):
        r, c = (arr == code).nonzero()
        for i in range(0, 30 * (len(r) // 30), len(r) // 30):
            rows.append((r[i], c[i], NAMES[code], 1))
    rows += [(r, c, NAMES[5], 0) for r, c, _n, _k in rows[:6]]  # Pasture: wrong, filtered out
    rows += rows[:duplicates]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lon", "lat", "klasse", "keep"])
        for r, c, name, keep in rows:
            lon, lat, _ = ct.TransformPoint(ORIGIN[0] + (c + 0.5) * 10, ORIGIN[1] - (r + 0.5) * 10)
            w.writerow([f"{lon:.10f}", f"{lat:.10f}", name, keep])
    return path


def _csv_layer(path):
    uri = f"file://{path}?delimiter=,&xField=lon&yField=lat&crs=EPSG:4326&detectTypes=yes"
    layer = QgsVectorLayer(uri, "reference csv", "delimitedtext")
    assert layer.isValid() and layer.featureCount() > 0
    QgsProject.instance().addMapLayer(layer)
    return layer


def _analyse_reference(page, layer, tmp_path):
    sec = page.reference
    sec.use_layer.setChecked(True)
    sec.layer_combo.setLayer(layer)
    sec.field_combo.setField("klasse")
    page.analysis.folder.setFilePath(str(tmp_path))
    QTest.mouseClick(page.analysis.run_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)


def test_a_csv_layer_is_read_through_qgis_with_its_filter(page, tmp_path, iface):
    """Issue 25 item 2: a CSV loaded as a delimited-text point layer was read from its file with OGR ("has no
    feature with a geometry"), and a layer filter was ignored. Read through QGIS: 120 of 126 points (the
    filter), in EPSG:4326 transformed to the map's UTM, all on their own class."""
    layer = _csv_layer(_reference_csv(tmp_path / "ref.csv"))
    assert layer.setSubsetString('"keep" = 1') and layer.featureCount() == 120
    _analyse_reference(page, layer, tmp_path)
    assert not iface.messageBar().get_messages(Qgis.MessageLevel.Critical)
    data = json.loads((tmp_path / "scene_classes_assessment.json").read_text())
    assert data["results"]["n_labelled"] == 120 and data["overall_accuracy"] == pytest.approx(1.0)
    notes = " ".join(data["results"]["notes"])
    assert "transformed from EPSG:4326" in notes and "filter" in notes
    assert "Pasture" not in {c["name"] for c in data["results"]["classes"] if c["n_reference"]}


def test_duplicate_reference_points_are_counted_once_with_a_note(page, tmp_path, iface):
    """Issue 25 item 3: 40 duplicates (same place, same class) were counted as 40 more points, silently."""
    layer = _csv_layer(_reference_csv(tmp_path / "ref.csv", duplicates=40))
    layer.setSubsetString('"keep" = 1')
    _analyse_reference(page, layer, tmp_path)
    data = json.loads((tmp_path / "scene_classes_assessment.json").read_text())
    assert data["results"]["n_labelled"] == 120
    assert any("40 duplicate reference point(s)" in n and "120 of 160" in n for n in data["results"]["notes"])


def test_the_design_rereads_a_map_changed_while_the_page_was_hidden(page, map_layer, tmp_path):
    """Issue 25 item 1 (no stale state): the map of section 1 is rewritten (e.g. corrected) while the analyst is
    on another page; coming back, the design shows the map as it is now."""
    import time as _time

    assert page.design.info is not None
    before = dict(page.design.info.counts)
    page.hide()
    arr = blocky_map()
    arr[arr == 9] = 7  # every SeaLake cell becomes Residential
    _time.sleep(0.01)
    write_classes(Path(map_layer.source()), arr)
    page.show()
    after = page.design.info.counts
    assert 9 in before and 9 not in after and after[7] == before[7] + before[9]


def test_manual_allocation_of_one_point_is_refused_while_designing(page, tmp_path, iface):
    """Issue 25 item 4: 0 or 1 point for a class by hand was accepted at design time and refused at analysis."""
    d = page.design
    d.allocation.setCurrentIndex(d.allocation.findData("manual"))
    spin = d.table.cellWidget(1, 3)
    QTest.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(spin, "1")
    QTest.keyClick(spin, Qt.Key.Key_Enter)
    assert spin.value() == 1
    assert d.current_plan is None and "gives Forest fewer than 2 points" in d.size_label.text()
    assert not spin.isReadOnly()  # still editable: the analyst can fix it
    d.output.setFilePath(str(tmp_path / "never.gpkg"))
    QTest.mouseClick(d.create_button, Qt.MouseButton.LeftButton)
    wait_tasks(page)
    assert not (tmp_path / "never.gpkg").exists()
    spin.setValue(2)
    assert d.current_plan is not None


def test_the_reference_choice_stays_exclusive_in_the_narrow_dock(dock):
    """Found by scripts/replay_analyst.py after the 300 px layout: wrapping a radio button's text gave it a parent
    of its own, so "An existing reference layer" no longer unticked "The labelled sample" and the analysis kept
    asking for a labelled sample."""
    ref = dock.workspace.page("AssessPage").reference
    QTest.mouseClick(ref.use_layer, Qt.MouseButton.LeftButton)
    assert ref.use_layer.isChecked() and not ref.use_sample.isChecked()
    QTest.mouseClick(ref.use_sample, Qt.MouseButton.LeftButton)
    assert ref.use_sample.isChecked() and not ref.use_layer.isChecked()


def split_numbers(view, width: int) -> list:
    """The lines of the results tables' number cells that are not whole numbers when laid out ``width`` px wide."""
    import re

    from qgis.PyQt.QtGui import QTextTable

    doc = view.document().clone()
    doc.setTextWidth(width)
    doc.size()  # lays the document out
    bad = []
    for frame in doc.rootFrame().childFrames():
        if not isinstance(frame, QTextTable):
            continue
        for r in range(1, frame.rows()):
            for c in range(1, frame.columns()):
                block = frame.cellAt(r, c).firstCursorPosition().block()
                layout = block.layout()
                for i in range(layout.lineCount()):
                    line = layout.lineAt(i)
                    part = block.text()[line.textStart() : line.textStart() + line.textLength()].strip("\u2028 ")
                    if part and not re.fullmatch(r"(±)?\d+(\.\d+)?( %)?|–", part):
                        bad.append((r, c, part))
    return bad
