"""Which scaling to use, decided from evidence (``auto``), or checked against it (a named method).

In order: the product's own metadata (core/radiometry_evidence.py: SAFE MTD, GDAL metadata and band
scale/offset, a STAC item beside the file), then what the values show (16 full-resolution tiles spread
over the source, :func:`source_sample`: reflectance x 10000 integers have a recognisable range and
dark-object levels per band; the +1000 offset of processing baseline 04.00 shows as no band darker
than ~1000 in a scene without blue path radiance), and only for data that are not reflectance a 2-98 %
percentile stretch. An offset is never assumed without evidence.

:func:`choose` returns a :class:`Choice`: the method, its parameters (``offset`` to subtract,
``quantification``: DN per unit reflectance), one line of evidence per source consulted, how sure
(``high``: metadata or 8-bit data; ``medium``: the values; ``low``: nothing recognisable; ``given``:
the user's choice) and the one-line reason the summary, the dock and the log show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np

from .radiometry_evidence import ProductFacts, product_metadata

L2A_OFFSET = 1000.0
REFLECTANCE_QUANT = 10000.0
S2_METHODS = ("sentinel2_l1c", "sentinel2_l2a", "sentinel2_offset1000")
# value tests (on reflectance x 10000 after any offset): see _read_values
OFFSET_FLOOR = 900.0  # every band's dark-object level at least this (and surface-like) -> the +1000 offset
# blue minus red dark-object level: the atmosphere's path radiance lifts blue in top-of-atmosphere (L1C)
# data (107-772 DN on the 50 real EuroSAT L1C tiles) but not in surface reflectance (L2A; -62..27 DN on
# the BigEarthNet L2A patches): benchmarks/data/real_s2
PATH_RADIANCE_DN = 70.0
DARK_PERCENTILE = 0.5


@dataclass
class Choice:
    method: str
    reason: str
    confidence: str  # high / medium / low / given
    evidence: list[str] = field(default_factory=list)
    offset: float = 0.0  # subtracted from every DN
    quantification: float = REFLECTANCE_QUANT  # DN per unit reflectance (S2 methods)

    def to_dict(self) -> dict:
        return asdict(self)


def dark_levels(values: np.ndarray) -> dict:
    """(C, N) valid values -> per band dark-object level (0.5th percentile), median, 99.5th percentile."""
    lo, med, hi = np.percentile(values.astype(np.float64), [DARK_PERCENTILE, 50.0, 99.5], axis=1)
    return {"dark": lo.tolist(), "median": med.tolist(), "high": hi.tolist(), "max": float(values.max())}


def _fmt(vals) -> str:
    return "/".join(f"{v:.0f}" for v in vals)


def _band_index(band_names: list[str], name: str) -> Optional[int]:
    names = [n.upper() for n in band_names]
    return names.index(name) if name in names else None


def _path_radiance(dark, band_names) -> Optional[float]:
    """Blue minus red dark-object level (DN), None without both bands."""
    b, r = _band_index(band_names, "B02"), _band_index(band_names, "B04")
    return None if b is None or r is None else float(dark[b] - dark[r])


def _read_values(levels: dict, dtype: str, band_names: list[str]) -> Optional[tuple[str, float, float, str]]:
    """-> (level hint "L1C"/"L2A"/"", offset, quantification, evidence line), or None: not reflectance."""
    dark, med, high = levels["dark"], levels["median"], levels["high"]
    path = _path_radiance(dark, band_names)
    if dtype.startswith("Float") and min(dark) >= -0.05 and max(high) <= 2.0 and max(med) > 0.0:
        quant, offset = 1.0, 0.0
        line = f"values: floats 0-{max(high):.2g}, reflectance 0-1"
        path = None if path is None else path * REFLECTANCE_QUANT
    elif max(high) <= 21000 and 20 <= float(np.median(med)) <= 8000 and min(dark) >= -100:
        quant = REFLECTANCE_QUANT
        surface = path is None or path < PATH_RADIANCE_DN
        offset = L2A_OFFSET if min(dark) >= OFFSET_FLOOR and surface else 0.0
        line = f"values: range and dark-object levels ({_fmt(dark)}) of reflectance x 10000" + (
            f"; no band darker than {min(dark):.0f}: the +1000 offset of processing baseline 04.00"
            if offset
            else "; no offset (" + ("bands go below 1000)" if min(dark) < OFFSET_FLOOR else "a bright scene)")
        )
    else:
        return None
    hint = ""
    if path is not None:
        hint = "L1C" if path >= PATH_RADIANCE_DN else "L2A"
        what = "top-of-atmosphere (L1C-like)" if hint == "L1C" else "surface reflectance (L2A-like)"
        line += f"; blue minus red dark level {path:.0f}: {what}"
    return hint, offset, quant, line


def _s2_method(level: Optional[str]) -> str:
    return "sentinel2_l2a" if level == "L2A" else "sentinel2_l1c"


def _describe(method: str, offset: float, quant: float) -> str:
    if method == "8bit":
        return "8-bit values used as they are"
    if method == "percentile":
        return "2-98 % percentile stretch"
    what = {"sentinel2_l1c": "Sentinel-2 L1C", "sentinel2_l2a": "Sentinel-2 L2A"}.get(method, "reflectance")
    scale = "reflectance 0-1" if quant == 1.0 else f"reflectance x {quant:g}"
    return f"{what} ({scale}, {'offset ' + format(offset, 'g') + ' removed' if offset else 'no offset'})"


def _finish(method, offset, quant, evidence, confidence, source) -> Choice:
    reason = f"{_describe(method, offset, quant)}: from {source}, {confidence} confidence"
    return Choice(method, reason, confidence, evidence, float(offset), float(quant))


def choose(
    requested: str,
    ds,
    model_bands: list[int],
    band_names: list[str],
    dtype: str,
    s2_layout: bool,
    sample: Callable[[], np.ndarray],
) -> Choice:
    """The radiometry for the source ``ds`` (see the module docstring). ``sample()`` -> (C, N) valid
    values of the model bands (read only when the metadata do not decide); ``s2_layout``: 13 bands
    or Sentinel-2 band names."""
    facts = product_metadata(ds, model_bands, band_names) if dtype != "Byte" else ProductFacts()
    evidence = [facts.describe()] if facts.found else ["metadata: no radiometric metadata (SAFE MTD, GDAL, STAC)"]
    if s2_layout:
        evidence.append("layout: 13 bands or Sentinel-2 band names")
    cache: dict = {}

    def levels() -> Optional[dict]:
        if "v" not in cache:
            values = sample()
            cache["v"] = dark_levels(values) if values.size else None
        return cache["v"]

    if requested and requested != "auto":
        return _requested(requested, facts, evidence, levels, dtype, band_names)
    if dtype == "Byte":
        return _finish("8bit", 0.0, 1.0, ["data type: 8-bit"], "high", "the data type (8-bit)")
    if facts.found and (facts.subtract is not None or facts.quantification is not None):
        quant = facts.quantification or REFLECTANCE_QUANT
        return _finish(_s2_method(facts.level), facts.subtract or 0.0, quant, evidence, "high", facts.source)
    lv = levels()
    if lv is not None and lv["max"] <= 255 and not dtype.startswith("Float") and not s2_layout:
        evidence.append(f"values: 0-{lv['max']:.0f} in a {dtype} file, 8-bit data")
        return _finish("8bit", 0.0, 1.0, evidence, "medium", "the values")
    read = _read_values(lv, dtype, band_names) if lv is not None else None
    if read is not None:
        hint, offset, quant, line = read
        evidence.append(line)
        method = _s2_method(facts.level or hint) if quant == REFLECTANCE_QUANT else "reflectance"
        source = "the values" + (f" ({facts.source})" if facts.found else "")
        return _finish(method, offset, quant, evidence, "medium", source)
    if lv is not None:
        evidence.append(
            f"values: dark-object levels {_fmt(lv['dark'])}, 99.5 % levels {_fmt(lv['high'])}: not reflectance"
        )
    if s2_layout and not dtype.startswith("Float"):
        return _finish("sentinel2_l1c", 0.0, REFLECTANCE_QUANT, evidence, "low", "the band layout alone")
    return _finish("percentile", 0.0, 1.0, evidence, "low", f"{dtype} data that are not recognisably reflectance")


def _requested(requested, facts, evidence, levels, dtype, band_names) -> Choice:
    """A named method: the user's choice; for Sentinel-2 the offset still comes from evidence."""
    evidence = ["given by the request", *evidence]
    if requested in ("8bit", "percentile"):
        return _finish(requested, 0.0, 1.0, evidence, "given", "the request")
    quant = facts.quantification or REFLECTANCE_QUANT
    if requested == "sentinel2_offset1000":
        return _finish(requested, L2A_OFFSET, quant, evidence, "given", "the request (offset 1000)")
    if facts.subtract is not None:
        return _finish(requested, facts.subtract, quant, evidence, "given", f"the request, offset from {facts.source}")
    lv = levels()
    read = _read_values(lv, dtype, band_names) if lv is not None else None
    offset = read[1] if read is not None and read[2] == REFLECTANCE_QUANT else 0.0
    if read is not None:
        evidence.append(read[3])
    return _finish(requested, offset, quant, evidence, "given", "the request, offset from the values")


