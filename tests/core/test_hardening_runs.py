"""Runs: a model traced once per process (memory stays flat); clean-up and the real
error when a run stops before or while its reader starts; silent wrong outputs refused or warned
(256-class cards, inputs without image data, all-nodata runs); the working-raster size guard."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from engine_testlib import BrightnessModel, make_card, write_geotiff
from eurosat_landcover import cli
from eurosat_landcover.cli import classify as cli_classify
from eurosat_landcover.core.errors import ClassificationCancelled, ClassificationError
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest, max_threads
from eurosat_landcover.models import model_cache
from eurosat_landcover.models.card import ClassInfo
from eurosat_landcover.models.checkpoint import default_card_path
from hardening_testlib import assert_folder, one_error_line, run_set, small_rgb, snapshot


def _cli(capsys, *args):
    rc = cli.main(["classify", *map(str, args), "--device", "cpu", "--quiet", "--mode", "windows"])
    out, err = capsys.readouterr()
    return rc, out, err


def _req(src, out, **kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("mode", "windows")  # the windows engine (map mode: tests/core/test_map_mode.py)
    kw.setdefault("stride", 64)
    return ClassificationRequest(src, out, **kw)


# ---------------------------------------------------------------------- 2. traced once per process
def test_repeated_fast_path_runs_trace_the_model_once(tmp_path, capsys):
    model_cache.release()
    start = model_cache.stats()  # counters are cumulative over the process
    src = small_rgb(tmp_path / "in.tif")
    reasons = []
    for _ in range(3):
        rc, out, _ = _cli(
            capsys, src, tmp_path / "out", "--stride", "64", "--fast-path", "on", "--overwrite", "--batch-size", "2"
        )
        assert rc == 0
        reasons.append(json.loads(out)["fast_path"])
    stats = {k: v - start[k] for k, v in model_cache.stats().items()}
    assert stats["loads"] == 1 and stats["traces"] == 1 and stats["trace_hits"] == 2
    assert all(r["path"] == "torchscript+onednn" for r in reasons)
    assert model_cache.REUSED_NOTE not in reasons[0]["reason"]
    assert all(model_cache.REUSED_NOTE in r["reason"] and r["prepare_seconds"] == 0 for r in reasons[1:])


# ---------------------------------------------------------------------- 3. stops before/while the reader starts
def test_threads_have_an_upper_bound(tmp_path, capsys):
    src = small_rgb(tmp_path / "in.tif")
    before = snapshot(tmp_path)
    rc, out, err = _cli(capsys, src, tmp_path / "out", "--threads", "100000")
    assert rc == 2 and out == ""
    expected = f"error: threads must be a whole number from 1 to {max_threads()} (this machine's CPUs), got 100000"
    assert one_error_line(err) == expected
    assert_folder(tmp_path, before)


def test_ctrl_c_at_the_windows_step_exits_130_and_cleans_up(tmp_path, capsys, monkeypatch):
    class CtrlC:
        def __call__(self, p):
            if getattr(p, "stage", None) == "windows":
                raise KeyboardInterrupt

    monkeypatch.setattr(cli_classify, "ProgressBar", CtrlC)
    src = small_rgb(tmp_path / "in.tif")
    before = snapshot(tmp_path)
    rc = cli.main(
        ["classify", str(src), str(tmp_path / "new" / "out"), "--device", "cpu", "--mode", "windows", "--stride", "64"]
    )
    out, err = capsys.readouterr()
    assert rc == 130 and out == ""
    assert one_error_line(err) == "interrupted: partial outputs removed"
    assert_folder(tmp_path, before)  # the folders it created are gone too


@pytest.mark.parametrize("stage", ["fast_path", "windows", "overviews"])
def test_a_failing_progress_callback_is_the_error_reported(tmp_path, stage):
    src = small_rgb(tmp_path / "in.tif")
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(out)

    def progress(p):
        if p.stage == stage:
            raise ValueError(f"callback failed at {stage}")

    with pytest.raises(ValueError, match=f"callback failed at {stage}"):
        classify(_req(src, out, fast_path="on"), progress, model=(BrightnessModel(), make_card()))
    assert_folder(out, before)


def test_cancel_while_preparing_the_fast_path(tmp_path):
    src = small_rgb(tmp_path / "in.tif")
    out = tmp_path / "out"
    out.mkdir()
    seen = []

    def progress(p):
        seen.append(p.stage)

    with pytest.raises(ClassificationCancelled):
        classify(
            _req(src, out, fast_path="on"),
            progress,
            lambda: "fast_path" in seen,
            model=(BrightnessModel(), make_card()),
        )
    assert snapshot(out) == {}


# ---------------------------------------------------------------------- 6. silent wrong outputs
def _card_256(tmp_path):
    data = json.loads(default_card_path().read_text())
    data["classes"] = [{"name": f"c{i}", "color": "#808080"} for i in range(256)]
    card = tmp_path / "card256.json"
    card.write_text(json.dumps(data))
    shutil.copy(default_card_path().with_suffix(".safetensors"), tmp_path / data["weights"])
    return card


def test_a_256_class_card_is_refused(tmp_path, capsys):
    src = small_rgb(tmp_path / "in.tif")
    card = _card_256(tmp_path)
    before = snapshot(tmp_path)
    rc, out, err = _cli(capsys, src, tmp_path / "out", "--model", card)
    assert rc == 2 and out == ""
    assert one_error_line(err) == (
        "error: the model card has 256 classes; at most 255 are supported, because value 255 is the nodata "
        "value of the land-cover raster"
    )
    assert_folder(tmp_path, before)
    mc = make_card()
    mc.classes = [ClassInfo(f"c{i}", "#808080") for i in range(255)]  # 255 classes (0..254) are fine
    res = classify(_req(src, tmp_path / "out255", write_probabilities=False), model=(_last_class_model(), mc))
    from osgeo import gdal

    classes = gdal.Open(str(res.classes_path)).ReadAsArray()
    assert res.windows == 4 and (classes[:2, :2] == 254).all()  # the last class is a class, not nodata


def _last_class_model():  # a stand-in model: 255 classes, always the last one
    import torch

    class M(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], 255)
            out[:, 254] = 10.0
            return out

    return M()


def _empty_vrt(path):
    from osgeo import gdal, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = gdal.GetDriverByName("VRT").Create(str(path), 256, 256, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((500000, 10, 0, 5000000, 0, -10))
    ds.SetProjection(srs.ExportToWkt())
    ds = None
    return path


def _sparse_tif(path):
    from osgeo import gdal, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 256, 256, 3, gdal.GDT_Byte, ["SPARSE_OK=YES", "TILED=YES"])
    ds.SetGeoTransform((500000, 10, 0, 5000000, 0, -10))
    ds.SetProjection(srs.ExportToWkt())
    ds = None
    return path


@pytest.mark.parametrize("make", [_empty_vrt, _sparse_tif], ids=["vrt-without-sources", "sparse-tiff-no-tiles"])
def test_input_without_image_data_is_refused(tmp_path, capsys, make):
    src = make(tmp_path / ("empty.vrt" if make is _empty_vrt else "sparse.tif"))
    before = snapshot(tmp_path)
    rc, out, err = _cli(capsys, src, tmp_path / "out")
    assert rc == 2 and out == ""
    line = one_error_line(err)
    assert line.startswith(f"error: {src} holds no image data") and line.endswith("nothing to classify")
    assert_folder(tmp_path, before)


def test_an_all_nodata_run_warns(tmp_path, capsys):
    src = write_geotiff(tmp_path / "blank.tif", np.zeros((3, 128, 128), np.uint8), nodata=0)
    out = tmp_path / "out"
    rc, stdout, err = _cli(capsys, src, out, "--stride", "64")
    assert rc == 0
    summary = json.loads(stdout)
    assert summary["windows"]["classified"] == 0 and summary["windows"]["skipped_nodata"] == 4
    warning = "every window is nodata: nothing was classified (check the nodata value, the bands and the area)"
    assert warning in summary["warnings"]
    assert one_error_line(err) == f"warning: {warning}"
    assert set(snapshot(out)) == run_set("blank")


# ---------------------------------------------------------------------- 7. size guard
def test_huge_pixels_are_refused_before_any_work(tmp_path, capsys):
    src = write_geotiff(tmp_path / "coarse.tif", np.full((3, 64, 64), 90, np.uint8), pixel=(10000.0, 10000.0))
    before = snapshot(tmp_path)
    rc, out, err = _cli(capsys, src, tmp_path / "out")
    assert rc == 2 and out == ""
    assert one_error_line(err) == (
        "error: the working raster would be 64,000 x 64,000 px at 10 m (4.1 gigapixels) (source pixels ~1e+04 m "
        "resampled to 10 m), above the size limit of 2 gigapixels: choose a smaller area of interest, or raise "
        "the limit (--max-pixels N, 0 = no limit)"
    )
    assert_folder(tmp_path, before)


def test_a_card_with_a_tiny_gsd_is_refused(tmp_path):
    src = small_rgb(tmp_path / "in.tif")
    card = make_card(gsd_m=0.001)
    with pytest.raises(ClassificationError, match=r"1,280,000 x 1,280,000 px at 0.001 m .* above the size limit"):
        classify(_req(src, tmp_path / "out"), model=(BrightnessModel(), card))
    assert not (tmp_path / "out").exists()


def test_the_size_limit_can_be_changed(tmp_path, capsys):
    src = write_geotiff(tmp_path / "c.tif", np.full((3, 16, 16), 90, np.uint8), pixel=(100.0, 100.0))
    rc, _, err = _cli(capsys, src, tmp_path / "out", "--max-pixels", "10000")
    assert rc == 2 and "160 x 160 px at 10 m (0.0256 megapixels)" in one_error_line(err)
    assert not (tmp_path / "out").exists()
    rc, out, _ = _cli(capsys, src, tmp_path / "out", "--max-pixels", "0", "--stride", "64")
    assert rc == 0 and json.loads(out)["windows"]["total"] == 4


# ---------------------------------------------------------------------- 2. nothing stays open after a run
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
def test_no_file_stays_open_after_runs(tmp_path):
    """The reader thread once kept the raster in a reference cycle: each run left the input open
    until the garbage collector ran (the soak script counted the descriptors)."""
    import gc

    src = small_rgb(tmp_path / "in.tif")

    def open_files():
        out = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                out.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                pass
        return [f for f in out if str(tmp_path) in f]

    gc.collect()
    gc.disable()  # what the collector would free later is what leaks between collections
    try:
        for i in range(3):
            classify(_req(src, tmp_path / "out", name=f"r{i}"), model=(BrightnessModel(), make_card()))
        assert open_files() == []
    finally:
        gc.enable()
