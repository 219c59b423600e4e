"""Out-of-distribution warning (core/ood.py) through classify() with the bundled model: it fires on
real snow, on cloud, on a wrong pixel size and on a mostly-nodata raster, and stays quiet on EuroSAT
patches (the sample mosaic, and the TEST split itself when the dataset is there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_testlib import write_geotiff
from eurosat_landcover.core.ood import UNLIKE_SHARE, WHITE_SHARE, WindowStats
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from osgeo import gdal

ROOT = Path(__file__).resolve().parents[2]
MOSAIC = ROOT / "sample_data" / "eurosat_mosaic_rgb.tif"  # EuroSAT RGB patches, 10 m, EPSG:32632
BEN = ROOT / "benchmarks" / "data" / "real_s2" / "bigearthnet_l2a"
SNOW = BEN / "S2B_MSIL2A_20180204T94161_57_38"  # on BigEarthNet's seasonal-snow list
# snow by eye, on no BigEarthNet list: Lapland in May (mostly white), Finland in November (patches of snow)
SNOWY = ("S2A_MSIL2A_20180510T94033_19_86", "S2A_MSIL2A_20171101T094131_21_59")


@pytest.fixture(scope="module")
def bundled():
    from eurosat_landcover.models.checkpoint import default_card_path, load_model

    path = default_card_path()
    if not path.exists():
        pytest.skip(f"the bundled model {path} is missing")
    return load_model(path, device="cpu")


@pytest.fixture(scope="module")
def map_model():
    from eurosat_landcover.models.checkpoint import default_map_card_path, load_model

    return load_model(default_map_card_path(), device="cpu")


def run(path, out, model, stride=64, mode="windows"):
    req = ClassificationRequest(path, out, stride=stride, fast_path="off", write_probabilities=False, mode=mode)
    return classify(req, model=model).summary


def mosaic() -> np.ndarray:
    return gdal.Open(str(MOSAIC)).ReadAsArray()


def test_quiet_on_eurosat_mosaic_and_summary_names_the_evidence(tmp_path, bundled):
    s = run(MOSAIC, tmp_path, bundled)
    assert s["out_of_distribution"]["warning"] is None, s["out_of_distribution"]
    assert not any("Unlike the training data" in w for w in s["warnings"])
    assert s["radiometry"]["evidence"] and s["radiometry"]["confidence"] == "high"
    assert "8-bit" in s["radiometry"]["reason"]


def plain_export(patch: Path, tmp_path: Path) -> Path:
    """A real L2A patch as an analyst exports it: plain 3-band B04/B03/B02 UInt16, its georeference."""
    files = [patch / f"{patch.name}_{b}.tif" for b in ("B04", "B03", "B02")]
    arr = np.stack([gdal.Open(str(f)).ReadAsArray() for f in files])
    src = gdal.Open(str(files[0]))
    gt = src.GetGeoTransform()
    return write_geotiff(tmp_path / f"{patch.name}.tif", arr, epsg=None, wkt=src.GetProjection(), origin=(gt[0], gt[3]))


def test_fires_on_real_snow(tmp_path, bundled):
    s = run(plain_export(SNOW, tmp_path), tmp_path / "out", bundled, stride=16)
    ood = s["out_of_distribution"]
    assert ood["white_share"] >= WHITE_SHARE and "cloud or snow" in ood["warning"]
    assert ood["warning"] in s["warnings"] and "pick a clear image" in ood["warning"]


def test_fires_on_patchy_snow_in_lapland(tmp_path, bundled):
    """May 2018, 67 deg N: snow between the trees, on no snow list; not white enough window by window
    for the cloud/snow rule, but the colours and contrast are unlike the training patches."""
    ood = run(plain_export(BEN / SNOWY[0], tmp_path), tmp_path / "out", bundled, stride=16)["out_of_distribution"]
    assert ood["unlike_share"] >= UNLIKE_SHARE and "colours or contrast" in ood["warning"]


@pytest.mark.parametrize("stride", [64, 32, 16])
def test_margin_no_window_reaches_is_not_nodata(tmp_path, bundled, stride):
    """A fully valid 120 x 120 px real patch: the 56 px margin right and bottom that no 64 px window
    reaches is not nodata (it was counted as such: "75% of the area is nodata" at stride 64)."""
    from eurosat_landcover.core.windows import Grid

    assert Grid(120, 120, 64, 64).covered_cells == 1 and Grid(120, 120, 64, 16).covered_cells == 49
    p = plain_export(BEN / "S2A_MSIL2A_20170617T113321_4_55", tmp_path)
    ood = run(p, tmp_path / "out", bundled, stride=stride)["out_of_distribution"]
    assert ood["nodata_share"] == 0.0 and ood["warning"] is None, ood


# Real snow-free L2A patches on which the windows-mode warning fires all the same (a false alarm, kept
# here so that it is seen; the test below fails when it stops firing, so that the entry is removed):
# dark Austrian conifer forest in June (B02 median 70 DN): 94 % of the windows "unlike" at stride 16.
# Found 2026-12-07 when the patch joined the set; map mode stays quiet on it.
FALSE_ALARMS = ("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_89_18",)


def test_quiet_on_snow_free_real_l2a(tmp_path, bundled):
    """The 27 snow-free real L2A patches not on FALSE_ALARMS (six countries; open sea, coast, forest,
    fields, villages, a river; April to December): surface reflectance is darker than the L1C training
    data and must not read as out of distribution."""
    patches = [d for d in sorted(BEN.iterdir()) if d.name not in (SNOW.name, *SNOWY, *FALSE_ALARMS)]
    assert len(patches) == 27
    for d in patches:
        ood = run(plain_export(d, tmp_path), tmp_path / d.name, bundled, stride=16)["out_of_distribution"]
        assert ood["warning"] is None, (d.name, ood)


@pytest.mark.xfail(strict=True, reason="known false alarm on dark conifer forest (FALSE_ALARMS)")
@pytest.mark.parametrize("name", FALSE_ALARMS)
def test_quiet_on_the_known_false_alarms(tmp_path, bundled, name):
    ood = run(plain_export(BEN / name, tmp_path), tmp_path / "out", bundled, stride=16)["out_of_distribution"]
    assert ood["warning"] is None, ood


def cloudy_mosaic(tmp_path) -> Path:
    """Thick cumulus over the mosaic: a soft-edged bright blob blended in (reflectance ~0.5 -> ~245)."""
    a = mosaic().astype(np.float64)
    yy, xx = np.mgrid[0 : a.shape[1], 0 : a.shape[2]]
    rng = np.random.default_rng(0)
    cover = np.zeros(a.shape[1:])
    for cy, cx, r in zip(rng.uniform(0, a.shape[1], 6), rng.uniform(0, a.shape[2], 6), rng.uniform(90, 160, 6)):
        cover = np.maximum(cover, np.clip(1.5 - np.hypot(yy - cy, xx - cx) / r, 0, 1))
    cloudy = (a * (1 - cover) + cover * np.array([245.0, 247.0, 250.0])[:, None, None]).round().astype(np.uint8)
    return write_geotiff(tmp_path / "cloud.tif", cloudy, epsg=32632, origin=(480000.0, 5300000.0))


def test_fires_on_cloud(tmp_path, bundled):
    ood = run(cloudy_mosaic(tmp_path), tmp_path / "out", bundled)["out_of_distribution"]
    assert ood["white_share"] >= WHITE_SHARE and "cloud or snow" in ood["warning"]


def test_map_mode_fires_on_cloud_and_stays_quiet_on_the_mosaic(tmp_path, map_model):
    """Map mode's tiles feed the check as 64 px windows (it saw no window at all before: never fired)."""
    quiet = run(MOSAIC, tmp_path / "quiet", map_model, mode="map")["out_of_distribution"]
    assert quiet["warning"] is None and quiet["windows"] == 12 * 16, quiet  # 4 x 3 tiles of 4 x 4 windows
    s = run(cloudy_mosaic(tmp_path), tmp_path / "cloud", map_model, mode="map")
    ood = s["out_of_distribution"]
    assert ood["white_share"] >= WHITE_SHARE and "cloud or snow" in ood["warning"] and ood["warning"] in s["warnings"]


