"""Which source bands feed the model, and how their values are scaled (auto-detection).

Rules, first match wins (``BandMapping.reason`` says which one applied):

1. ``bands`` given by the request (1-based source bands, one per model band).
2. Band descriptions naming Sentinel-2 bands (``B4``, ``B04``, ``b8a``, ``B4 (red)``...).
3. Band descriptions naming the model's roles (``red``, ``green``, ``blue``).
4. 13 bands: Sentinel-2 in EuroSAT order B01 B02 B03 B04 B05 B06 B07 B08 B09 B10 B11 B12 B8A.
5. Colour interpretation Red/Green/Blue (ordinary RGB imagery, e.g. a BGR file is read right).
6. 3 or 4 bands: bands 1, 2, 3 as red, green, blue (a 4th band is alpha only when its colour
   interpretation says so; otherwise, e.g. near-infrared, it is ignored).

Radiometry ("auto"): decided from evidence by core/radiometry_choice.py (the product's metadata, then
the values, a percentile stretch only for data that are not reflectance); its reason, evidence and
confidence travel in ``BandMapping.radiometry_params``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from osgeo import gdal

from . import gdalutil, radiometry_choice
from .errors import ClassificationError
from .radiometry_evidence import s2_band_name
from .request import RADIOMETRY_METHODS

EUROSAT_MS_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")

_ROLE_INTERP = {"red": gdal.GCI_RedBand, "green": gdal.GCI_GreenBand, "blue": gdal.GCI_BlueBand}


@dataclass
class BandMapping:
    """1-based source band per model band, the radiometry to apply, and why."""

    bands: list[int]
    radiometry: str
    reason: str
    radiometry_reason: str = ""
    alpha_band: Optional[int] = None  # 1-based source alpha band, if any
    band_names: list[str] = field(default_factory=list)  # model band names, same order as `bands`
    source_band_count: int = 0
    source_dtype: str = ""
    radiometry_params: dict = field(default_factory=dict)  # core/radiometry_choice.Choice: offset, evidence...

    def to_dict(self) -> dict:
        return asdict(self)


def _normalise_card_band(name: str) -> str:
    return s2_band_name(name) or name.upper()


def _open(source) -> gdal.Dataset:
    if isinstance(source, gdal.Dataset):
        return source
    return gdalutil.call(f"cannot open {source} as a raster", gdal.Open, str(source))


def _alpha_band(ds: gdal.Dataset) -> Optional[int]:
    for i in range(1, ds.RasterCount + 1):
        if ds.GetRasterBand(i).GetColorInterpretation() == gdal.GCI_AlphaBand:
            return i
    return None


def detect_band_mapping(
    source: str | Path | gdal.Dataset,
    card,
    bands: Optional[Sequence[int]] = None,
    radiometry: str = "auto",
) -> BandMapping:
    """Pick the source bands and the radiometry for ``card`` (see the module docstring)."""
    ds = _open(source)
    n = ds.RasterCount
    if n == 0:
        raise ClassificationError(f"{ds.GetDescription()} has no raster bands")
    want = [_normalise_card_band(b) for b in card.bands]
    roles = [r.lower() for r in (card.band_roles or [])]
    nb = len(want)
    alpha = _alpha_band(ds)
    descs = [ds.GetRasterBand(i).GetDescription() or "" for i in range(1, n + 1)]
    s2names = [s2_band_name(d) for d in descs]
    dtype = gdal.GetDataTypeName(ds.GetRasterBand(1).DataType)
    named_s2 = False

    if bands is not None:
        sel = [int(b) for b in bands]
        if len(sel) != nb:
            raise ClassificationError(
                f"the model needs {nb} bands ({', '.join(card.bands)}) but {len(sel)} were given: {sel}"
            )
        bad = [b for b in sel if not 1 <= b <= n]
        if bad:
            raise ClassificationError(f"band(s) {bad} do not exist: the raster has {n} band(s) (1..{n})")
        if alpha is not None and alpha in sel:
            raise ClassificationError(f"band {alpha} is the alpha (transparency) band and cannot feed the model")
        reason = "given by the request"
    elif all(w in s2names for w in want):
        sel = [s2names.index(w) + 1 for w in want]
        reason = "band descriptions name the Sentinel-2 bands " + ", ".join(want)
        named_s2 = True
    elif roles and all(any(r == d.strip().lower() for d in descs) for r in roles):
        low = [d.strip().lower() for d in descs]
        sel = [low.index(r) + 1 for r in roles]
        reason = "band descriptions name the colours " + ", ".join(roles)
    elif n == 13 and all(w in EUROSAT_MS_ORDER for w in want):
        sel = [EUROSAT_MS_ORDER.index(w) + 1 for w in want]
        reason = "13 bands: Sentinel-2 in EuroSAT order (B01..B12, B8A), so " + ", ".join(
            f"{w}=band {b}" for w, b in zip(want, sel)
        )
    elif (
        roles
        and all(r in _ROLE_INTERP for r in roles)
        and all(
            any(ds.GetRasterBand(i).GetColorInterpretation() == _ROLE_INTERP[r] for i in range(1, n + 1)) for r in roles
        )
    ):
        interps = [ds.GetRasterBand(i).GetColorInterpretation() for i in range(1, n + 1)]
        sel = [interps.index(_ROLE_INTERP[r]) + 1 for r in roles]
        reason = "colour interpretation of the bands (" + ", ".join(f"{r}=band {b}" for r, b in zip(roles, sel)) + ")"
    elif n in (3, 4) and roles == ["red", "green", "blue"]:
        sel = [1, 2, 3]
        extra = ""
        if n == 4:
            extra = "; band 4 is alpha" if alpha == 4 else "; band 4 is ignored (not marked as alpha)"
        reason = f"{n} bands: read as red, green, blue = bands 1, 2, 3{extra}"
    else:
        raise ClassificationError(
            f"cannot tell which of the {n} band(s) are {', '.join(roles or card.bands)}: the bands carry no "
            f"Sentinel-2 names and {n} bands is not a known layout (3/4-band RGB(A) or 13-band Sentinel-2); "
            f"give the band numbers, e.g. --bands 3 2 1 (model bands: {', '.join(card.bands)})"
        )

    if radiometry and radiometry != "auto" and radiometry not in RADIOMETRY_METHODS:
        choices = ", ".join(RADIOMETRY_METHODS)
        raise ClassificationError(f"unknown radiometry {radiometry!r}; choose one of auto, {choices}")
    if radiometry and radiometry.startswith("sentinel2") and dtype == "Byte":  # forced: all pixels would be ~0
        raise ClassificationError(
            f"radiometry {radiometry} scales Sentinel-2 reflectance numbers (0-10000), but this raster is 8-bit "
            "(0-255): every pixel would scale to almost 0 and the map would be meaningless; use --radiometry "
            "auto or 8bit"
        )
    choice = radiometry_choice.choose(
        radiometry,
        ds,
        sel,
        want,
        dtype,
        n == 13 or named_s2,
        lambda: radiometry_choice.source_sample(ds, sel, alpha),
    )
    return BandMapping(
        bands=sel,
        radiometry=choice.method,
        reason=reason,
        radiometry_reason=choice.reason,
        radiometry_params=choice.to_dict(),
        alpha_band=alpha,
        band_names=list(card.bands),
        source_band_count=n,
        source_dtype=dtype,
    )
