"""What an export starts from: a run (its ``*_summary.json``) or a bare class raster.

:func:`load_run` finds the rasters of the run (beside the summary when the run folder was moved),
the class names and colours (embedded in the class raster; the run's model card otherwise), a
corrected map when the correction tool made one (exported instead of the original, and said so),
and an accuracy assessment beside the map when there is one (adjusted areas with confidence
intervals for the area report).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..run_names import LOG_SUFFIX, raster_name, summary_name
from .common import ExportError

NODATA_CLASS = 255


@dataclass
class ClassStyle:
    code: int
    name: str
    color: str  # "#rrggbb"


@dataclass
class RunInfo:
    name: str  # file prefix of the exports
    classes_path: Path  # the map exported (the corrected one when there is one)
    classes: list[ClassStyle]
    summary: dict = field(default_factory=dict)
    summary_path: Optional[Path] = None
    confidence_path: Optional[Path] = None
    probabilities_path: Optional[Path] = None
    original_classes_path: Optional[Path] = None  # set when classes_path is a corrected map
    assessment: Optional[dict] = None
    assessment_path: Optional[Path] = None
    notes: list[str] = field(default_factory=list)

    @property
    def corrected(self) -> bool:
        return self.original_classes_path is not None

    def class_by_code(self) -> dict[int, ClassStyle]:
        return {c.code: c for c in self.classes}

    def model_title(self) -> str:
        m = self.summary.get("model") or {}
        return m.get("title") or m.get("name") or ""


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*[int(v) for v in rgb[:3]])


def open_raster(path: Path):
    """``path`` opened with GDAL, or one readable line, whether GDAL's exceptions are on (QGIS) or off."""
    from osgeo import gdal

    from .. import gdalutil

    ds = gdalutil.open_or_none(gdal.Open, path)
    if ds is None:
        raise ExportError(f"GDAL cannot open {path}: is it a raster?")
    return ds


def raster_classes(path: Path) -> list[ClassStyle]:
    """Class codes, names and colours from a paletted raster (colour table + category names)."""

    ds = open_raster(path)
    ds.GetMetadata()  # GDAL 3.6's GTiff reads category names from the .aux.xml only once PAM is loaded
    band = ds.GetRasterBand(1)
    band.GetDescription()
    ct = band.GetColorTable()
    names = band.GetCategoryNames() or []
    nodata = band.GetNoDataValue()
    out = []
    n = max(len(names), ct.GetCount() if ct is not None else 0)
    for i in range(min(n, 256)):
        if nodata is not None and i == int(nodata):
            continue
        name = names[i] if i < len(names) else ""
        if not name:
            continue
        color = _hex(ct.GetColorEntry(i)) if ct is not None and i < ct.GetCount() else "#888888"
        out.append(ClassStyle(i, name, color))
    return out


def _card_classes(summary: dict, summary_dir: Path) -> list[ClassStyle]:
    card = (summary.get("model") or {}).get("card")
    if not card:
        return []
    p = Path(card)
    if not p.is_file():
        p = summary_dir / p.name
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return [ClassStyle(i, c["name"], c["color"]) for i, c in enumerate(data["classes"])]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _resolve(path_text, base: Path) -> Optional[Path]:
    """A path recorded in a summary: as recorded when it exists, else the same name beside the summary."""
    if not path_text:
        return None
    p = Path(path_text)
    if p.is_file():
        return p
    q = base / p.name
    return q if q.is_file() else None


def find_corrected(summary: dict, base: Path, prefix: str) -> Optional[Path]:
    """A corrected class map of the run: ``outputs.corrected`` in the summary, or ``<prefix>_corrected*.tif`` /
    ``<prefix>_classes_corrected*.tif`` beside it (the newest when there are several)."""
    outputs = summary.get("outputs") or {}
    for key in ("corrected", "classes_corrected", "corrected_classes"):
        p = _resolve(outputs.get(key), base)
        if p is not None:
            return p
    cands = [
        p
        for pat in (f"{prefix}_corrected*.tif", f"{prefix}_classes_corrected*.tif")
        for p in base.glob(pat)
        if ".partial" not in p.name
    ]
    return max(cands, key=lambda p: p.stat().st_mtime) if cands else None


def stale_correction_note(corrected: Path, base: Path, prefix: str) -> Optional[str]:
    """A note when the corrected raster does not show the latest revision of its edit log
    (docs/notes/correct.md: ``raster_revision(corrected) == EditLog.open(log).revision``)."""
    log = base / (prefix + LOG_SUFFIX)
    if not log.is_file():
        return None
    try:
        from ..edits.log import EditLog
        from ..edits.raster import raster_revision

        shown = raster_revision(corrected)
        edit_log = EditLog.open(log, update=False)
        try:
            latest = edit_log.revision
        finally:
            edit_log.close()
    except Exception:  # the correction tool's files are read only when they can be
        return None
    if shown is not None and latest is not None and shown != latest:
        return (
            f"{corrected.name} shows edit revision {shown} but {log.name} is at revision {latest}: "
            "apply the corrections (Review & correct page or 'Apply corrections') to export the latest"
        )
    return None


