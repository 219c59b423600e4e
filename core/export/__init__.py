"""Exports of a land-cover run for people without the plugin (no Qt, no QGIS: GDAL/OGR only).

``export_run(source, outdir, ExportOptions(...), progress, is_cancelled)`` writes any of:
- ``raster``: ``<name>_landcover.tif`` (+ confidence, probabilities), GeoTIFF or COG, with a ``.qml`` and ``.sld``;
- ``polygons``: ``<name>_landcover_polygons.gpkg`` (style stored as the layer's default), ``.geojson`` or ``.shp``;
- ``report``: ``<name>_landcover_areas.csv`` and ``<name>_landcover_report.html``.
The print-ready map needs QGIS: ``qgis_bridge/print_layout.py``.
Everything is staged in a hidden folder of ``outdir`` and renamed when complete (see :mod:`.common`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..progress import ProgressFn
from .common import CancelFn, ExportCancelled, ExportError, ProgressSpan, Staging, gdal_errors
from .formats import CORE_WHAT, KINDS, WHAT, format_ids
from .run import RunInfo, load_run

__all__ = [
    "CORE_WHAT",
    "KINDS",
    "WHAT",
    "ExportCancelled",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "RunInfo",
    "export_run",
    "format_ids",
    "load_run",
    "parse_what",
    "planned_files",
]


@dataclass
class ExportOptions:
    what: tuple = CORE_WHAT
    raster_format: str = format_ids("raster")[0]  # one of formats.RASTER_FORMATS
    raster_parts: tuple = ("classes", "confidence", "probabilities")
    vector_format: str = format_ids("polygons")[0]  # one of formats.VECTOR_FORMATS
    mmu_ha: float = 0.0
    dissolve: bool = False
    overwrite: bool = False
    title: Optional[str] = None  # report (and map) title; default "Land cover — <run name>"


@dataclass
class ExportResult:
    run: RunInfo
    outdir: Path
    files: list[Path] = field(default_factory=list)
    polygons: Optional[dict] = None
    areas: Optional[dict] = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        areas = None
        if self.areas:
            areas = {r["class_name"]: round(r["area_km2"], 6) for r in self.areas["rows"]}
        poly = dict(self.polygons) if self.polygons else None
        return {
            "source": str(self.run.summary_path or self.run.classes_path),
            "map": str(self.run.classes_path),
            "corrected": self.run.corrected,
            "outdir": str(self.outdir),
            "files": [str(f) for f in self.files],
            "area_km2": areas,
            "polygons": poly,
            "assessment": str(self.run.assessment_path) if self.run.assessment_path else None,
            "notes": self.notes,
        }


def parse_what(text) -> tuple:
    """``"raster,polygons"`` -> ("raster", "polygons"); unknown parts are refused in one line."""
    parts = [p.strip().lower() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    bad = [p for p in parts if p not in WHAT]
    if bad or not parts:
        raise ExportError(f"--what takes a comma-separated list of {', '.join(WHAT)}; got {text!r}")
    return tuple(dict.fromkeys(parts))


def planned_files(run: RunInfo, options: ExportOptions) -> list[str]:
    from . import polygons, raster, report

    names = []
    if "raster" in options.what:
        names += raster.planned_files(run, options.raster_parts)
    if "polygons" in options.what:
        names += polygons.planned_files(run, options.vector_format)
    if "report" in options.what:
        names += list(report.report_names(run).values())
    return names


def _export_into(run, outdir, options, what, names, prog, result) -> None:
    """The parts of ``what``, written into a staging folder and renamed into ``outdir`` when all are complete."""
    from . import polygons, raster, report

    with Staging(outdir, overwrite=options.overwrite) as staging, gdal_errors("export failed", prog):
        staging.check_free(names)
        weights = {"raster": 1.0, "polygons": 3.0, "report": 0.5}
        total = sum(weights[w] for w in what) or 1.0
        at = 0.0
        for w in what:
            sub = prog.span(at / total, (at + weights[w]) / total)
            at += weights[w]
            if w == "raster":
                raster.export_rasters(run, staging, options.raster_format, options.raster_parts, sub)
            elif w == "polygons":
                result.polygons = polygons.export_polygons(
                    run, staging, options.vector_format, options.mmu_ha, options.dissolve, sub
                )
            elif w == "report":
                listed = [n for n in names if not n.endswith(".aux.xml")]
                result.areas = report.export_report(run, staging, sub, files=listed, title=options.title)
        prog.check()
        result.files = staging.commit()


def _check_options(options: ExportOptions) -> None:
    """The numeric options, finite and in range (NaN passed every comparison and crashed the sieve)."""
    from ..errors import ClassificationError
    from ..numeric import check_number

    try:
        check_number("the minimum mapping unit (mmu_ha)", options.mmu_ha or 0.0, 0, 1e7)
    except ClassificationError as exc:
        raise ExportError(str(exc)) from None


def _guard_inputs(run: RunInfo, outdir: Path, names: list[str]) -> None:
    inputs = {
        p.resolve()
        for p in (run.classes_path, run.confidence_path, run.probabilities_path, run.summary_path, run.assessment_path)
        if p is not None
    }
    for n in names:
        if (outdir / n).resolve() in inputs:
            raise ExportError(f"exporting would replace the input {n}: choose another output folder")


def export_run(
    source,
    outdir,
    options: Optional[ExportOptions] = None,
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[CancelFn] = None,
    run: Optional[RunInfo] = None,
) -> ExportResult:
    """Export ``source`` (a ``*_summary.json`` or a class raster) into ``outdir``.

    Args:
        source: a run's ``*_summary.json``, its classes or corrected raster, or any paletted raster.
        outdir: the folder the files go to (created when missing).
        options: what to export (``what``: "raster", "polygons", "report"; formats, minimum mapping
            unit, dissolve, title, overwrite). ``map`` in ``what`` is skipped here: it needs QGIS
            (qgis_bridge/print_layout.py).
        progress: ``progress(Progress)`` (core/progress.py; stage ``"export"``).
        is_cancelled: polled between steps; True stops the export and removes what it wrote.
        run: the already loaded RunInfo of ``source`` (skips reading it again).

    Returns:
        The ExportResult: the files written, polygon and area tables, and notes for the user.

    Raises:
        ExportError (readable; nothing half-written, no input overwritten) or ExportCancelled.
    """
    options = options or ExportOptions()
    _check_options(options)
    prog = ProgressSpan(progress, is_cancelled)
    prog(0.0, "reading the run")
    run = run or load_run(source)
    what = [w for w in options.what if w in CORE_WHAT]
    outdir = Path(outdir)
    names = planned_files(run, ExportOptions(**{**options.__dict__, "what": tuple(what)}))
    _guard_inputs(run, outdir, names)
    result = ExportResult(run=run, outdir=outdir, notes=list(run.notes))
    try:
        _export_into(run, outdir, options, what, names, prog, result)
    except OSError as exc:  # a full disk while writing a style, the report or other metadata
        raise ExportError(f"cannot write the exports in {outdir}: {exc.strerror or exc} (is the disk full?)") from None
    if run.assessment_path is not None and "report" in what:
        result.notes.append(f"adjusted areas from the accuracy assessment {run.assessment_path.name}")
    prog(1.0, f"{len(result.files)} files written to {outdir}")
    return result
