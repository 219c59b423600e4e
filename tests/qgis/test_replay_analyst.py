"""Issue 25 "Done when": the analyst's whole path replayed in real QGIS by scripts/replay_analyst.py: the plugin zip
(scripts/build_zip.py) installed into a fresh QGIS profile with QGIS's "Install from ZIP" and loaded from that
profile's python/plugins, then classify, correct, export the corrected map, assess from a CSV delimited-text layer
with a filter, explain; ending with the exported raster equal to ``<run>_corrected.tif`` cell for cell.

It starts the real QGIS desktop application under Xvfb (``xvfb-run -a qgis --code``), as the analyst would use it."""

from __future__ import annotations

from .landcover_helpers import NEEDS_QGIS_DESKTOP, load_script


@NEEDS_QGIS_DESKTOP
def test_the_analysts_path_from_a_fresh_install_ends_with_the_corrected_map_exported(tmp_path):
    replay = load_script("replay_analyst")
    status = replay.run_installed(tmp_path, mode="windows", timeout=540)
    print("\n".join(status["steps"]))
    assert status["ok"], status["steps"][-3:]
    installed = next(s for s in status["steps"] if "Install from ZIP" in s)
    assert str(tmp_path / "qgis" / "profiles" / "profiles" / "default" / "python" / "plugins") in installed
    out = status["figures"]
    assert out["corrected_cells"] >= 1
    assert out["export_equals_corrected"], out
    assert out["export_vs_model"] == out["corrected_cells"]  # the export carries every correction
    n_truth = len(replay.truth_cells())
    assert out["assess_n"] == n_truth  # every tile once: the filter and the de-duplication applied
    assert any("5 duplicate reference point(s)" in n for n in out["assess_notes"])
    assert any("transformed from EPSG:4326" in n for n in out["assess_notes"])
    assert out["explain_top"] is not None