def source_sample(ds, model_bands: list[int], alpha_band: Optional[int], tile: int = 256, grid: int = 4) -> np.ndarray:
    """(C, N) valid values of ``model_bands`` from up to ``grid`` x ``grid`` full-resolution tiles of
    ``tile`` px spread evenly over the source (the whole source when smaller): cheap on any size, the
    same for every block of a split run; validity as in core/validity.py (alpha, mask, nodata, finite)."""
    from .validity import internal_mask_band, valid_pixels

    w, h = ds.RasterXSize, ds.RasterYSize
    tw, th = min(tile, w), min(tile, h)
    xs = np.unique(np.linspace(0, w - tw, grid).round().astype(int)) if w > tw else [0]
    ys = np.unique(np.linspace(0, h - th, grid).round().astype(int)) if h > th else [0]
    bl = list(model_bands) + ([alpha_band] if alpha_band else [])
    C = len(model_bands)
    mask_of = internal_mask_band(ds, model_bands[0]) if not alpha_band else None
    nodata = [ds.GetRasterBand(b).GetNoDataValue() for b in model_bands]
    parts = []
    for y in ys:
        for x in xs:
            arr = ds.ReadAsArray(int(x), int(y), tw, th, band_list=bl)
            if arr is None:
                continue
            arr = np.asarray(arr).reshape(len(bl), th, tw)
            mask = None
            if mask_of is not None:
                mask = ds.GetRasterBand(mask_of).GetMaskBand().ReadAsArray(int(x), int(y), tw, th)
            valid = valid_pixels(arr[:C], alpha=arr[C] if alpha_band else None, mask=mask, nodata=nodata)
            parts.append(arr[:C].reshape(C, -1)[:, valid.reshape(-1)])
    return np.concatenate(parts, axis=1) if parts else np.zeros((C, 0))
