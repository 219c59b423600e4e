"""Radiometry decided from evidence (core/radiometry_choice.py, core/radiometry_evidence.py) on real
Sentinel-2 data (benchmarks/data/real_s2: BigEarthNet L2A patches, EuroSAT L1C GeoTIFFs), exported
as an analyst would (plain 3-band B04/B03/B02) or with the metadata that carries the L2A offset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from engine_testlib import make_card, write_geotiff
from eurosat_landcover.core.bands import detect_band_mapping
from eurosat_landcover.core.radiometry import make_radiometry
from osgeo import gdal

REAL = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "real_s2"
BEN = REAL / "bigearthnet_l2a"
PATCH = "S2A_MSIL2A_20170617T113321_4_55"  # Ireland, June 2017, pastures: sen2cor L2A, no offset


def card():
    return make_card()


def ben_rgb(name=PATCH) -> tuple[np.ndarray, str]:
    """(3, 120, 120) UInt16 B04/B03/B02 of a real BigEarthNet patch, and a file for its georeference."""
    files = [BEN / name / f"{name}_{b}.tif" for b in ("B04", "B03", "B02")]
    return np.stack([gdal.Open(str(f)).ReadAsArray() for f in files]), str(files[0])


def write_like(path: Path, arr: np.ndarray, like: str) -> Path:
    src = gdal.Open(like)
    gt = src.GetGeoTransform()
    write_geotiff(path, arr, epsg=None, wkt=src.GetProjection(), origin=(gt[0], gt[3]), pixel=(gt[1], -gt[5]))
    return path


def scaled(path, **kw):
    m = detect_band_mapping(str(path), card(), **kw)
    ds = gdal.Open(str(path))
    raw = ds.ReadAsArray(band_list=m.bands)
    rad = make_radiometry(m.radiometry, card(), m.radiometry_reason, None, m.radiometry_params)
    return m, rad, raw, rad.apply(raw)


def test_real_l2a_plain_export_is_reflectance_without_offset(tmp_path):
    arr, like = ben_rgb()
    p = write_like(tmp_path / "l2a.tif", arr, like)
    m, rad, raw, out = scaled(p)
    assert m.radiometry == "sentinel2_l2a" and rad.offset == 0 and rad.confidence == "medium"
    assert any("no offset" in e for e in rad.evidence) and "surface reflectance" in rad.evidence[-1]
    np.testing.assert_allclose(out, np.clip(raw / 2750.0 * 255, 0, 255), rtol=1e-5)
    # the old bug: naming the level L2A must not subtract 1000 from a pre-2022 product
    _, rad2, _, _ = scaled(p, radiometry="sentinel2_l2a")
    assert rad2.offset == 0 and "given by the request" in rad2.evidence
    assert scaled(p, radiometry="sentinel2_offset1000")[1].offset == 1000  # the user can still say so


SNOW_FREE = sorted(d.name for d in BEN.iterdir() if d.name != "S2B_MSIL2A_20180204T94161_57_38")


def test_every_real_l2a_patch_plain_and_with_the_offset(tmp_path):
    """The value rules on 30 real L2A patches (all but the one BigEarthNet lists as snow-covered; six
    countries, thirteen dates, open sea to forest, patchy snow in two): plain -> surface reflectance, no
    offset; + 1000 without any metadata -> the baseline-04.00 offset found in the values and removed."""
    assert len(SNOW_FREE) == 30
    for name in SNOW_FREE:
        arr, like = ben_rgb(name)
        m, rad, raw, out = scaled(write_like(tmp_path / f"{name}.tif", arr, like))
        assert (m.radiometry, rad.offset) == ("sentinel2_l2a", 0), (name, rad.evidence)
        np.testing.assert_allclose(out, np.clip(raw / 2750.0 * 255, 0, 255), rtol=1e-5)
        m, rad, raw, out = scaled(write_like(tmp_path / f"{name}_1000.tif", arr + np.uint16(1000), like))
        assert (m.radiometry, rad.offset, rad.confidence) == ("sentinel2_l2a", 1000, "medium"), (name, rad.evidence)
        np.testing.assert_allclose(out, np.clip((raw - 1000.0) / 2750.0 * 255, 0, 255), rtol=1e-5, atol=1e-3)


def test_real_l1c_plain_export_is_reflectance_l1c():
    """All 53 real L1C tiles: no offset, even PermanentCrop_2443 whose every band is above 1000."""
    tifs = sorted((REAL / "eurosat_ms_l1c").glob("*.tif")) + sorted((REAL / "eurosat_ms_l1c_rico_hdl").glob("*.tif"))
    assert len(tifs) == 53
    for p in tifs:
        m, rad, raw, out = scaled(p)
        assert m.radiometry == "sentinel2_l1c" and rad.offset == 0, (p.name, rad.evidence)
        assert "top-of-atmosphere" in rad.evidence[-1]
        np.testing.assert_allclose(out, np.clip(raw / 2750.0 * 255, 0, 255), rtol=1e-5)


def test_l2a_offset_from_stac_item(tmp_path):
    arr, like = ben_rgb()
    p = write_like(tmp_path / "T29UPU_visual.tif", arr + np.uint16(1000), like)
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "x",
        "properties": {"processing:level": "L2A", "s2:processing_baseline": "05.10"},
        "assets": {"visual": {"href": "./T29UPU_visual.tif", "raster:bands": [{"scale": 0.0001, "offset": -0.1}] * 3}},
    }
    (tmp_path / "item.json").write_text(json.dumps(item))
    m, rad, raw, out = scaled(p)
    assert (m.radiometry, rad.offset, rad.confidence) == ("sentinel2_l2a", 1000, "high")
    assert "STAC item item.json" in m.radiometry_reason
    np.testing.assert_allclose(out, np.clip((raw - 1000.0) / 2750.0 * 255, 0, 255), rtol=1e-5, atol=1e-3)


MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info><PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE></Product_Info>
<Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>
<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>
{offsets}</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>
"""


