"""Issue 27, predict and classify: damaged pictures, odd option values, a forced radiometry that makes
8-bit data meaningless, coarse pixels, and an interrupt exactly at "done". Each refusal: exit code 2,
one line on stderr, nothing on stdout, the folder unchanged and nothing partial left."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from engine_testlib import BrightnessModel, make_card, write_geotiff
from eurosat_landcover import cli
from eurosat_landcover.cli.common import ProgressBar
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.progress import DONE
from eurosat_landcover.core.request import ClassificationRequest
from hardening_testlib import assert_folder, one_error_line, run_set, small_rgb, snapshot
from PIL import Image


def _picture(path, fmt="JPEG", size=64):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(path, format=fmt)
    return path


def _cut(path, keep=0.4):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _cli_error(capsys, tmp_path, *args) -> str:
    before = snapshot(tmp_path)
    rc = cli.main([*map(str, args)])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "", (rc, out, err)
    line = one_error_line(err)
    assert line.startswith("error: ") and "Traceback" not in err and "run with --debug" not in line, line
    assert_folder(tmp_path, before)
    return line


# ------------------------------------------------------------------ 3. damaged pictures, odd options
def _cases(tmp):
    ok = _picture(tmp / "ok.jpg")
    (tmp / "taken.png").write_bytes(b"mine")
    (tmp / "folder.jpg").mkdir()
    (tmp / "text.jpg").write_text("not a picture")
    (tmp / "empty.jpg").write_bytes(b"")
    return {
        "truncated-jpeg": ([_cut(_picture(tmp / "cut.jpg"))], "error: the image cut.jpg is damaged or truncated (JPEG"),
        "truncated-png": ([_cut(_picture(tmp / "cut.png", "PNG"))], "error: the image cut.png is damaged or truncated"),
        "truncated-jpeg-8bit": ([_cut(_picture(tmp / "c8.jpg")), "--radiometry", "8bit"], "error: the image c8.jpg is"),
        "truncated-jpeg-window": ([_cut(_picture(tmp / "cw.jpg")), "--mode", "window"], "error: the image cw.jpg is"),
        "empty-file": ([tmp / "empty.jpg"], "error: cannot open"),
        "text-file": ([tmp / "text.jpg"], "error: cannot open"),
        "a-folder": ([tmp / "folder.jpg"], "error: the image"),
        "missing": ([tmp / "gone.jpg"], "error: the image"),
        "top-k-zero": ([ok, "--top-k", "0"], "error: --top-k must be a whole number from 1 to 1000, got 0"),
        "top-k-negative": ([ok, "--top-k", "-3"], "error: --top-k must be a whole number from 1 to 1000, got -3"),
        "top-k-huge": ([ok, "--top-k", "5000"], "error: --top-k must be a whole number from 1 to 1000, got 5000"),
        "opacity-nan": ([ok, "--opacity", "nan"], "error: --opacity must be a finite number from 0 to 1, got nan"),
        "opacity-inf": ([ok, "--opacity", "inf"], "error: --opacity must be a finite number from 0 to 1, got inf"),
        "opacity-negative": ([ok, "--opacity=-0.5"], "error: --opacity must be a finite number from 0 to 1, got -0.5"),
        "opacity-above-one": (
            [ok, "--opacity", "1.5"],
            "error: --opacity must be a finite number from 0 to 1, got 1.5",
        ),
        "gradcam-not-png": ([ok, "--gradcam", tmp / "heat.jpg"], "error: --gradcam writes a PNG"),
        "gradcam-exists": ([ok, "--gradcam", tmp / "taken.png"], f"error: {tmp / 'taken.png'} exists"),
        "class-without-gradcam": ([ok, "--class", "Forest"], "error: --class chooses the class of the heat map"),
        "class-unknown": ([ok, "--gradcam", tmp / "h.png", "--class", "Moon"], "error: unknown class 'Moon'"),
        "mode-window-too-small": ([_picture(tmp / "s.png", "PNG", 40), "--mode", "window"], "error: s.png is smaller"),
        "l1c-on-8-bit": ([ok, "--radiometry", "sentinel2_l1c"], "error: radiometry sentinel2_l1c scales Sentinel-2"),
        "l2a-on-8-bit": ([ok, "--radiometry", "sentinel2_l2a"], "error: radiometry sentinel2_l2a scales Sentinel-2"),
    }


PREDICT_CASES = [
    "truncated-jpeg", "truncated-png", "truncated-jpeg-8bit", "truncated-jpeg-window",
    "empty-file", "text-file", "a-folder", "missing", "top-k-zero",
    "top-k-negative", "top-k-huge", "opacity-nan", "opacity-inf", "opacity-negative", "opacity-above-one",
    "gradcam-not-png", "gradcam-exists", "class-without-gradcam", "class-unknown", "mode-window-too-small",
    "l1c-on-8-bit", "l2a-on-8-bit",
]  # fmt: skip


@pytest.mark.parametrize("kind", PREDICT_CASES)
def test_predict_refuses_in_one_line(tmp_path, capsys, kind):
    args, message = _cases(tmp_path)[kind]
    line = _cli_error(capsys, tmp_path, "predict", *args, "--device", "cpu")
    assert line.startswith(message), line


def test_the_case_list_is_complete(tmp_path):
    assert sorted(_cases(tmp_path)) == sorted(PREDICT_CASES)


# ------------------------------------------------------------------ 1. a forced radiometry on 8-bit data
@pytest.mark.parametrize("method", ["sentinel2_l1c", "sentinel2_l2a"])
def test_a_sentinel2_radiometry_forced_on_8_bit_data_is_refused(tmp_path, capsys, method):
    """Every pixel scaled to ~0 and the whole map came out SeaLake, without a word."""
    src = small_rgb(tmp_path / "in.tif")
    line = _cli_error(capsys, tmp_path, "classify", src, tmp_path / "out", "--radiometry", method, "--quiet")
    assert line.startswith(f"error: radiometry {method} scales Sentinel-2 reflectance numbers (0-10000), but this")
    assert "--radiometry auto or 8bit" in line


# ------------------------------------------------------------------ 2. coarse pixels: the engine warns
def test_kilometre_pixels_are_warned_about_on_the_cli_and_in_the_summary(tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = write_geotiff(tmp_path / "coarse.tif", rng.integers(0, 255, (3, 8, 8), np.uint8), pixel=(1000.0, 1000.0))
    rc = cli.main(
        [
            "classify",
            str(src),
            str(tmp_path / "out"),
            "--mode",
            "windows",
            "--stride",
            "64",
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    expected = "the source pixels are ~1e+03 m, the model learned 10 m"  # core/ood.py's line
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert any(expected in w for w in warnings), err
    summary = json.loads(out)
    assert any(expected in w for w in summary["warnings"])


def test_pixels_near_the_models_gsd_give_no_warning(tmp_path):
    src = small_rgb(tmp_path / "in.tif", pixel=(12.0, 12.0))
    res = classify(
        ClassificationRequest(src, tmp_path / "out", stride=64, mode="windows"), model=(BrightnessModel(), make_card())
    )
    assert not any("source pixels are" in w for w in res.warnings)


# ------------------------------------------------------------------ 9. an interrupt exactly at "done"
def _raise_at_done(exc):
    def progress(p, message=None):
        if getattr(p, "stage", None) == DONE or message == "done":
            raise exc

    return progress


def test_ctrl_c_at_done_keeps_the_complete_outputs(tmp_path, capsys, monkeypatch):
    """The outputs were complete, yet the CLI said "partial outputs removed" and exited 130."""
    src = small_rgb(tmp_path / "in.tif")
    monkeypatch.setattr(ProgressBar, "__call__", lambda self, p, m=None: _raise_at_done(KeyboardInterrupt())(p, m))
    rc = cli.main(
        ["classify", str(src), str(tmp_path / "out"), "--mode", "windows", "--stride", "64", "--device", "cpu"]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "note: interrupted after the outputs were complete: they are kept" in err
    assert "partial outputs removed" not in err
    assert json.loads(out)["outputs"]["classes"].endswith("in_classes.tif")
    assert set(snapshot(tmp_path / "out")) == run_set("in")


def test_a_progress_callback_failing_at_done_is_a_warning(tmp_path):
    src = small_rgb(tmp_path / "in.tif")
    res = classify(
        ClassificationRequest(src, tmp_path / "out", stride=64, mode="windows"),
        progress=_raise_at_done(RuntimeError("display gone")),
        model=(BrightnessModel(), make_card()),
    )
    assert any("the progress report at 'done' failed (RuntimeError: display gone)" in w for w in res.warnings)
    assert set(snapshot(tmp_path / "out")) == run_set("in")


def test_an_api_interrupt_at_done_says_the_outputs_are_complete(tmp_path):
    src = small_rgb(tmp_path / "in.tif")
    with pytest.raises(KeyboardInterrupt) as info:
        classify(
            ClassificationRequest(src, tmp_path / "out", stride=64, mode="windows"),
            progress=_raise_at_done(KeyboardInterrupt()),
            model=(BrightnessModel(), make_card()),
        )
    assert info.value.outputs_complete.classes_path.is_file()
    assert set(snapshot(tmp_path / "out")) == run_set("in")


def test_sigterm_at_done_exits_0_with_the_outputs(tmp_path, capsys, monkeypatch):
    src = small_rgb(tmp_path / "in.tif")

    def at_done(self, p, m=None):
        if getattr(p, "stage", None) == DONE:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(ProgressBar, "__call__", at_done)
    rc = cli.main(
        ["classify", str(src), str(tmp_path / "out"), "--mode", "windows", "--stride", "64", "--device", "cpu"]
    )
    _out, err = capsys.readouterr()
    assert rc == 0, err
    assert set(snapshot(tmp_path / "out")) == run_set("in")
