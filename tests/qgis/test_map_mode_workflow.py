"""Issue 23 "Done when": a correction, an assessment, an export and an Explain click on a map-mode run, in QGIS,
through the dock's real widgets (scripts/replay_analyst.py's steps on a 384 x 256 px crop of the bundled sample,
classified with Mode = map: a class for every 10 m pixel)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "replay_analyst.py"


def _script():
    spec = importlib.util.spec_from_file_location("replay_analyst", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_correct_export_assess_explain_on_a_map_mode_run(iface, qgis_new_project, clean_settings, tmp_path):
    replay = _script()
    image, truth = replay.crop_sample(tmp_path / "crop.tif", cols=6, rows=4)
    out = replay.replay(
        iface, tmp_path / "work", None, say=lambda line: print("map mode:", line), mode="map", image=image, truth=truth
    )
    classes = replay._read(tmp_path / "work" / "runs" / f"{out['run']}_classes.tif")
    assert classes.shape == (256, 384)  # a class for every 10 m pixel of the input
    assert out["corrected_cells"] >= 1
    assert out["export_equals_corrected"], out
    assert out["export_vs_model"] == out["corrected_cells"]
    assert out["assess_n"] > 5 * len(truth)  # five points per tile and two per mapped class, duplicates left out
    assert 0.5 < out["overall_accuracy"] <= 1.0
    assert out["explain_top"] is not None
