"""Scaling source values to the model's 0-255 input scale.

- ``8bit``: values used as they are (clipped to 0..255 when the data type is wider).
- ``sentinel2_l1c``: ``clip(DN / divisor * 255, 0, 255)`` with the divisor from the model card
  (2750 for EuroSAT: the measured relation between the EuroSAT RGB JPEGs and the MS DNs).
- ``sentinel2_l2a``: the same; an offset (1000 from processing baseline 04.00) is subtracted only when
  the metadata or the values show it (core/radiometry_choice.py), never assumed.
- ``sentinel2_offset1000``: the same after subtracting 1000 (the user says the product has the offset).
- ``reflectance``: reflectance 0-1 (e.g. float exports), scaled like reflectance x 10000.
- ``percentile``: per band, 2 % -> 0 and 98 % -> 255, the percentiles computed from a
  subsample of the area read through GDAL's decimated reads (overviews when the file has them),
  never from the whole raster in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import ClassificationError

L2A_OFFSET = 1000.0
LINEAR_METHODS = ("sentinel2_l1c", "sentinel2_l2a", "sentinel2_offset1000", "reflectance")
PERCENTILES = (2.0, 98.0)
SUBSAMPLE_MAX_SIDE = 1024


@dataclass
class Radiometry:
    method: str
    divisor: Optional[float] = None
    offset: float = 0.0
    low: Optional[list[float]] = None  # percentile method, per model band
    high: Optional[list[float]] = None
    reason: str = ""
    details: dict = field(default_factory=dict)
    confidence: str = ""  # high / medium / low / given (core/radiometry_choice.py)
    evidence: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._lo = self._scale = None
        if self.method == "percentile" and self.low is not None:
            lo = np.asarray(self.low, np.float32)
            hi = np.asarray(self.high, np.float32)
            self._lo = lo[:, None, None]
            self._scale = (255.0 / np.maximum(hi - lo, 1e-6))[:, None, None].astype(np.float32)

    def apply(self, data: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """(C, H, W) array of any numeric type -> float32 on the 0-255 scale (NaN stays NaN)."""
        out = np.asarray(data, dtype=np.float32) if out is None else _copy_into(data, out)
        if out is data:  # asarray may return the input itself for float32 data
            out = out.copy()
        if self.method == "8bit":
            if data.dtype != np.uint8:
                np.clip(out, 0, 255, out=out)
        elif self.method in LINEAR_METHODS:
            if self.offset:
                out -= np.float32(self.offset)
            out *= np.float32(255.0 / self.divisor)
            np.clip(out, 0, 255, out=out)
        elif self.method == "percentile":
            out -= self._lo
            out *= self._scale
            np.clip(out, 0, 255, out=out)
        else:  # pragma: no cover - validated earlier
            raise ClassificationError(f"unknown radiometry {self.method!r}")
        return out

    def to_dict(self) -> dict:
        d = {"method": self.method, "reason": self.reason, "confidence": self.confidence, "evidence": self.evidence}
        if self.method in LINEAR_METHODS:
            d["formula"] = (
                f"clip((DN - {self.offset:g}) / {self.divisor:g} * 255, 0, 255)"
                if self.offset
                else f"clip(DN / {self.divisor:g} * 255, 0, 255)"
            )
            d["divisor"] = self.divisor
            d["offset"] = self.offset
        elif self.method == "percentile":
            d["formula"] = "clip((x - p2) / (p98 - p2) * 255, 0, 255) per band"
            d["percentiles"] = list(PERCENTILES)
            d["low"] = self.low
            d["high"] = self.high
        else:
            d["formula"] = "x (0-255 as is)"
        d.update(self.details)
        return d

    def metadata_items(self) -> dict[str, str]:
        d = self.to_dict()
        items = {"RADIOMETRY": self.method, "RADIOMETRY_FORMULA": d["formula"]}
        if self.method == "percentile":
            items["RADIOMETRY_LOW"] = " ".join(f"{v:g}" for v in self.low)
            items["RADIOMETRY_HIGH"] = " ".join(f"{v:g}" for v in self.high)
        return items


def _copy_into(data, out):
    np.copyto(out, data, casting="unsafe")
    return out


def make_radiometry(method: str, card, reason: str = "", sample=None, params: Optional[dict] = None) -> Radiometry:
    """Build the scaler. ``sample()`` -> (C, N) float array of valid values, needed for percentile;
    ``params``: the band mapping's ``radiometry_params`` (offset, quantification, evidence, confidence)."""
    params = params or {}
    extra = {"confidence": params.get("confidence", ""), "evidence": list(params.get("evidence", []))}
    if method == "8bit":
        return Radiometry("8bit", reason=reason, **extra)
    if method in LINEAR_METHODS:
        quant = float(params.get("quantification") or 10000.0)
        offset = float(params.get("offset", L2A_OFFSET if method == "sentinel2_offset1000" else 0.0))
        divisor = float(card.sentinel2_dn_divisor) * quant / 10000.0
        return Radiometry(method, divisor=divisor, offset=offset, reason=reason, **extra)
    if method == "percentile":
        if sample is None:
            raise ClassificationError("the percentile stretch needs a sample of the data")
        values, details = sample()
        low, high = percentile_limits(values)
        return Radiometry("percentile", low=low, high=high, reason=reason, details=details, **extra)
    raise ClassificationError(f"unknown radiometry {method!r}")


def percentile_limits(values: np.ndarray, percentiles: Sequence[float] = PERCENTILES):
    """values: (C, N) valid samples -> (low, high) lists; high > low guaranteed."""
    if values.shape[1] == 0:
        raise ClassificationError("no valid pixels to compute the percentile stretch from (all nodata?)")
    lo, hi = np.percentile(values.astype(np.float64), percentiles, axis=1)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return [float(v) for v in lo], [float(v) for v in hi]
