"""Small GDAL helpers that work whether or not ``gdal.UseExceptions()`` is active in the process.

QGIS and other plugins may switch GDAL exceptions on or off globally; the engine must not depend
on either, so calls that may fail go through :func:`call` which turns both a ``None`` return and a
``RuntimeError`` into a :class:`ClassificationError` with GDAL's message.
"""

from __future__ import annotations

from osgeo import gdal, osr

from .errors import ClassificationError


def call(what: str, fn, *args, **kwargs):
    """Run a GDAL function; raise ClassificationError(what + GDAL's message) on failure."""
    gdal.ErrorReset()
    try:
        with _Quiet():
            out = fn(*args, **kwargs)
    except RuntimeError as exc:  # UseExceptions() mode
        raise ClassificationError(f"{what}: {exc}") from None
    if out is None:
        msg = gdal.GetLastErrorMsg() or "GDAL returned nothing"
        raise ClassificationError(f"{what}: {msg}")
    return out


def open_or_none(opener, path):
    """``opener(str(path))`` (``gdal.Open``, ``ogr.Open``) without GDAL's stderr lines; None where it fails,
    whether GDAL's exceptions are on or off. Callers raise their own readable error on None."""
    try:
        with _Quiet():
            return opener(str(path))
    except RuntimeError:
        return None


class _Quiet:
    """Silence GDAL's stderr error printing during a call (errors are reported by us)."""

    def __enter__(self):
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        return self

    def __exit__(self, *exc):
        gdal.PopErrorHandler()
        return False


class QuietErrors:
    """Process-wide: GDAL and PROJ errors are recorded (``gdal.GetLastErrorMsg``) but not printed
    as ``ERROR n: ...`` lines on stderr, in every thread; the engine reports them in its own
    one-line messages. For the command line; QGIS keeps its own handler (its log panel)."""

    def __enter__(self):
        gdal.SetErrorHandler("CPLQuietErrorHandler")
        return self

    def __exit__(self, *exc):
        gdal.SetErrorHandler("CPLDefaultErrorHandler")
        return False


def srs_from_user(text: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    try:
        with _Quiet():
            err = srs.SetFromUserInput(str(text))
    except RuntimeError as exc:
        raise ClassificationError(f"unknown coordinate reference system {text!r}: {exc}") from None
    if err != 0:
        raise ClassificationError(f"unknown coordinate reference system {text!r}")
    return srs


def gis_order(srs: osr.SpatialReference) -> osr.SpatialReference:
    out = srs.Clone()
    out.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return out


def srs_label(srs: osr.SpatialReference) -> str:
    """'EPSG:32632' when the CRS has an EPSG code, else its name."""
    s = srs.Clone()
    try:
        s.AutoIdentifyEPSG()
    except RuntimeError:
        pass
    auth, code = s.GetAuthorityName(None), s.GetAuthorityCode(None)
    if auth and code:
        return f"{auth}:{code}"
    return s.GetName() or "unknown CRS"


BATCH_GDAL_CACHE_MB = 128


def configure_gdal_for_batch() -> None:
    """Bound GDAL's block cache for a batch run (GDAL's default is 5 % of RAM, which a 20k x 20k
    raster fills and keeps): 128 MB unless GDAL_CACHEMAX is set. Not done inside QGIS, whose
    cache setting belongs to the user (the CLI and the benchmarks call it)."""
    import os

    if "GDAL_CACHEMAX" not in os.environ:
        gdal.SetCacheMax(BATCH_GDAL_CACHE_MB * 2**20)
