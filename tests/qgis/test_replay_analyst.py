"""Issue 25 "Done when": the analyst's whole path replayed in real QGIS by scripts/replay_analyst.py (classify,
correct, export the corrected map, assess from a CSV delimited-text layer with a filter, explain), ending with the
exported raster equal to ``<run>_corrected.tif`` cell for cell."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "replay_analyst.py"


def _script():
    spec = importlib.util.spec_from_file_location("replay_analyst", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_analysts_path_ends_with_the_corrected_map_exported(
    iface, qgis_new_project, clean_settings, model_card, tmp_path
):
    replay = _script()
    out = replay.replay(iface, tmp_path, model_card, say=lambda line: print("replay:", line))
    assert out["corrected_cells"] >= 1
    assert out["export_equals_corrected"], out
    assert out["export_vs_model"] == out["corrected_cells"]  # the export carries every correction
    n_truth = len(replay.truth_cells())
    assert out["assess_n"] == n_truth  # every tile once: the filter and the de-duplication applied
    assert any("5 duplicate reference point(s)" in n for n in out["assess_notes"])
    assert any("transformed from EPSG:4326" in n for n in out["assess_notes"])
    assert out["explain_top"] is not None
