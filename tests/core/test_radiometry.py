"""Radiometry (core/radiometry.py): source values scaled to the model's 0-255 range."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testlib import make_card
from eurosat_landcover.core.radiometry import make_radiometry

CARD = None


def card():
    global CARD
    if CARD is None:
        CARD = make_card()
    return CARD


def test_radiometry_sentinel2_exact():
    dn = np.array([[[0, 1000, 2750, 5500, 65535]]], np.uint16).repeat(3, axis=0)
    r = make_radiometry("sentinel2_l1c", card())
    out = r.apply(dn)
    np.testing.assert_allclose(out[0, 0], np.clip(dn[0, 0] / 2750 * 255, 0, 255), rtol=1e-6)
    # L2A: an offset only with evidence (the band mapping's params), never assumed
    assert make_radiometry("sentinel2_l2a", card()).to_dict()["offset"] == 0
    r2 = make_radiometry("sentinel2_l2a", card(), params={"offset": 1000.0})
    np.testing.assert_allclose(
        r2.apply(dn)[0, 0], np.clip((dn[0, 0].astype(float) - 1000) / 2750 * 255, 0, 255), rtol=1e-6, atol=1e-4
    )
    assert "2750" in r.to_dict()["formula"] and r2.to_dict()["offset"] == 1000
    assert make_radiometry("sentinel2_offset1000", card()).to_dict()["offset"] == 1000
    # reflectance 0-1 (quantification 1) scales like reflectance x 10000
    r3 = make_radiometry("reflectance", card(), params={"quantification": 1.0})
    np.testing.assert_allclose(r3.apply(np.full((3, 1, 1), 0.1375, np.float32)), 127.5, rtol=1e-5)


def test_radiometry_8bit_and_percentile():
    a = np.arange(256, dtype=np.uint8).reshape(1, 1, 256).repeat(3, 0)
    np.testing.assert_array_equal(make_radiometry("8bit", card()).apply(a), a.astype(np.float32))
    vals = np.linspace(0, 1000, 10001)[None].repeat(3, 0)
    r = make_radiometry("percentile", card(), sample=lambda: (vals, {}))
    assert r.low[0] == pytest.approx(20) and r.high[0] == pytest.approx(980)
    out = r.apply(np.array([[[20.0, 500.0, 980.0, 2000.0]]] * 3, np.float32))
    np.testing.assert_allclose(out[0, 0], [0, 127.5, 255, 255], atol=1e-3)
