"""The dock's "Last run" summary and the log say which radiometry was chosen, from which evidence and
how sure, and carry the out-of-distribution warning (real BigEarthNet snow patch, bundled model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eurosat_landcover.core.pipeline import classify
from eurosat_landcover.core.request import ClassificationRequest
from eurosat_landcover.ui.classify.model_picker import card_accuracy
from eurosat_landcover.ui.classify.run_report import result_log_lines, summary_html
from osgeo import gdal

SNOW = (
    Path(__file__).resolve().parents[2]
    / "benchmarks/data/real_s2/bigearthnet_l2a/S2B_MSIL2A_20180204T94161_57_38/S2B_MSIL2A_20180204T94161_57_38"
)


def test_last_run_and_log_name_the_radiometry_evidence_and_the_ood_warning(qgis_app, tmp_path):
    from eurosat_landcover.models.checkpoint import default_card_path, load_model

    if not default_card_path().exists():
        pytest.skip("the bundled model is missing")
    model = load_model(default_card_path(), device="cpu")
    arr = np.stack([gdal.Open(f"{SNOW}_{b}.tif").ReadAsArray() for b in ("B04", "B03", "B02")])
    src = gdal.Open(f"{SNOW}_B04.tif")
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "snow.tif"), 120, 120, 3, gdal.GDT_UInt16)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    ds.WriteRaster(0, 0, 120, 120, arr.tobytes())
    ds = None
    res = classify(
        ClassificationRequest(tmp_path / "snow.tif", tmp_path / "out", stride=16, mode="windows"), model=model
    )
    html = summary_html("snow", res, 1.0)
    assert "Radiometry: Sentinel-2" in html and "from the values, medium confidence" in html
    assert "cloud or snow" in html
    log = "\n".join(result_log_lines("snow", res, 1.0))
    assert "radiometry: Sentinel-2" in log and "evidence: values: range and dark-object levels" in log
    assert "out of distribution: Unlike the training data" in log
    assert "% on EuroSAT test patches" in card_accuracy(model[1])  # the dock's model line: not this map's
