"""Streamed outputs (core/writers.py): encodings, temporary names until commit, abort, QML styles."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import make_card
from eurosat_landcover.core import writers
from eurosat_landcover.core.windows import Grid
from osgeo import gdal, osr

GT = (500000.0, 320.0, 0.0, 5000000.0, 0.0, -320.0)


def _wkt():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    return srs.ExportToWkt()


def _output_set(tmp_path, dtype="uint8", probabilities=True):
    grid = Grid(width=64 * 5, height=64 * 3, patch=64, stride=32)  # 10 x 6 cells
    card = make_card()
    return writers.OutputSet(tmp_path, "run", grid, GT, _wkt(), card, dtype, probabilities, {"MODEL": "m"}), grid


def _rows(grid, n_classes=10):
    """Cell rows: row r has class r % n_classes with p = 0.75; the first cell of each row is invalid."""
    for r in range(grid.ncy):
        probs = np.full((grid.ncx, n_classes), 0.25 / (n_classes - 1), np.float32)
        probs[:, r % n_classes] = 0.75
        valid = np.ones(grid.ncx, bool)
        valid[0] = False
        yield r, probs, valid


def test_uint8_encoding_and_commit(tmp_path):
    out, grid = _output_set(tmp_path)
    for r, probs, valid in _rows(grid):
        out.write_row(r, probs, valid)
    out.close_rasters(overviews=True)
    assert not any(p.exists() for p in out.final.values())  # still temporary
    final = out.commit({tmp_path / "run_summary.json": "{}\n"})
    assert set(final) == {"classes", "confidence", "probabilities"} and (tmp_path / "run_summary.json").is_file()
    assert not list(tmp_path.glob("*.partial*"))
    cls = gdal.Open(str(final["classes"]))
    a = cls.ReadAsArray()
    assert a.shape == (grid.ncy, grid.ncx) and cls.GetGeoTransform() == GT
    assert (a[:, 0] == writers.NODATA_CLASS).all() and (a[:, 1:] == np.arange(grid.ncy)[:, None]).all()
    assert cls.GetRasterBand(1).GetNoDataValue() == writers.NODATA_CLASS and cls.GetMetadataItem("MODEL") == "m"
    assert cls.GetRasterBand(1).GetColorTable() is not None
    conf_ds = gdal.Open(str(final["confidence"]))  # a band needs its dataset alive
    conf = conf_ds.GetRasterBand(1)
    assert conf.ReadAsArray()[0, 1] == round(0.75 * writers.U8_SCALE) and conf.GetScale() == pytest.approx(1 / 254)
    prob = gdal.Open(str(final["probabilities"]))
    assert prob.RasterCount == 10 and prob.GetRasterBand(1).GetDescription() == make_card().classes[0].name
    assert prob.GetRasterBand(1).ReadAsArray()[0, 0] == writers.NODATA_U8
    assert out.valid_cells == grid.ncy * (grid.ncx - 1) and out.class_counts.sum() == out.valid_cells


def test_float32_encoding_without_probabilities(tmp_path):
    out, grid = _output_set(tmp_path, "float32", probabilities=False)
    for r, probs, valid in _rows(grid):
        out.write_row(r, probs, valid)
    out.close_rasters(overviews=False)
    final = out.commit()
    assert "probabilities" not in final
    conf = gdal.Open(str(final["confidence"])).ReadAsArray()
    assert conf.dtype == np.float32 and np.isnan(conf[:, 0]).all() and conf[0, 1] == pytest.approx(0.75)


def test_abort_leaves_nothing(tmp_path):
    out, grid = _output_set(tmp_path)
    rows = _rows(grid)
    r, probs, valid = next(rows)
    out.write_row(r, probs, valid)
    assert list(tmp_path.glob("*.partial*"))
    out.abort()
    assert list(tmp_path.iterdir()) == []


def test_qml_styles_name_the_classes_and_use_the_one_palette():
    card = make_card()
    qml = writers.qml_paletted(card)
    for c in card.classes:
        assert c.name in qml and c.color.lower() in qml.lower()
    ramp = writers.qml_pseudocolor(1)
    n = len(writers.VIRIDIS)
    for i, color in enumerate(writers.VIRIDIS):
        assert f'<item value="{i / (n - 1):g}" color="{color}"' in ramp


def test_overview_levels():
    assert writers._overview_levels(7, 7) == []
    assert writers._overview_levels(64, 20) == [2, 4, 8]


def test_staged_file_renames_on_success_removes_on_error_and_never_replaces(tmp_path):
    import os
    from pathlib import Path

    from eurosat_landcover.core.errors import ClassificationError

    target = tmp_path / "sub" / "heat.tif"
    with writers.staged_file(target) as tmp:
        assert os.path.dirname(tmp) == str(target.parent) and tmp.endswith(".tmp.tif")
        Path(tmp).write_bytes(b"done")
    assert target.read_bytes() == b"done"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with pytest.raises(ClassificationError, match="exists: choose another name"), writers.staged_file(target):
        pass
    with pytest.raises(RuntimeError), writers.staged_file(target, overwrite=True) as tmp:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"done" and sorted(p.name for p in target.parent.iterdir()) == ["heat.tif"]
    with writers.staged_file(target, overwrite=True) as tmp:
        Path(tmp).write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_deflate_level_changes_the_bytes_never_the_pixels(tmp_path):
    """Map mode writes every 10 m pixel at DEFLATE level MAP_DEFLATE_LEVEL (GDAL's default, 6, took
    ~0.75 s per megapixel for the 10 probability bands); windows mode passes None: unchanged."""
    grid = Grid(width=64 * 24, height=64 * 16, patch=64, stride=2)  # 768 x 512 cells
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(size=(grid.ncy, grid.ncx, 10)), axis=1)
    probs = np.exp(smooth / 30 - (smooth / 30).max(-1, keepdims=True)).astype(np.float32)
    probs /= probs.sum(-1, keepdims=True)
    paths = {}
    for level in (None, 1):
        folder = tmp_path / str(level)
        folder.mkdir()
        out = writers.OutputSet(folder, "run", grid, GT, _wkt(), make_card(), deflate_level=level)
        for r in range(grid.ncy):
            out.write_row(r, probs[r], np.ones(grid.ncx, bool))
        out.close_rasters(overviews=True)
        paths[level] = out.commit()
    for kind in ("classes", "confidence", "probabilities"):
        default, fast = (gdal.Open(str(paths[level][kind])) for level in (None, 1))
        assert np.array_equal(default.ReadAsArray(), fast.ReadAsArray())
        assert default.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    sizes = [paths[level]["probabilities"].stat().st_size for level in (None, 1)]
    assert sizes[1] > sizes[0]  # level 1 compresses less: the option reached GDAL


def test_release_blocks_keeps_gdal_block_cache_from_filling(tmp_path):
    """Map mode's 10 m rasters stayed in GDAL's block cache as they were written (up to GDAL_CACHEMAX,
    128 MB in a batch run): memory grew with the raster up to that cap. Released: one block row."""
    grid = Grid(width=64 * 32, height=64 * 16, patch=64, stride=1)  # 2048 x 1024 cells: 4 block rows
    probs = np.full((grid.ncx, 10), 0.1, np.float32)
    used = {}
    for release in (False, True):
        folder = tmp_path / str(release)
        folder.mkdir()
        before = gdal.GetCacheUsed()
        out = writers.OutputSet(folder, "run", grid, GT, _wkt(), make_card(), release_blocks=release)
        for r in range(grid.ncy):
            out.write_row(r, probs, np.ones(grid.ncx, bool))
        used[release] = gdal.GetCacheUsed() - before
        out.close_rasters(overviews=False)
        paths = out.commit()
        assert (gdal.Open(str(paths["probabilities"])).ReadAsArray() == 25).all()
    assert used[False] >= 12 * grid.ncx * grid.ncy * 0.9  # 12 bands of uint8 held: the whole raster
    assert used[True] <= 12 * grid.ncx * writers.BLOCK  # at most one block row


def _random_rows(grid, seed=1):
    """(rows, width, C) probabilities and (rows, width) validity: scattered nodata and 4 all-nodata rows."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(10), size=(grid.ncy, grid.ncx)).astype(np.float32)
    valid = rng.random((grid.ncy, grid.ncx)) > 0.1
    valid[250:254] = False
    return probs, valid


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("behind", [False, True])
def test_write_rows_blocks_give_the_encoded_rows(tmp_path, dtype, behind):
    """Map mode hands class-first blocks of 192 rows (across the 256-row blocks) to write_rows, on a
    writer thread or not: every pixel is the encoding of its probabilities, as write_row's."""
    grid = Grid(width=64 * 6, height=64 * 9, patch=64, stride=1)  # 384 x 576 cells: 3 block rows
    probs, valid = _random_rows(grid)
    out = writers.OutputSet(tmp_path, "run", grid, GT, _wkt(), make_card(), dtype, write_behind=behind)
    for r0 in range(0, grid.ncy, 192):
        out.write_rows(r0, probs[r0 : r0 + 192].transpose(2, 0, 1).copy(), valid[r0 : r0 + 192].copy())
    out.close_rasters(overviews=True)
    final = out.commit()
    classes = np.where(valid, probs.argmax(-1), writers.NODATA_CLASS)
    assert np.array_equal(gdal.Open(str(final["classes"])).ReadAsArray(), classes)
    p = gdal.Open(str(final["probabilities"])).ReadAsArray()
    if dtype == "uint8":
        expected = np.where(valid[None], np.rint(probs.transpose(2, 0, 1) * writers.U8_SCALE), writers.NODATA_U8)
        assert np.array_equal(p, expected)
    else:
        assert np.array_equal(p, np.where(valid[None], probs.transpose(2, 0, 1), np.nan), equal_nan=True)
    assert out.valid_cells == valid.sum()
    assert np.array_equal(out.class_counts, np.bincount(classes[valid], minlength=10))


