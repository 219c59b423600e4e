"""qgis_bridge.results: a result's layers styled once from the card the result carries, in a named group."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import numpy as np
from eurosat_landcover.qgis_bridge import results
from osgeo import gdal, osr
from qgis.core import QgsPalettedRasterRenderer, QgsProject, QgsSingleBandPseudoColorRenderer

CLASSES = [("Forest", "#1b5e20"), ("River", "#1565c0"), ("Pasture", "#c0ca33")]


def _tif(path, bands, dtype=gdal.GDT_Byte, value=1):
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 8, 8, bands, dtype)
    ds.SetGeoTransform((500000, 10, 0, 5000000, 0, -10))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(1, bands + 1):
        ds.GetRasterBand(b).WriteArray(np.full((8, 8), value, np.uint8))
    ds = None
    return path


def _sidecar(path):
    """The engine's QML beside the raster, brightened by 50: what a default-style load would apply."""
    from eurosat_landcover.core import writers

    text = writers.qml_pseudocolor().replace('brightness="0"', 'brightness="50"')
    assert 'brightness="50"' in text
    path.with_suffix(".qml").write_text(text)


def _result(tmp_path):
    classes = _tif(tmp_path / "r_classes.tif", 1)
    confidence = _tif(tmp_path / "r_confidence.tif", 1, value=200)
    probabilities = _tif(tmp_path / "r_probabilities.tif", len(CLASSES), value=100)
    for p in (classes, confidence, probabilities):
        _sidecar(p)
    card = SimpleNamespace(classes=[SimpleNamespace(name=n, color=c) for n, c in CLASSES])
    return SimpleNamespace(
        classes_path=classes, confidence_path=confidence, probabilities_path=probabilities, card=card
    )


def test_layers_styled_once_from_the_card_not_the_sidecar(qgis_app, tmp_path, monkeypatch):
    calls = []
    for name in ("style_classes", "style_confidence", "style_probability"):
        original = getattr(results, name)
        monkeypatch.setattr(results, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    layers = results.result_layers(_result(tmp_path))
    land = layers["classes"]
    assert isinstance(land.renderer(), QgsPalettedRasterRenderer)
    assert [(c.label, c.color.name()) for c in land.renderer().classes()] == CLASSES
    for layer in (land, layers["confidence"], *layers["probabilities"]):
        assert layer.brightnessFilter().brightness() == 0  # the sidecar style was not loaded
    assert isinstance(layers["confidence"].renderer(), QgsSingleBandPseudoColorRenderer)
    assert [p.name() for p in layers["probabilities"]] == ["P(Forest) · r", "P(River) · r", "P(Pasture) · r"]
    assert [p.renderer().band() for p in layers["probabilities"]] == [1, 2, 3]
    assert sorted(calls) == sorted(["style_classes", "style_confidence"] + ["style_probability"] * 3)


def test_group_on_top_with_hidden_probabilities(qgis_new_project, tmp_path):
    group = results.add_result_group(_result(tmp_path), "scene", when=datetime(2026, 1, 1, 14, 32))
    assert group.name() == "Land cover — r — 14:32:00"
    assert QgsProject.instance().layerTreeRoot().children()[0] is group
    nodes = group.findLayers()
    names = ["Land cover · r", "Confidence · r", "P(Forest) · r", "P(River) · r", "P(Pasture) · r"]
    assert [n.layer().name() for n in nodes] == names
    assert [n.isVisible() for n in nodes] == [True, False, False, False, False]


def test_area_summary_and_names():
    text = results.area_summary({"Forest": 3.0, "River": 1.0, "SeaLake": 0.0})
    assert text == "Forest 3 km² (75 %), River 1 km² (25 %)"
    assert results.probability_layer_name("Forest") == "P(Forest)"
    assert results.group_name("scene", datetime(2026, 1, 1, 14, 32)) == "Land cover — scene — 14:32:00"


def test_two_runs_in_the_same_minute_get_distinct_names(qgis_new_project, tmp_path):
    """Issue 25 item 10: two runs (two folders, same run name, same second) never share a group or layer name,
    so every layer combo lists them apart."""
    when = datetime(2026, 1, 1, 14, 32, 5)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    g1 = results.add_result_group(_result(tmp_path / "a"), "scene", when=when)
    g2 = results.add_result_group(_result(tmp_path / "b"), "scene", when=when)
    assert g1.name() != g2.name()
    names = [lyr.name() for lyr in QgsProject.instance().mapLayers().values()]
    assert len(names) == len(set(names)) == 10, names
    assert "Land cover · r" in names and "Land cover · r (2)" in names
