"""classify-many on a real Dask LocalCluster (2 worker processes) against single runs of the engine.

The bundled model and real GeoTIFFs (the bundled sample mosaic and warped copies of it); every
comparison reads both rasters back with GDAL.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from eurosat_landcover.core.errors import ClassificationCancelled, ClassificationError
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from eurosat_landcover.core.scaleout.blocks import plan_raster
from eurosat_landcover.core.scaleout.inputs import expand_inputs
from osgeo import gdal

distributed = pytest.importorskip("distributed")

from eurosat_landcover.core.scaleout.run import classify_many  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "eurosat_mosaic_rgb.tif"
BLOCK = 256  # px: the 768 x 512 px sample becomes 3 x 2 blocks at stride 32
KINDS = ("classes", "confidence", "probabilities")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as c:
        yield c


@pytest.fixture(scope="module")
def single_runs(tmp_path_factory):
    """Single engine runs, made once: {raster path: {kind: array}}."""
    cache: dict = {}

    def run(path: Path, stride: int = 32) -> dict:
        key = (str(path), stride)
        if key not in cache:
            out = tmp_path_factory.mktemp("single")
            res = classify(ClassificationRequest(path, out, stride=stride, threads=1, mode="windows"))
            cache[key] = {
                "classes": _read(res.classes_path),
                "confidence": _read(res.confidence_path),
                "probabilities": _read(res.probabilities_path),
            }
        return cache[key]

    return run


def _read(path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray().astype(np.int16)


def _assert_equal_to_single(summary: dict, name: str, single: dict) -> None:
    outputs = summary["rasters"][name]["outputs"]
    for kind in KINDS:
        got = _read(outputs[kind])
        assert got.shape == single[kind].shape, kind
        if kind == "classes":
            assert np.array_equal(got, single[kind]), f"{name}: classes differ in {np.sum(got != single[kind])} cells"
        else:
            assert np.abs(got - single[kind]).max() <= 1, f"{name}: {kind} differ by more than one uint8 step"


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial" in p.name]


def _warped(tmp_path: Path, epsg: int) -> Path:
    out = tmp_path / f"sample_{epsg}.tif"
    gdal.Warp(str(out), str(SAMPLE), dstSRS=f"EPSG:{epsg}", srcSRS="EPSG:32632")
    return out


# ---------------------------------------------------------------------------- plan (no cluster)
@pytest.mark.parametrize("stride", [16, 32, 64])
def test_blocks_tile_the_cell_grid_once_and_each_holds_a_window(stride):
    from eurosat_landcover.models.card import ModelCard
    from eurosat_landcover.models.checkpoint import default_card_path

    card = ModelCard.load(default_card_path())
    plan = plan_raster("s", SAMPLE, card, {"mode": "windows", "stride": stride}, BLOCK)
    owner = np.zeros((plan.grid.ncy, plan.grid.ncx), int)
    for b in plan.blocks:
        cx0, cy0, cx1, cy1 = b.core_cells
        owner[cy0:cy1, cx0:cx1] += 1
        rx0, ry0, rx1, ry1 = b.read_cells
        k = plan.grid.k
        assert (rx0, ry0) == (max(0, cx0 - k + 1), max(0, cy0 - k + 1))  # the halo: k - 1 cells
        width = min(plan.grid.width, rx1 * stride) - rx0 * stride
        height = min(plan.grid.height, ry1 * stride) - ry0 * stride
        assert width >= 64 and height >= 64
    assert (owner == 1).all()
    assert plan.split and len(plan.blocks) > 1


def test_inputs_from_folders_globs_and_lists(tmp_path):
    a, b = tmp_path / "a.tif", tmp_path / "sub" / "b.tif"
    b.parent.mkdir()
    shutil.copy(SAMPLE, a)
    shutil.copy(SAMPLE, b)
    listing = tmp_path / "list.txt"
    listing.write_text("# rasters\nsub/b.tif\n\n")
    assert list(expand_inputs([str(tmp_path / "sub")])) == ["b"]
    assert list(expand_inputs([str(tmp_path / "*.tif"), str(listing)])) == ["a", "b"]
    (tmp_path / "other").mkdir()
    shutil.copy(SAMPLE, tmp_path / "other" / "a.tif")
    with pytest.raises(ClassificationError, match="two inputs would write outputs named 'a'"):
        expand_inputs([str(a), str(tmp_path / "other" / "a.tif")])
    with pytest.raises(ClassificationError, match="does not exist"):
        expand_inputs([str(tmp_path / "missing.tif")])


def test_without_dask_the_message_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    with pytest.raises(ClassificationError, match=r"dask\[distributed\]"):
        classify_many([str(SAMPLE)], tmp_path / "out")


# ---------------------------------------------------------------------------- on the cluster
def test_split_raster_mosaic_equals_a_single_run(cluster, single_runs, tmp_path):
    summary = classify_many(
        [str(SAMPLE)],
        tmp_path / "out",
        {"mode": "windows", "stride": 32},
        scheduler=cluster.scheduler_address,
        block_size=BLOCK,
    )
    assert summary["failures"] == {}
    assert summary["rasters"]["eurosat_mosaic_rgb"]["blocks"] == 6
    _assert_equal_to_single(summary, "eurosat_mosaic_rgb", single_runs(SAMPLE))
    vrt = gdal.Open(summary["rasters"]["eurosat_mosaic_rgb"]["outputs"]["classes"])
    band = vrt.GetRasterBand(1)
    assert band.GetCategoryNames()[:2] == ["AnnualCrop", "Forest"]
    assert band.GetColorTable() is not None and band.GetNoDataValue() == 255
    assert (tmp_path / "out" / "eurosat_mosaic_rgb_classes.qml").is_file()
    assert not _partials(tmp_path / "out")


def test_map_mode_runs_each_raster_whole_and_equals_a_single_map_run(cluster, tmp_path):
    """classify-many --mode map (it refused map mode before): one block per raster, whatever the block
    size, pixel for pixel the single map run; the map model is the default, the fingerprint says map."""
    from eurosat_landcover.core.scaleout.blocks import fingerprint
    from eurosat_landcover.core.stages.model import read_card

    opts = {"mode": "map", "stride": 32}
    summary = classify_many(
        [str(SAMPLE)], tmp_path / "out", opts, scheduler=cluster.scheduler_address, block_size=BLOCK
    )
    assert summary["failures"] == {}
    raster = summary["rasters"]["eurosat_mosaic_rgb"]
    assert raster["blocks"] == 1 and raster["cells"] == [768, 512]
    assert raster["outputs"]["classes"].endswith("eurosat_mosaic_rgb_classes.tif")
    assert summary["model"]["architecture"] == "tf_efficientnet_lite0_map"
    single = classify(ClassificationRequest(SAMPLE, tmp_path / "single", mode="map", threads=1))
    for kind, path in (("classes", single.classes_path), ("probabilities", single.probabilities_path)):
        assert np.array_equal(_read(raster["outputs"][kind]), _read(path)), kind
    card = read_card(None, "map")
    assert fingerprint(opts, card, BLOCK) == fingerprint({"stride": 32}, card, BLOCK)  # map: the default mode
    assert fingerprint(opts, card, BLOCK) != fingerprint({"stride": 32, "mode": "windows"}, card, BLOCK)


def test_inputs_in_other_crss_each_equal_their_single_run(cluster, single_runs, tmp_path):
    inputs = [_warped(tmp_path, 4326), _warped(tmp_path, 3857)]
    summary = classify_many(
        [str(p) for p in inputs],
        tmp_path / "out",
        {"mode": "windows", "stride": 32},
        scheduler=cluster.scheduler_address,
        block_size=BLOCK,
    )
    assert summary["failures"] == {}
    for path in inputs:
        assert summary["rasters"][path.stem]["blocks"] > 1
        _assert_equal_to_single(summary, path.stem, single_runs(path))


def test_a_worker_killed_mid_run_still_gives_a_complete_correct_result(cluster, single_runs, tmp_path):
    with distributed.Client(cluster.scheduler_address) as client:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one(progress):
            if not killed:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        summary = classify_many(
            [str(SAMPLE)],
            tmp_path / "out",
            {"mode": "windows", "stride": 32},
            scheduler=cluster.scheduler_address,
            block_size=BLOCK,
            progress=kill_one,
        )
        client.wait_for_workers(2, timeout=60)
    assert killed
    assert summary["failures"] == {}
    _assert_equal_to_single(summary, "eurosat_mosaic_rgb", single_runs(SAMPLE))
    assert not _partials(tmp_path / "out")


def test_cancel_leaves_no_partial_file_and_a_rerun_computes_only_what_is_missing(cluster, single_runs, tmp_path):
    out = tmp_path / "out"
    finished = []
    with pytest.raises(ClassificationCancelled):
        classify_many(
            [str(SAMPLE)],
            out,
            {"mode": "windows", "stride": 32},
            scheduler=cluster.scheduler_address,
            block_size=BLOCK,
            progress=lambda p: finished.append(p.tasks_done),
            is_cancelled=lambda: len(finished) >= 2,
        )
    assert not _partials(out)
    assert not (out / "eurosat_mosaic_rgb_classes.vrt").exists()
    blocks = out / "eurosat_mosaic_rgb_blocks"
    left = sorted(p.name for p in blocks.rglob("*"))
    time.sleep(3)  # no block still writes once the cancel has returned (one did: the rerun refused its tiles)
    assert sorted(p.name for p in blocks.rglob("*")) == left
    done_before = len(list(blocks.glob("*_classes.tif")))
    assert 2 <= done_before < 6
    summary = classify_many(
        [str(SAMPLE)], out, {"mode": "windows", "stride": 32}, scheduler=cluster.scheduler_address, block_size=BLOCK
    )
    assert summary["cluster"]["blocks_reused"] == done_before
    assert summary["cluster"]["blocks_computed"] == 6 - done_before
    _assert_equal_to_single(summary, "eurosat_mosaic_rgb", single_runs(SAMPLE))


def test_a_bad_input_is_reported_by_name_while_the_others_finish(cluster, tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00 not really a tiff")
    summary = classify_many(
        [str(SAMPLE), str(bad)],
        tmp_path / "out",
        {"mode": "windows", "stride": 64},
        scheduler=cluster.scheduler_address,
    )
    assert list(summary["failures"]) == ["broken"]
    assert "broken.tif" in summary["failures"]["broken"]
    assert Path(summary["rasters"]["eurosat_mosaic_rgb"]["outputs"]["classes"]).is_file()


def test_existing_files_of_another_run_are_not_replaced_without_overwrite(cluster, tmp_path):
    out = tmp_path / "out"
    classify_many(
        [str(SAMPLE)], out, {"mode": "windows", "stride": 32}, scheduler=cluster.scheduler_address, block_size=BLOCK
    )
    before = (out / "eurosat_mosaic_rgb_blocks" / "r000_c000_classes.tif").read_bytes()
    with pytest.raises(ClassificationError, match="--overwrite"):
        classify_many(
            [str(SAMPLE)], out, {"mode": "windows", "stride": 16}, scheduler=cluster.scheduler_address, block_size=BLOCK
        )
    assert (out / "eurosat_mosaic_rgb_blocks" / "r000_c000_classes.tif").read_bytes() == before


def test_a_split_raster_with_a_percentile_stretch_uses_the_whole_rasters_limits(cluster, single_runs, tmp_path):
    """16-bit data that is not Sentinel-2 get a 2-98 % stretch: computed once for the raster, not per block."""
    scaled = tmp_path / "sample_uint16.tif"
    gdal.Translate(str(scaled), str(SAMPLE), outputType=gdal.GDT_UInt16, scaleParams=[[0, 255, 100, 30000]])
    summary = classify_many(
        [str(scaled)],
        tmp_path / "out",
        {"mode": "windows", "stride": 32},
        scheduler=cluster.scheduler_address,
        block_size=BLOCK,
    )
    assert summary["failures"] == {}
    _assert_equal_to_single(summary, "sample_uint16", single_runs(scaled))
