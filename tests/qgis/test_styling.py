"""qgis_bridge.styling on real GeoTIFFs: uint8 with a 1/254 scale (QGIS reads 0..1), plain bytes, float32."""

from __future__ import annotations

import numpy as np
import pytest
from eurosat_landcover.qgis_bridge import styling
from osgeo import gdal, osr
from qgis.core import QgsRasterLayer


def _write(path, dtype, values, scale=None):
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 8, 8, 1, dtype)
    ds.SetGeoTransform((500000, 10, 0, 5000000, 0, -10))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    band.WriteArray(values)
    if scale:
        band.SetScale(scale)
        band.SetOffset(0)
    ds = None
    return QgsRasterLayer(str(path), path.stem)


@pytest.mark.parametrize(
    ("dtype", "values", "scale", "vmax"),
    [
        (gdal.GDT_Byte, np.full((8, 8), 127, np.uint8), 1 / 254, 1.0),  # the engine's encoding
        (gdal.GDT_Byte, np.full((8, 8), 127, np.uint8), None, 255.0),
        (gdal.GDT_Float32, np.full((8, 8), 0.5, np.float32), None, 1.0),
    ],
)
def test_probability_ramp_reads_0_to_1(qgis_app, tmp_path, dtype, values, scale, vmax):
    layer = _write(tmp_path / "p.tif", dtype, values, scale)
    styling.style_probability(layer, 1, "#1b5e20")
    r = layer.renderer()
    assert r.classificationMin() == 0 and r.classificationMax() == pytest.approx(vmax)
    items = r.shader().rasterShaderFunction().colorRampItemList()
    assert [i.label for i in items] == ["0", "1"]
    assert items[-1].color.name() == "#1b5e20" and items[-1].value == pytest.approx(vmax)
