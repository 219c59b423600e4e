"""Map mode (classify --mode map): the bundled per-pixel model, the seamless tile blend, a real run
through the CLI on the input grid, map mode the default (issue 22), and windows mode left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eurosat_landcover import cli
from eurosat_landcover.core.tiles import RowBlender, TileGrid, starts
from osgeo import gdal

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"
TRUTH = ROOT / "sample_data" / "eurosat_mosaic_rgb_truth.json"


@pytest.fixture(scope="module")
def map_model():
    from eurosat_landcover.models.checkpoint import default_map_card_path, load_model

    return load_model(default_map_card_path())


def test_map_model_gives_logits_for_every_pixel(map_model):
    import torch

    model, card = map_model
    assert card.architecture == "tf_efficientnet_lite0_map" and card.num_classes == 10
    for h, w in ((64, 64), (100, 130), (256, 256)):
        with torch.inference_mode():
            out = model(torch.full((2, 3, h, w), 120.0))
        assert out.shape == (2, 10, h, w) and torch.isfinite(out).all()


def test_weights_file_is_self_contained_and_small():
    from eurosat_landcover.models.checkpoint import default_map_card_path

    card = json.loads(default_map_card_path().read_text())
    weights = default_map_card_path().with_name(card["weights"])
    assert weights.stat().st_size <= 25 * 2**20
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        keys = list(f.keys())
    assert any(k.startswith("trunk.blocks.") for k in keys) and any(k.startswith("decoder.") for k in keys)


def test_tiles_cover_the_raster_and_blend_without_seams():
    assert starts(100) == [0] and starts(256) == [0]
    assert starts(500) == [0, 192, 244]
    tiles = TileGrid(700, 450)
    rows = {}
    blender = RowBlender(
        tiles, 2, lambda y0, s, w: rows.update({y0 + k: (s[:, k].T.copy(), w[k].copy()) for k in range(len(w))})
    )
    probs = np.stack([np.full((tiles.th, tiles.tw), 0.25, np.float32), np.full((tiles.th, tiles.tw), 0.75, np.float32)])
    for i in range(len(tiles.ys)):
        for j in range(len(tiles.xs)):
            blender.add(i, j, probs)
        blender.row_done(i)
    assert sorted(rows) == list(range(450))
    blended = np.stack([s / w[:, None] for s, w in rows.values()])
    assert (np.stack([w for _, w in rows.values()]) > 0).all()
    np.testing.assert_allclose(blended[..., 0], 0.25, atol=1e-6)
    np.testing.assert_allclose(blended[..., 1], 0.75, atol=1e-6)


def _crop(tmp_path, xoff, yoff, w, h) -> Path:
    out = tmp_path / "crop.tif"
    gdal.Translate(str(out), str(SAMPLE), srcWin=[xoff, yoff, w, h])
    return out


def _truth_pixels(xoff, yoff, w, h):
    t = json.loads(TRUTH.read_text())
    p = t["block_px"]
    truth = np.zeros((t["rows"] * p, t["columns"] * p), np.uint8)
    for b in t["blocks"]:
        truth[b["row"] * p : (b["row"] + 1) * p, b["col"] * p : (b["col"] + 1) * p] = b["class_index"]
    return truth[yoff : yoff + h, xoff : xoff + w]


def test_cli_map_mode_writes_10m_rasters_on_the_input_grid(tmp_path, capsys):
    src = _crop(tmp_path, 64, 64, 320, 288)  # 2 x 2 tiles, whole 64 px blocks of the sample
    rc = cli.main(["classify", str(src), str(tmp_path / "out"), "--mode", "map", "--device", "cpu", "--quiet"])
    out, _err = capsys.readouterr()
    assert rc == 0
    summary = json.loads(out)
    assert summary["mode"] == "map" and summary["request"]["mode"] == "map"
    assert summary["model"]["architecture"] == "tf_efficientnet_lite0_map"
    assert summary["grid"]["cell_size_m"] == [10.0, 10.0] and summary["windows"]["unit"] == "tiles"
    ds_in = gdal.Open(str(src))
    for kind, bands in (("classes", 1), ("confidence", 1), ("probabilities", 10)):
        path = Path(summary["outputs"][kind])
        assert path.exists() and path.with_suffix(".qml").exists()
        ds = gdal.Open(str(path))
        assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (320, 288, bands)
        assert ds.GetGeoTransform() == pytest.approx(ds_in.GetGeoTransform())
        assert ds.GetMetadataItem("MODE") == "map"
    classes = gdal.Open(summary["outputs"]["classes"]).ReadAsArray()
    assert classes.max() < 10  # every pixel classified
    probs = gdal.Open(summary["outputs"]["probabilities"]).ReadAsArray().astype(int)
    assert np.abs(probs.sum(0) - 254).max() <= 10  # uint8 probabilities sum to 1 (254) per pixel
    right = (classes == _truth_pixels(64, 64, 320, 288)).mean()
    assert right >= 0.8, right
    total = sum(summary["area_km2"].values())
    assert total == pytest.approx(320 * 288 * 1e-4)


def test_map_mode_is_the_default_and_windows_mode_unchanged(tmp_path, capsys):
    """Issue 22: a run without --mode is a map-mode run (a --stride given then is unused, and stderr says so
    in one line); --mode windows gives the windows run it always gave."""
    src = _crop(tmp_path, 0, 0, 256, 192)
    rc = cli.main(["classify", str(src), str(tmp_path / "default"), "--device", "cpu", "--quiet", "--stride", "64"])
    out, err = capsys.readouterr()
    assert rc == 0
    s = json.loads(out)
    assert s["mode"] == "map" and s["request"]["mode"] == "map" and s["grid"]["cell_size_m"] == [10.0, 10.0]
    assert s["model"]["architecture"] == "tf_efficientnet_lite0_map" and s["windows"]["unit"] == "tiles"
    notes = [ln for ln in err.splitlines() if "--stride" in ln]
    assert notes == ["note: --stride 64 is unused in map mode (a class for every 10 m pixel); add --mode windows "
                     "for windows every --stride px"]  # fmt: skip
    rc = cli.main(["classify", str(src), str(tmp_path / "windows"), "--device", "cpu", "--quiet", "--mode", "windows"])
    out, err = capsys.readouterr()
    assert rc == 0 and "note" not in err
    s = json.loads(out)
    assert s["mode"] == "windows" and s["grid"]["stride_px"] == 32 and s["grid"]["cell_size_m"] == [320.0, 320.0]
    assert s["model"]["architecture"] == "tf_efficientnet_lite0" and s["windows"]["total"] == 35
    assert "unit" not in s["windows"]
    assert gdal.Open(s["outputs"]["probabilities"]).ReadAsArray().shape == (10, 6, 8)


def test_map_mode_cuts_an_area_of_interest_to_whole_pixels_whatever_the_stride(tmp_path, capsys):
    """In map mode a cell is one 10 m pixel: an area of interest is widened to whole pixels, not to the
    stride's cells (it was widened to 32 px = 320 m cells, or 640 m at stride 64, for a 10 m map)."""
    src = _crop(tmp_path, 0, 0, 256, 192)
    crop = gdal.Open(str(src)).GetGeoTransform()
    x0, y1 = crop[0], crop[3]
    bounds = [x0 + 205, y1 - 1500, x0 + 1705, y1 - 305]  # pixels 20.5-170.5 x 30.5-150 of the crop
    argv = ["classify", str(src), str(tmp_path / "out"), "--device", "cpu", "--quiet", "--mode", "map"]
    rc = cli.main([*argv, "--stride", "64", "--bounds", *map(str, bounds)])
    out, _err = capsys.readouterr()
    assert rc == 0
    ds = gdal.Open(json.loads(out)["outputs"]["classes"])
    gt = ds.GetGeoTransform()
    assert (ds.RasterXSize, ds.RasterYSize) == (151, 120)  # whole pixels 20-171 x 30-150
    assert gt[0] == pytest.approx(x0 + 200) and gt[3] == pytest.approx(y1 - 300)