# ------------------------------------------------------------------ accuracy assessment
_ASSESS_PATTERNS = ("{p}*assess*.json", "{p}*accuracy*.json")


def find_assessment(base: Path, prefix: str, summary: dict, map_path: Optional[Path] = None) -> Optional[Path]:
    """An accuracy assessment beside the map (the Assess page writes ``<map stem>_assessment.json``, schema
    ``eurosat_landcover.assessment/1``); one of ``map_path`` itself is preferred, then the newest."""
    outputs = summary.get("outputs") or {}
    for key in ("assessment", "accuracy_assessment"):
        p = _resolve(outputs.get(key), base)
        if p is not None:
            return p
    cands = {p for pat in _ASSESS_PATTERNS for p in base.glob(pat.format(p=prefix)) if ".partial" not in p.name}
    cands |= {p for p in base.glob("*assessment*.json") if ".partial" not in p.name}
    cands = sorted(cands, key=lambda p: p.stat().st_mtime, reverse=True)
    usable = []
    for p in cands:
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if parse_assessment(data) is not None:
            if map_path is not None and Path(str(data.get("map", ""))).name == map_path.name:
                return p
            usable.append(p)
    return usable[0] if usable else None


def _num(v) -> Optional[float]:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None


def _first(d: dict, keys) -> Optional[float]:
    for k in keys:
        if k in d:
            v = _num(d[k])
            if v is not None:
                return v
    return None


_AREA_KEYS = ("adjusted_area_km2", "area_km2_adjusted", "area_adjusted_km2", "adjusted_km2", "area_km2", "area")
_CI_KEYS = ("ci95_km2", "ci_km2", "area_ci95_km2", "ci95", "ci", "margin_km2", "se95_km2", "half_width_km2")
_LO_KEYS = ("ci_low_km2", "ci95_low_km2", "lower_km2", "low_km2", "ci_low", "lower")
_HI_KEYS = ("ci_high_km2", "ci95_high_km2", "upper_km2", "high_km2", "ci_high", "upper")


def _row(name: str, d) -> Optional[dict]:
    if not isinstance(d, dict):
        v = _num(d)
        return {"class": name, "area_km2": v} if v is not None else None
    area = _first(d, _AREA_KEYS)
    if area is None:
        return None
    lo, hi = _first(d, _LO_KEYS), _first(d, _HI_KEYS)
    ci = _first(d, _CI_KEYS)
    if (lo is None or hi is None) and isinstance(d.get("ci95_km2") or d.get("ci"), (list, tuple)):
        pair = d.get("ci95_km2") or d.get("ci")
        lo, hi = _num(pair[0]), _num(pair[1])
    if ci is None and lo is not None and hi is not None:
        ci = (hi - lo) / 2
    if lo is None and ci is not None:
        lo, hi = area - ci, area + ci
    return {
        "class": name,
        "area_km2": area,
        "ci_km2": ci,
        "low_km2": lo,
        "high_km2": hi,
        "users_accuracy": _first(d, ("users_accuracy", "user_accuracy", "ua")),
        "producers_accuracy": _first(d, ("producers_accuracy", "producer_accuracy", "pa")),
    }


def parse_assessment(data) -> Optional[dict]:
    """Adjusted areas with CIs from an accuracy-assessment JSON, read defensively.

    Accepts ``{"adjusted_area"|"adjusted_areas"|"area_adjusted"|"areas"|"classes"|"per_class": ...}`` where
    the value maps class name -> {adjusted area in km², 95 % CI half-width or low/high} or is a list of such
    dicts with a ``class``/``name`` key; overall accuracy from ``overall_accuracy``/``accuracy``/``oa``.
    Returns ``{"rows": [...], "overall_accuracy": float|None, "n": int|None}`` or None when nothing fits.
    """
    if not isinstance(data, dict):
        return None
    rows = []
    for key in ("adjusted_area", "adjusted_areas", "area_adjusted", "adjusted", "areas", "per_class", "classes"):
        block = data.get(key)
        if isinstance(block, dict) and isinstance(block.get("classes"), (dict, list)):
            block = block["classes"]
        if isinstance(block, dict):
            rows = [r for r in (_row(str(k), v) for k, v in block.items()) if r is not None]
        elif isinstance(block, list):
            rows = [
                r
                for r in (_row(str(v.get("class") or v.get("name") or ""), v) for v in block if isinstance(v, dict))
                if r is not None and r["class"]
            ]
        if rows and any(r.get("ci_km2") is not None for r in rows):
            break
        rows = []
    if not rows:
        return None
    oa = _first(data, ("overall_accuracy", "accuracy", "oa"))
    if oa is None and isinstance(data.get("overall"), dict):
        oa = _first(data["overall"], ("accuracy", "overall_accuracy", "oa"))
    n = _first(data, ("n", "n_samples", "samples", "sample_size"))
    return {"rows": rows, "overall_accuracy": oa, "n": int(n) if n is not None else None}