def test_tile_windows_are_the_tiles_64px_windows():
    from eurosat_landcover.core.stages.run_map import tile_windows

    tiles = np.arange(2 * 3 * 256 * 192, dtype=np.float32).reshape(2, 3, 256, 192)
    w = tile_windows(tiles)
    assert w.shape == (2 * 4 * 3, 3, 64, 64)
    assert np.array_equal(w[0], tiles[0, :, :64, :64]) and np.array_equal(w[5], tiles[0, :, 64:128, 128:192])
    assert np.array_equal(w[12], tiles[1, :, :64, :64])
    assert tile_windows(tiles[:, :, :40, :100]).shape == (2, 3, 40, 64)  # a short side is taken whole


def test_fires_on_wrong_pixel_size_and_nodata(tmp_path, bundled):
    a = mosaic()[:, :256, :256]
    p = write_geotiff(tmp_path / "px30.tif", a, epsg=32632, origin=(480000.0, 5300000.0), pixel=(30.0, 30.0))
    ood = run(p, tmp_path / "o1", bundled)["out_of_distribution"]
    assert ood["source_pixel_m"] == pytest.approx(30.0) and "the source pixels are ~30 m" in ood["warning"]
    b = mosaic().copy()
    b[:, :, 192:] = 0  # three quarters of the raster nodata
    q = write_geotiff(tmp_path / "nd.tif", b, epsg=32632, origin=(480000.0, 5300000.0), nodata=0)
    ood = run(q, tmp_path / "o2", bundled)["out_of_distribution"]
    assert ood["nodata_share"] >= 0.7 and "nodata" in ood["warning"]


def test_quiet_on_eurosat_test_split():
    """Every TEST-split patch as one window: the shares stay far below the thresholds."""
    from eurosat_landcover.models.dataset import DEFAULT_DATASET, list_eurosat, read_rgb, stratified_split

    if not Path(DEFAULT_DATASET).exists():
        pytest.skip(f"{DEFAULT_DATASET} is missing")
    items = stratified_split(list_eurosat(DEFAULT_DATASET), seed=42)["test"]
    stats = WindowStats()
    for i in range(0, len(items), 500):
        stats.add(np.stack([read_rgb(DEFAULT_DATASET, m) for m, _ in items[i : i + 500]]).transpose(0, 3, 1, 2))
    assert stats.n == len(items)
    assert stats.white / stats.n < WHITE_SHARE / 2 and stats.unlike / stats.n < UNLIKE_SHARE / 5