def test_write_behind_runs_on_a_thread_and_its_errors_reach_the_caller(tmp_path, monkeypatch):
    """The rows are encoded and written on the writer thread; a write failing there (a full disk)
    is raised on the caller's thread, and abort leaves nothing."""
    import threading

    from eurosat_landcover.core.errors import ClassificationError

    grid = Grid(width=64 * 4, height=64 * 8, patch=64, stride=1)  # 256 x 512 cells: 2 block rows
    probs, valid = _random_rows(grid)
    threads, write = set(), writers.OutputSet._write

    def failing_write(self, name, band, arr, y):
        threads.add(threading.get_ident())
        if y > 0:
            raise ClassificationError(f"cannot write {name}: No space left on device (disk full?)")
        write(self, name, band, arr, y)

    monkeypatch.setattr(writers.OutputSet, "_write", failing_write)
    out = writers.OutputSet(tmp_path, "run", grid, GT, _wkt(), make_card(), write_behind=True)
    with pytest.raises(ClassificationError, match="disk full"):
        for r0 in range(0, grid.ncy, 64):
            out.write_rows(r0, probs[r0 : r0 + 64].transpose(2, 0, 1).copy(), valid[r0 : r0 + 64].copy())
        out.close_rasters(overviews=False)
    assert threads and threading.get_ident() not in threads
    out.abort()
    assert list(tmp_path.iterdir()) == []
