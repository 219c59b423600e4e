"""The Classify page's status line says when the engine keeps the model loaded for the next run
(models/model_cache.py keeps it in the QGIS process; the plugin releases it when it unloads)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from eurosat_landcover.models import model_cache
from eurosat_landcover.models.checkpoint import default_card_path
from eurosat_landcover.ui.classify.run_report import RunReport


@pytest.fixture(autouse=True)
def _no_triton():
    """These tests load the model themselves: what every plugin path does first (xvfb maps libLLVM)."""
    from eurosat_landcover.qgis_bridge.compat import avoid_triton_llvm_clash

    avoid_triton_llvm_clash()


def test_status_line_says_the_model_is_ready_after_a_run(iface):
    result = SimpleNamespace(
        windows=4, windows_per_second=10.0, device="cpu", area_km2={"Forest": 1.0}, radiometry={}, summary={}
    )
    report = RunReport()
    model_cache.release()
    report.succeeded("scene", result, 1.0)
    assert report.status_label.text() == "Done: 4 windows · 10 windows/s · cpu"
    model_cache.cached_model(default_card_path(), "cpu")  # what a run leaves in the process
    try:
        report.succeeded("scene", result, 1.0)
        assert report.status_label.text() == "Done: 4 windows · 10 windows/s · cpu · model ready for the next run"
    finally:
        model_cache.release()  # as the plugin's unload does
    report.succeeded("scene", result, 1.0)
    assert "model ready" not in report.status_label.text()


def test_page_releases_the_kept_model_when_memory_is_short_while_idle(classify_page):
    assert classify_page.memory_timer.isActive()
    model_cache.cached_model(default_card_path(), "cpu")
    try:
        classify_page.check_memory(8192.0)  # plenty of memory: kept
        assert model_cache.stats()["models"] == 1
        classify_page.queue.pending.append(object())  # a run waiting: never released under it
        try:
            classify_page.check_memory(100.0)
        finally:
            classify_page.queue.pending.clear()
        assert model_cache.stats()["models"] == 1
        classify_page.check_memory(100.0)
        assert model_cache.stats()["models"] == 0
        assert classify_page.report.status_label.text().startswith("Memory is short (100 MB available)")
    finally:
        model_cache.release()