# ------------------------------------------------------------------ loading
def _read_summary(path: Path) -> dict:
    """The run summary, checked at the door (core/run_summary.py): one line naming a bad field."""
    from ..errors import ClassificationError
    from ..run_summary import read_run_summary

    try:
        return read_run_summary(path)
    except ClassificationError as exc:
        raise ExportError(str(exc)) from None


def check_class_raster(path: Path, others=()) -> None:
    """Refuse a raster that is not a class map (one 8-bit band of class codes, not the run's confidence
    or probabilities): a summary pointing its classes at another output exported a map of 158 "classes"."""
    from osgeo import gdal

    if any(o is not None and Path(o).resolve() == Path(path).resolve() for o in others):
        raise ExportError(f"{path.name} is named as the run's class map and as another of its outputs: fix the summary")
    ds = open_raster(path)
    band = ds.GetRasterBand(1)
    dtype = gdal.GetDataTypeName(band.DataType)
    scaled = (band.GetScale() or 1.0) != 1.0 or (band.GetOffset() or 0.0) != 0.0
    if ds.RasterCount != 1 or dtype != "Byte" or scaled:
        raise ExportError(
            f"{path.name} is not a class map ({ds.RasterCount} band(s) of {dtype}"
            + (", scaled" if scaled else "")
            + "): a class map has one unscaled 8-bit band of class codes; give the run's *_classes.tif"
        )


_SUFFIX = re.compile(r"_(classes|summary|corrected)$")


def load_run(source) -> RunInfo:
    """A run from its ``*_summary.json``, or a bare class raster (a paletted GeoTIFF)."""
    source = Path(source)
    if not source.exists():
        raise ExportError(f"{source} does not exist: give a run's *_summary.json or a class raster")
    summary: dict = {}
    summary_path = None
    if source.suffix.lower() == ".json":
        summary = _read_summary(source)
        if "outputs" not in summary:
            raise ExportError(f"{source.name} is not a run summary (no 'outputs'): give the run's *_summary.json")
        summary_path = source
        base = source.parent
        outputs = summary["outputs"]
        classes_path = _resolve(outputs.get("classes"), base)
        if classes_path is None:
            raise ExportError(f"the class raster of {source.name} is missing: was the run folder moved or cleaned?")
        confidence = _resolve(outputs.get("confidence"), base)
        probabilities = _resolve(outputs.get("probabilities"), base)
    else:
        base = source.parent
        classes_path = source
        confidence = probabilities = None
        stem = _SUFFIX.sub("", source.stem)
        for cand in (base / summary_name(stem),):
            if cand.is_file():
                summary, summary_path = _read_summary(cand), cand
        if summary:
            confidence = _resolve((summary.get("outputs") or {}).get("confidence"), base)
            probabilities = _resolve((summary.get("outputs") or {}).get("probabilities"), base)
        else:
            confidence = _resolve(str(base / raster_name(stem, "confidence")), base)
            probabilities = _resolve(str(base / raster_name(stem, "probabilities")), base)
    stem = _SUFFIX.sub("", (summary_path or classes_path).stem)
    original = None
    notes = []
    if classes_path.stem.endswith("_corrected") and (base / raster_name(stem, "classes")).is_file():
        original = base / raster_name(stem, "classes")  # the corrected map itself was given
        notes.append(f"the corrected map {classes_path.name} is exported (not the original {original.name})")
        stale = stale_correction_note(classes_path, base, stem)
        if stale:
            notes.append(stale)
    elif summary_path is not None or classes_path.stem.endswith("_classes"):
        corrected = find_corrected(summary, base, stem)
        if corrected is not None and corrected != classes_path:
            original, classes_path = classes_path, corrected
            notes.append(f"the corrected map {corrected.name} is exported (not the original {original.name})")
            stale = stale_correction_note(corrected, base, stem)
            if stale:
                notes.append(stale)
    check_class_raster(classes_path, [confidence, probabilities])
    classes = raster_classes(classes_path)
    if not classes and original is not None:
        classes = raster_classes(original)
    if not classes:
        classes = _card_classes(summary, base)
    if not classes:
        raise ExportError(
            f"{classes_path.name} has no class names (no category names or colour table): "
            "export a class raster written by the plugin"
        )
    assessment_path = find_assessment(base, stem, summary, classes_path)
    assessment = None
    if assessment_path is not None:
        try:
            data = json.loads(assessment_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ExportError(f"cannot read the accuracy assessment {assessment_path.name}: {exc}") from None
        assessment = parse_assessment(data)
        assessment["path"] = str(assessment_path)
        assessed = Path(str(data.get("map") or "")).name
        assessment["map"] = assessed
        if assessed and assessed != classes_path.name:
            notes.append(
                f"the adjusted areas come from the assessment of {assessed}, not of the exported {classes_path.name}"
            )
    return RunInfo(
        name=stem,
        classes_path=classes_path,
        classes=classes,
        summary=summary,
        summary_path=summary_path,
        confidence_path=confidence,
        probabilities_path=probabilities,
        original_classes_path=original,
        assessment=assessment,
        assessment_path=assessment_path,
        notes=notes,
    )
