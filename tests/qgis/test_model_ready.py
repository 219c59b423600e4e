"""The Classify page's status line says when the engine keeps the model loaded for the next run
(models/model_cache.py keeps it in the QGIS process; the plugin releases it when it unloads)."""

from __future__ import annotations

from types import SimpleNamespace

from eurosat_landcover.models import model_cache
from eurosat_landcover.models.checkpoint import default_card_path
from eurosat_landcover.ui.classify.run_report import RunReport


def test_status_line_says_the_model_is_ready_after_a_run(iface):
    result = SimpleNamespace(windows=4, windows_per_second=10.0, device="cpu", area_km2={"Forest": 1.0})
    report = RunReport()
    model_cache.release()
    report.succeeded("scene", result, 1.0)
    assert report.status_label.text() == "Done: 4 windows · 10 windows/s · cpu"
    model_cache.load_model(default_card_path(), "cpu")  # what a run leaves in the process
    try:
        report.succeeded("scene", result, 1.0)
        assert report.status_label.text() == "Done: 4 windows · 10 windows/s · cpu · model ready for the next run"
    finally:
        model_cache.release()  # as the plugin's unload does
    report.succeeded("scene", result, 1.0)
    assert "model ready" not in report.status_label.text()