@pytest.mark.parametrize("baseline,offset", [("05.09", 1000), ("02.07", 0)])
def test_l2a_offset_from_safe_metadata(tmp_path, baseline, offset):
    """A SAFE product's MTD_MSIL2A.xml two folders above the band file decides, offset or not."""
    arr, like = ben_rgb()
    safe = tmp_path / "S2A_MSIL2A_X.SAFE"
    img = safe / "GRANULE" / "IMG_DATA"
    img.mkdir(parents=True)
    offs = ""
    if offset:
        offs = "<BOA_ADD_OFFSET_VALUES_LIST>" + "".join(
            f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13)
        )
        offs += "</BOA_ADD_OFFSET_VALUES_LIST>"
    (safe / "MTD_MSIL2A.xml").write_text(MTD.format(baseline=baseline, offsets=offs))
    p = write_like(img / "rgb.tif", arr + np.uint16(offset), like)
    m, rad, raw, out = scaled(p)
    assert (m.radiometry, rad.offset, rad.confidence) == ("sentinel2_l2a", offset, "high")
    assert "MTD_MSIL2A.xml" in m.radiometry_reason and f"baseline {baseline}" in rad.evidence[0]
    np.testing.assert_allclose(out, np.clip((raw - float(offset)) / 2750.0 * 255, 0, 255), rtol=1e-5, atol=1e-3)


def test_l2a_offset_from_gdal_metadata_and_from_values(tmp_path):
    arr, like = ben_rgb()
    p = write_like(tmp_path / "meta.tif", arr + np.uint16(1000), like)
    ds = gdal.Open(str(p), gdal.GA_Update)
    ds.SetMetadata({"BOA_ADD_OFFSET_B4": "-1000", "BOA_QUANTIFICATION_VALUE": "10000", "PROCESSING_BASELINE": "04.00"})
    ds = None
    m, rad, _, _ = scaled(p)
    assert (rad.offset, rad.confidence) == (1000, "high") and "GDAL metadata" in m.radiometry_reason
    # no metadata at all: the values show the offset (no band darker than 1000)
    q = write_like(tmp_path / "bare.tif", arr + np.uint16(1000), like)
    m, rad, _, _ = scaled(q)
    assert (m.radiometry, rad.offset, rad.confidence) == ("sentinel2_l2a", 1000, "medium")
    assert "offset of processing baseline 04.00" in rad.evidence[-1]


def test_8bit_float_and_non_reflectance(tmp_path):
    arr, like = ben_rgb()
    rgb8 = np.clip(arr / 2750.0 * 255, 0, 255).round().astype(np.uint8)
    m, rad, raw, out = scaled(write_like(tmp_path / "rgb8.tif", rgb8, like))
    assert (m.radiometry, rad.confidence) == ("8bit", "high")
    np.testing.assert_array_equal(out, raw.astype(np.float32))
    m, rad, raw, out = scaled(write_like(tmp_path / "f.tif", (arr / 10000.0).astype(np.float32), like))
    assert m.radiometry == "reflectance" and rad.offset == 0
    np.testing.assert_allclose(out, np.clip(arr / 2750.0 * 255, 0, 255), rtol=1e-4, atol=1e-3)
    stretched = (arr.astype(np.float64) * 20 + 5000).clip(0, 65535).astype(np.uint16)  # an aerial 16-bit scale
    m = detect_band_mapping(str(write_like(tmp_path / "u16.tif", stretched, like)), card())
    assert m.radiometry == "percentile" and m.radiometry_params["confidence"] == "low"
    assert "not reflectance" in m.radiometry_params["evidence"][-1]
