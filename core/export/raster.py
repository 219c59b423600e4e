"""Styled raster export: the class map (and confidence, probabilities) as GeoTIFF or Cloud-Optimized GeoTIFF.

The class raster keeps its colour table (in the TIFF) and category names (GDAL writes those to the
``.aux.xml`` beside it, which GDAL and QGIS read); a ``.qml`` (QGIS) and an ``.sld`` (other GIS)
with the same stem sit beside every exported raster. COG uses GDAL's COG driver (nearest-neighbour
overviews for classes, average for the 0..1 rasters).
"""

from __future__ import annotations

from pathlib import Path

from .common import ExportError, ProgressSpan, Staging
from .formats import format_ids, kind, one_of
from .run import RunInfo
from .styles import qml_classes, qml_ramp, sld_classes, sld_ramp

FORMATS = format_ids("raster")
PARTS = ("classes", "confidence", "probabilities")


def raster_names(run: RunInfo, parts=PARTS) -> dict[str, str]:
    """Final file names (without folder) of a raster export, by part."""
    names = {"classes": f"{run.name}_landcover.tif"}
    if run.confidence_path is not None:
        names["confidence"] = f"{run.name}_landcover_confidence.tif"
    if run.probabilities_path is not None:
        names["probabilities"] = f"{run.name}_landcover_probabilities.tif"
    return {k: v for k, v in names.items() if k in parts}


def planned_files(run: RunInfo, parts=PARTS) -> list[str]:
    out = []
    for tif in raster_names(run, parts).values():
        stem = tif[: -len(".tif")]
        out += [tif, f"{tif}.aux.xml", f"{stem}.qml", f"{stem}.sld"]
    return out


def _translate(src: Path, dst: Path, fmt: str, resampling: str, progress: ProgressSpan, message: str, metadata: dict):
    from osgeo import gdal

    spec = kind("raster").format(fmt)
    driver = spec.driver
    co = list(spec.creation_options)
    if driver == "COG":  # the COG driver builds the overviews itself: nearest for classes, average for 0..1
        co.append(f"RESAMPLING={resampling}")
    s = gdal.Open(str(src))
    if s is None:
        raise ExportError(f"GDAL cannot open {src}")
    s.GetMetadata()  # loads the .aux.xml (category names) before the copy
    if s.GetRasterBand(1).DataType == gdal.GDT_Float32 and driver == "GTiff":
        co = [c if not c.startswith("PREDICTOR") else "PREDICTOR=3" for c in co]
    gdal.ErrorReset()
    try:
        out = gdal.Translate(
            str(dst),
            s,
            format=driver,
            creationOptions=co,
            callback=progress.gdal_callback(message),
        )
    except RuntimeError as exc:
        out = None
        err = str(exc)
    else:
        err = gdal.GetLastErrorMsg()
    progress.check()
    if out is None:
        raise ExportError(f"cannot write {dst.name}: {err or 'GDAL error'}")
    out = None
    # category names, band descriptions and the export's own metadata go to the PAM (.aux.xml) that GDAL
    # writes beside the file (opening the TIFF for update would rewrite its directory and spoil the
    # optimised layout that COPY_SRC_OVERVIEWS / the COG driver made)
    src_bands = [s.GetRasterBand(i + 1) for i in range(s.RasterCount)]
    d = gdal.Open(str(dst))
    if d is None:  # Translate gave a dataset, yet the file on disk is incomplete (a full disk)
        raise ExportError(f"cannot write {dst.name}: {gdal.GetLastErrorMsg() or 'the file is incomplete'} (disk full?)")
    d.GetMetadata()
    for k, v in metadata.items():
        d.SetMetadataItem(k, str(v))
    for i, b in enumerate(src_bands):
        db = d.GetRasterBand(i + 1)
        names = b.GetCategoryNames()
        if names and not db.GetCategoryNames():
            db.SetCategoryNames(names)
        if b.GetDescription() and db.GetDescription() != b.GetDescription():
            db.SetDescription(b.GetDescription())
    d = None
    s = None
    _check_metadata(dst, metadata)


def _check_metadata(dst: Path, metadata: dict) -> None:
    """The PAM (.aux.xml) is written when the dataset closes, and a failed write there is only a GDAL
    message: read it back, so a full disk cannot leave an export without its class names."""
    from osgeo import gdal

    d = gdal.Open(str(dst))
    missing = d is None or any(d.GetMetadataItem(k) != str(v) for k, v in metadata.items())
    d = None
    if missing:
        raise ExportError(f"cannot write the metadata of {dst.name} ({dst.name}.aux.xml): is the disk full?")


def export_rasters(
    run: RunInfo, staging: Staging, fmt: str = "gtiff", parts=PARTS, progress: ProgressSpan | None = None
) -> dict[str, Path]:
    """Write the styled rasters into ``staging``; returns final names by part (after commit)."""
    from osgeo import gdal

    fmt = (fmt or "gtiff").lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown raster format {fmt!r}: use {one_of(FORMATS)}")
    progress = progress or ProgressSpan()
    names = raster_names(run, parts)
    sources = {"classes": run.classes_path, "confidence": run.confidence_path, "probabilities": run.probabilities_path}
    md = {"EXPORTED_FROM": run.summary_path.name if run.summary_path else run.classes_path.name}
    if run.corrected:
        md["CORRECTED"] = f"yes: {run.classes_path.name} (original {run.original_classes_path.name})"
    written = {}
    n = len(names)
    for i, (part, name) in enumerate(names.items()):
        sub = progress.span(i / n, (i + 1) / n)
        dst = staging.path(name)
        _translate(
            sources[part],
            dst,
            fmt,
            "NEAREST" if part == "classes" else "AVERAGE",
            sub,
            f"writing {name}",
            md if part == "classes" else {"EXPORTED_FROM": md["EXPORTED_FROM"]},
        )
        staging.path(f"{name}.aux.xml")
        stem = name[: -len(".tif")]
        if part == "classes":
            qml, sld = qml_classes(run.classes), sld_classes(stem, run.classes)
        else:
            ds = gdal.Open(str(sources[part]))
            is_float = ds.GetRasterBand(1).DataType == gdal.GDT_Float32
            ds = None
            qml = qml_ramp()
            sld = sld_ramp(stem, "confidence" if part == "confidence" else "class probability", 1 if is_float else 254)
        staging.path(f"{stem}.qml").write_text(qml, encoding="utf-8")
        staging.path(f"{stem}.sld").write_text(sld, encoding="utf-8")
        written[part] = staging.outdir / name
    return written
