"""Inputs that are not plain GeoTIFF paths, and runs that share an output folder."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from engine_testlib import write_geotiff
from eurosat_landcover.core.errors import ClassificationError
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from osgeo import gdal


def _image():
    img = np.full((3, 128, 192), 20, np.uint8)
    img[:, 64:128, 64:128] = 250
    return img


def test_geopackage_raster_connection_string(tmp_path, brightness_model):
    tif = write_geotiff(tmp_path / "a.tif", _image())
    gpkg = tmp_path / "a.gpkg"
    gdal.Translate(str(gpkg), str(tif), format="GPKG", creationOptions=["RASTER_TABLE=scene"])
    source = f"GPKG:{gpkg}:scene"
    res = classify(
        ClassificationRequest(source, tmp_path / "out", stride=64, device="cpu", name="scene", mode="windows"),
        model=brightness_model,
    )
    cls = gdal.Open(str(res.classes_path)).ReadAsArray()
    np.testing.assert_array_equal(cls, [[0, 0, 0], [0, 9, 0]])


def test_missing_plain_path_is_reported_as_missing(tmp_path, brightness_model):
    with pytest.raises(ClassificationError, match="does not exist"):
        classify(
            ClassificationRequest(tmp_path / "nope.tif", tmp_path / "out", device="cpu", mode="windows"),
            model=brightness_model,
        )


def test_concurrent_runs_into_one_folder(tmp_path, brightness_model):
    """Two runs in one process (two Processing dialogs, say) may write to the same folder at once."""
    tif = write_geotiff(tmp_path / "a.tif", _image())
    errors, results = [], []

    def run(name):
        try:
            req = ClassificationRequest(tif, tmp_path / "out", stride=64, device="cpu", name=name, mode="windows")
            results.append(classify(req, model=brightness_model))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"run{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(r.classes_path.name for r in results) == [f"run{i}_classes.tif" for i in range(4)]
    assert not list((tmp_path / "out").glob(".eurosat-write-test-*"))
