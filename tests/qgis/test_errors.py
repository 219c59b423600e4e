"""Engine errors become readable message-bar entries; tracebacks go to the log panel only."""

from __future__ import annotations

import pytest
from eurosat_landcover.__about__ import LOG_TAG
from qgis.core import Qgis, QgsApplication, QgsLayerTreeGroup, QgsProject, QgsRasterLayer

from .landcover_helpers import (  # noqa: F401 (fixtures)
    clean_settings,
    default_card_path,
    files_under,
    model_card,
    wait_for_tasks,
    write_rgb_geotiff,
)


@pytest.fixture
def panel(dock, scene, tmp_path):
    """The Classify page with the scene chosen and an output folder."""
    dock.panel.input.layer_combo.setLayer(scene)
    dock.panel.options.output_widget.setFilePath(str(tmp_path / "out"))
    return dock.panel


@pytest.fixture
def plugin_log():
    messages = []

    def receive(message, tag, level):
        if tag == LOG_TAG:
            messages.append((message, level))

    QgsApplication.messageLog().messageReceived.connect(receive)
    yield messages
    QgsApplication.messageLog().messageReceived.disconnect(receive)


def _groups():
    return [g for g in QgsProject.instance().layerTreeRoot().children() if isinstance(g, QgsLayerTreeGroup)]


def test_engine_error_is_readable(panel, iface, plugin_log, monkeypatch):
    # radiometry the engine does not know -> ClassificationError with a readable message
    monkeypatch.setattr(panel, "run_options", lambda o=panel.run_options: _with(o(), radiometry="bogus"))
    assert panel.run() is not None
    wait_for_tasks()
    criticals = iface.messageBar().get_messages(Qgis.MessageLevel.Critical)
    assert len(criticals) == 1 and "unknown radiometry" in criticals[0], criticals
    assert "Traceback" not in criticals[0]
    assert any("unknown radiometry" in m and lvl == Qgis.MessageLevel.Critical for m, lvl in plugin_log)
    assert _groups() == []


def test_unexpected_exception_logs_traceback(panel, iface, plugin_log, monkeypatch, tmp_path):
    import eurosat_landcover.core.pipeline as pipeline

    def broken(*_a, **_k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(pipeline, "classify", broken)
    assert panel.run() is not None
    wait_for_tasks()
    criticals = iface.messageBar().get_messages(Qgis.MessageLevel.Critical)
    assert len(criticals) == 1 and "ZeroDivisionError: boom" in criticals[0] and "log" in criticals[0]
    assert "Traceback" not in criticals[0]
    assert any("Traceback" in m for m, _lvl in plugin_log)
    assert _groups() == [] and files_under(tmp_path / "out") == []


def test_bad_output_folder_is_refused_before_running(panel, iface, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    panel.options.output_widget.setFilePath(str(blocker))
    assert panel.run() is None
    warnings = iface.messageBar().get_messages(Qgis.MessageLevel.Warning)
    assert any("is a file" in m for m in warnings), warnings


def _with(options, **changes):
    for k, v in changes.items():
        setattr(options, k, v)
    return options


def test_a_failing_slot_is_reported_not_raised(panel, iface, plugin_log, monkeypatch, tmp_path):
    import eurosat_landcover.ui.classify.input_section as input_section

    def broken(_layer):
        raise RuntimeError("odd CRS")

    monkeypatch.setattr(input_section, "pixel_size_m", broken)
    other = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "other.tif", size=64)), "other")
    QgsProject.instance().addMapLayer(other)
    panel.input.layer_combo.setLayer(other)  # layerChanged -> refresh_layer raises inside
    warnings = iface.messageBar().get_messages(Qgis.MessageLevel.Warning)
    assert any("odd CRS" in m and "log panel" in m for m in warnings), warnings
    assert any("Traceback" in m for m, _lvl in plugin_log)