def test_model_of_the_other_mode_is_refused_in_one_line(tmp_path, capsys):
    from eurosat_landcover.models.checkpoint import default_card_path, default_map_card_path

    src = _crop(tmp_path, 0, 0, 128, 128)
    for mode, card in (("map", default_card_path()), ("windows", default_map_card_path())):
        rc = cli.main(["classify", str(src), str(tmp_path / mode), "--mode", mode, "--model", str(card), "--quiet"])
        err = capsys.readouterr()[1].strip().splitlines()
        assert rc == 2 and len(err) == 1 and "mode" in err[0], err
        assert not (tmp_path / mode).exists() or not any((tmp_path / mode).iterdir())


def test_explain_and_export_work_on_a_map_mode_run(tmp_path, capsys):
    from eurosat_landcover.core.inspect import Inspector

    src = _crop(tmp_path, 0, 0, 192, 128)
    assert cli.main(["classify", str(src), str(tmp_path / "run"), "--mode", "map", "--device", "cpu", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr()[0])
    insp = Inspector.from_summary(summary["outputs"]["summary"], device="cpu")
    gt = gdal.Open(str(src)).GetGeoTransform()
    x, y = gt[0] + 100 * gt[1], gt[3] + 5 * gt[5]  # pixel (100, 5): its window is moved inside the raster
    cell = insp.cell_windows(x, y)
    assert cell.cell == (100, 5) and len(cell.windows) == 1 and cell.grid_windows == [(68, 0)]
    assert cell.probabilities.shape == (10,) and abs(float(cell.probabilities.sum()) - 1) < 1e-4
    heat = insp.heat_map(cell.windows[0])
    assert heat.shape == (64, 64) and heat.min() >= 0 and heat.max() <= 1
    rc = cli.main(["export", summary["outputs"]["summary"], str(tmp_path / "export"), "--what", "raster,report"])
    out = capsys.readouterr()[0]
    assert rc == 0, out
    written = [Path(p) for p in json.dumps(json.loads(out)).split('"') if p.startswith(str(tmp_path / "export"))]
    assert written and all(p.exists() for p in written)
    # the report's run settings speak of tiles and pixels: it said "stride 1 px" and "windows 2"
    report = next(p for p in written if p.name.endswith("_report.html")).read_text(encoding="utf-8")
    settings = report[report.index("input CRS") :]
    tiles = summary["windows"]["classified"]
    assert "<dt>mode</dt><dd>map (a class for every pixel, overlapping 256 px tiles)</dd>" in settings
    assert f"<dt>tiles</dt><dd>{tiles}</dd>" in settings and "<dt>stride</dt>" not in settings
    assert "<dt>windows</dt>" not in settings and "<dt>window</dt>" not in report


def test_map_run_never_tries_the_int8_module(tmp_path, capsys, monkeypatch):
    """fast_path=auto on a CPU with VNNI tried to quantize the per-pixel network on every map run: it
    built the eager network (timm imported) and failed FX tracing, ~10-15 s wasted per run. INT8 in map
    mode is opt-in (``--fast-path int8``: tests/models/test_int8_map.py)."""
    from eurosat_landcover.models import int8_map, int8_path

    tried = []
    monkeypatch.setattr(int8_path, "int8_flags", lambda: ["avx512_vnni"])  # as on a CPU that has them
    monkeypatch.setattr(int8_path, "prepare", lambda *a: tried.append(a) or (_ for _ in ()).throw(AssertionError))
    monkeypatch.setattr(int8_map, "prepare", lambda *a: tried.append(a) or (_ for _ in ()).throw(AssertionError))
    src = _crop(tmp_path, 0, 0, 512, 512)  # 9 tiles: the fast path's side of "auto"
    rc = cli.main(["classify", str(src), str(tmp_path / "out"), "--mode", "map", "--device", "cpu", "--quiet"])
    assert rc == 0, capsys.readouterr()[1]
    summary = json.loads(capsys.readouterr()[0])
    assert not tried and "INT8" not in summary["fast_path"]["reason"]


def test_panels_cover_the_width_in_whole_blocks():
    from eurosat_landcover.core.tiles import PANEL, panels

    assert panels(700) == [(0, 700)] and panels(PANEL) == [(0, PANEL)]
    for width in (PANEL + 1, 10240, 20480, 100_000):
        ps = panels(width)
        assert ps[0][0] == 0 and ps[-1][1] == width and all(b == c for (_, b), (c, _) in zip(ps, ps[1:]))
        assert all(a % 256 == 0 and b - a <= PANEL for a, b in ps)


def test_a_raster_run_in_panels_gives_the_pixels_of_one_full_width_pass(tmp_path, map_model, monkeypatch):
    """Memory flat in the raster's size: a wide raster runs as panels of columns (core/tiles.PANEL);
    every pixel must get the same tiles, weights and sums as in one pass over the whole width."""
    from eurosat_landcover.core import tiles
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    src = _crop(tmp_path, 0, 0, 700, 300)
    arrays = {}
    for panel in (tiles.PANEL, 256):  # one panel; three panels of 256, 256 and 188 columns
        monkeypatch.setattr(tiles, "PANEL", panel)
        req = ClassificationRequest(src, tmp_path / str(panel), mode="map", fast_path="off", device="cpu", threads=1)
        summary = classify(req, model=map_model).summary
        assert summary["windows"]["total"] == (8 if panel > 700 else 14)  # straddling tiles run in both panels
        arrays[panel] = [gdal.Open(summary["outputs"][k]).ReadAsArray() for k in ("classes", "probabilities")]
    for one, paneled in zip(arrays[tiles.PANEL], arrays[256]):
        assert np.array_equal(one, paneled)


def test_buffers_are_bounded_by_the_panel_not_the_raster_width(tmp_path, monkeypatch):
    """A raster 9000 px wide: the blend buffer is at most a panel plus its tiles' margins wide (it was
    the raster's width: (classes + 1) x 256 rows x width float32, 225 MB at 20,000 px), and every
    column is written. A fake per-pixel model (constant logits) keeps the test quick."""
    import torch
    from eurosat_landcover.core import tiles
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest
    from eurosat_landcover.core.stages.model import read_card

    class Constant(torch.nn.Module):
        def forward(self, x):
            logits = torch.zeros(x.shape[0], 10, *x.shape[2:])
            logits[:, 3] = 2.0
            return logits

    widths = []
    init = tiles.RowBlender.__init__

    def recording(self, *a, **k):
        init(self, *a, **k)
        widths.append(self.width)

    monkeypatch.setattr(tiles.RowBlender, "__init__", recording)
    from engine_testlib import write_geotiff

    sample = gdal.Open(str(SAMPLE)).ReadAsArray()[:, :300]
    wide = np.tile(sample, (1, 1, 12))[:, :, :9000]  # 10 m pixels, 9000 x 300
    src = write_geotiff(tmp_path / "wide.tif", wide, epsg=32632, origin=(480000.0, 5300000.0))
    req = ClassificationRequest(src, tmp_path / "out", mode="map", fast_path="off", device="cpu", threads=1)
    summary = classify(req, model=(Constant(), read_card(None, "map"))).summary
    assert len(widths) == len(tiles.panels(9000)) == 3
    assert max(widths) <= tiles.PANEL + 2 * tiles.TILE
    classes = gdal.Open(summary["outputs"]["classes"]).ReadAsArray()
    assert classes.shape == (300, 9000) and (classes == 3).all()


def test_batches_are_filled_across_rows_of_tiles(tmp_path, map_model):
    """The fast path runs the batch it was traced at, so a short batch was padded with blank tiles at
    the end of every row of tiles (4 tiles a row in batches of 5: 5 passes of work for 12 tiles). A
    row's last tiles now go with the next row's first: 3 passes, and the map is the same as one tile
    per pass (classes equal; eager probabilities may differ by a float rounding, at most 1/254)."""
    import torch
    from eurosat_landcover.core.pipeline import classify
    from eurosat_landcover.core.request import ClassificationRequest

    model, card = map_model
    src = _crop(tmp_path, 0, 0, 700, 450)  # 4 x 3 tiles
    arrays, batches = {}, {}
    for batch_size in (80, 16):  # 5 tiles a pass; 1 tile a pass
        sizes = batches.setdefault(batch_size, [])

        class Recording(torch.nn.Module):
            def forward(self, x, sizes=sizes):
                sizes.append(x.shape[0])
                return model(x)

        req = ClassificationRequest(
            src, tmp_path / str(batch_size), mode="map", fast_path="off", device="cpu", threads=1, batch_size=batch_size
        )
        summary = classify(req, model=(Recording(), card)).summary
        arrays[batch_size] = [gdal.Open(summary["outputs"][k]).ReadAsArray() for k in ("classes", "probabilities")]
    assert batches == {80: [5, 5, 2], 16: [1] * 12}
    assert np.array_equal(arrays[80][0], arrays[16][0])
    assert np.abs(arrays[80][1].astype(int) - arrays[16][1]).max() <= 1
