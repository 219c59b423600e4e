"""Typed progress (core/progress.py) from a real run."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import random_rgb, write_geotiff
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.progress import STAGES, WINDOWS, Progress
from eurosat_landcover.core.request import ClassificationRequest


def test_windows_report_fraction_and_message():
    p = Progress.windows(50, 200)
    assert (p.stage, p.done, p.total, str(p)) == (WINDOWS, 50, 200, "50/200 windows")
    assert p.fraction == 0.02 + 0.93 * 0.25
    assert Progress.windows(0, 0).fraction == 0.02 and Progress.windows(7, 7).fraction == pytest.approx(0.95)


def test_a_run_reports_its_stages_in_order_with_window_counts(tmp_path, brightness_model):
    path = write_geotiff(tmp_path / "in.tif", random_rgb(256, 320))
    reports: list[Progress] = []
    res = classify(
        ClassificationRequest(
            path, tmp_path / "out", stride=32, batch_size=4, device="cpu", fast_path="off", mode="windows"
        ),
        reports.append,
        model=brightness_model,
    )
    assert all(isinstance(p, Progress) for p in reports)
    order = [STAGES.index(p.stage) for p in reports]
    assert order == sorted(order) and reports[0].stage == "prepare" and reports[-1].stage == "done"
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    windows = [p for p in reports if p.stage == WINDOWS]
    assert windows and all(p.total == res.summary["windows"]["total"] for p in windows)
    assert [p.done for p in windows] == sorted(p.done for p in windows)
    assert np.isclose(res.summary["windows"]["total"], 7 * 9)


def test_scaled_maps_a_sub_job_onto_its_slice():
    from eurosat_landcover.core.progress import EXPORT, scaled

    seen: list[Progress] = []
    sub = scaled(seen.append, 0.2, 0.6)
    for f in (0.0, 0.5, 1.0, 1.5):
        sub(Progress(f, EXPORT, f"at {f}"))
    assert [round(p.fraction, 6) for p in seen] == [0.2, 0.4, 0.6, 0.6]
    assert [p.message for p in seen] == ["at 0.0", "at 0.5", "at 1.0", "at 1.5"] and {p.stage for p in seen} == {EXPORT}
    scaled(None, 0, 1)(Progress(0.5, EXPORT))  # no callback: nothing happens


def test_an_export_reports_the_one_progress_type(tmp_path):
    """export_run, like the engine, calls progress(Progress): the CLI bar and BackgroundTask take it as it is."""
    import sys
    from pathlib import Path

    from eurosat_landcover.core.export import ExportOptions, export_run

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from export_testlib import write_run

    seen: list[Progress] = []
    export_run(write_run(tmp_path / "run"), tmp_path / "out", ExportOptions(what=("report",)), seen.append)
    assert seen and all(isinstance(p, Progress) and p.stage == "export" for p in seen)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and "files written" in seen[-1].message


def test_the_cli_bar_in_a_log_has_a_line_per_stage(tmp_path, brightness_model):
    """stderr not a terminal (a log, a pipe): a line every 10 % hid the stages of the first 1 %, so a first map run
    showed "opening the raster" for the ~25 s of optimising the model for the CPU."""
    import io

    from eurosat_landcover.cli.common import ProgressBar

    path = write_geotiff(tmp_path / "in.tif", random_rgb(256, 320))
    stream = io.StringIO()
    bar = ProgressBar(stream)
    reports: list[Progress] = []
    classify(
        ClassificationRequest(
            path, tmp_path / "out", stride=32, batch_size=4, device="cpu", fast_path="off", mode="windows"
        ),
        lambda p: (reports.append(p), bar(p)),
        model=brightness_model,
    )
    lines = stream.getvalue().splitlines()
    for stage in dict.fromkeys(p.stage for p in reports):  # each stage's first message has its line
        first = next(p.message for p in reports if p.stage == stage)
        assert any(line.endswith(f"  {first}") for line in lines), (stage, lines)
    assert len(lines) <= len(set(p.stage for p in reports)) + 11  # and the windows still a line per 10 %


def test_the_cli_bar_s_time_left_follows_the_pace_of_the_windows(monkeypatch):
    """30 s of optimising the model, then 4 tiles in 3 s: at 4 of 12 the bar said "~67s left" (the whole elapsed
    time over the fraction done); the pace of the tiles gives ~6 s."""
    import io

    from eurosat_landcover.cli import common
    from eurosat_landcover.core.progress import FAST_PATH, PREPARE

    clock = iter([0.0, 0.0, 0.1, 30.0, 33.0])
    monkeypatch.setattr(common.time, "perf_counter", lambda: next(clock))
    stream = io.StringIO()
    bar = common.ProgressBar(stream)
    bar(Progress(0.0, PREPARE, "opening the raster"))
    bar(Progress(0.015, FAST_PATH, "optimising the model for the CPU"))
    bar(Progress(0.02, WINDOWS, "classifying 12 tiles on cpu", 0, 12))
    bar(Progress.windows(4, 12))
    last = stream.getvalue().splitlines()[-1]
    assert last.endswith("4/12 windows (~6s left)"), last
