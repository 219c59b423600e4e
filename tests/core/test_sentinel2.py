"""The 50 real 13-band Sentinel-2 EuroSAT GeoTIFFs through the engine's band mapping and scaling."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from engine_testlib import MS_ZIP, RGB_ZIP, make_card
from eurosat_landcover.core import bands, georef
from eurosat_landcover.core.radiometry import make_radiometry
from eurosat_landcover.core.strips import read_strip

pytestmark = pytest.mark.skipif(not MS_ZIP.exists(), reason=f"{MS_ZIP} is missing")


def ms_members():
    with zipfile.ZipFile(MS_ZIP) as z:
        return sorted(m for m in z.namelist() if m.endswith(".tif"))


def vsizip(member):
    return f"/vsizip/{MS_ZIP}/{member}"


def test_ms_tiles_map_and_scale_like_the_rgb_jpegs():
    from PIL import Image

    card = make_card()
    rgb = zipfile.ZipFile(RGB_ZIP) if RGB_ZIP.exists() else None
    names = set(rgb.namelist()) if rgb else set()
    compared, mads = 0, []
    for member in ms_members():
        src = georef.open_source(vsizip(member))
        m = bands.detect_band_mapping(src, card)
        assert m.bands == [4, 3, 2] and m.radiometry == "sentinel2_l1c"
        wr = georef.prepare(src, m, 10.0)
        assert not wr.resampled and (wr.width, wr.height) == (64, 64)
        scaled, valid = read_strip(wr, make_radiometry(m.radiometry, card), 0, 64)
        assert valid.all() and scaled.shape == (3, 64, 64)
        cls, name = member.split("/")[-2:]
        jpg = f"EuroSAT_RGB/{cls}/{name[:-4]}.jpg"
        if jpg in names:
            ref = np.asarray(Image.open(io.BytesIO(rgb.read(jpg))).convert("RGB"), np.float32).transpose(2, 0, 1)
            mads.append(np.abs(scaled - ref).mean())
            compared += 1
    print(f"compared {compared} tiles with their RGB JPEG: mean abs diff {np.mean(mads):.2f}, max {max(mads):.2f}")
    assert compared >= 30
    assert float(np.mean(mads)) < 2.0 and max(mads) < 4.0  # JPEG loss only (README: 1.2 of 255)
