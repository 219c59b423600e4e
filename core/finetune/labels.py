"""Labelled places from what the analyst already made: edit logs, assessment samples, vector layers.

Every reader returns :class:`LabelledPoints`: map coordinates (in ``crs_wkt``), a class index of the model
card per point, and where each came from. Three kinds of ``LABELS``:

- an edit log (``*_edits.gpkg``, core/edits): the cells set by its **active** edits (each cell that the
  edit's geometry covers and whose class passed its from-filter; its label is the class the corrected map
  holds now, so a later edit wins) and the cells of its ``reviews`` (accepted: the class shown then;
  corrected: the class given). Reverted edits teach nothing. At most ``max_cells_per_edit`` cells of one
  edit (a seeded choice), so one big polygon does not drown the rest;
- an assessment sample (layer ``sample_points``, core/accuracy): its labelled points. Training on them
  spoils the sample as an unbiased assessment: ``sample_holdout`` keeps a random part out of training
  (those points can still assess the fine-tuned model) and a note says so;
- any OGR point or polygon layer with a class field: names or codes mapped to the card's classes as the
  assessment maps reference layers (core/accuracy/reference.resolve_mapping); a polygon gives the points of
  a grid of half a window inside it (at least its point on surface), at most ``max_points_per_polygon``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ClassificationError

MAX_CELLS_PER_EDIT = 200
MAX_POINTS_PER_POLYGON = 50


@dataclass
class LabelledPoints:
    xy: np.ndarray  # (n, 2) map coordinates in crs_wkt
    labels: np.ndarray  # (n,) class indices of the card
    crs_wkt: str
    kind: str  # "edit log" | "sample" | "layer"
    source: str
    notes: list = field(default_factory=list)
    run_summary: Optional[Path] = None  # an edit log's run: how it read the image

    def __len__(self) -> int:
        return int(len(self.labels))


class _CardClasses:
    """The card's classes with the interface resolve_mapping expects of a map (names, code_of, name)."""

    def __init__(self, class_names):
        self.names = dict(enumerate(class_names))

    def name(self, code: int) -> str:
        return self.names.get(int(code), f"class {int(code)}")

    def code_of(self, name: str) -> Optional[int]:
        key = str(name).strip().casefold()
        return next((c for c, n in self.names.items() if n.casefold() == key), None)


def _open(path: Path):
    from osgeo import ogr

    from .. import gdalutil

    if not path.exists():
        raise ClassificationError(f"the labels {path} do not exist")
    ds = gdalutil.open_or_none(ogr.Open, path)
    if ds is None or ds.GetLayerCount() == 0:
        raise ClassificationError(
            f"cannot read {path.name} as a vector layer (corrupt, or not an edit log, sample or point/polygon layer)"
        )
    return ds


def read_labels(path, class_names, class_field: Optional[str] = None, *, sample_holdout: float = 0.0,
                seed: int = 0) -> LabelledPoints:  # fmt: skip
    """The labelled points of ``path`` (kind detected from its layers; see the module docstring)."""
    path = Path(path)
    ds = _open(path)
    names = {ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())}
    if {"edits", "edit_state"} <= names:
        ds = None
        return from_edit_log(path, class_names, seed=seed)
    from ..accuracy.sample_file import LAYER as SAMPLE_LAYER

    if SAMPLE_LAYER in names and class_field is None:
        ds = None
        return from_sample(path, class_names, sample_holdout, seed)
    ds = None
    if not class_field:
        raise ClassificationError(
            f"{path.name} is neither an edit log nor an assessment sample: give its class field (--class-field NAME)"
        )
    return from_layer(path, class_field, class_names, seed=seed)


# ----------------------------------------------------------------------------- edit logs
def _settable(grid, window, block, edit):
    """Cells of ``window`` the edit sets (its geometry, not nodata, its from-filter or recode keys)."""
    from ..edits.model import NODATA, rasterize

    mask = rasterize(grid, window, edit.geometry(), edit.all_touched) & (block != NODATA)
    if edit.recode:
        return mask & np.isin(block, list(edit.recode))
    if edit.from_classes:
        return mask & np.isin(block, edit.from_classes)
    return mask


def apply_edits(grid, window, block, edits):
    """``block`` (cells of ``window``) with ``edits`` replayed in order (core/edits/model.apply_edit)."""
    from ..edits.model import apply_edit

    out = block
    for edit in edits:
        out = apply_edit(grid, window, out, edit)
    return out.copy() if out is block else out


def from_edit_log(path: Path, class_names, seed: int = 0, max_cells_per_edit: int = MAX_CELLS_PER_EDIT):
    """Active edits' cells and reviewed cells of an edit log, labelled with the corrected map's class."""
    from osgeo import gdal

    from ..edits import EditError, run_files
    from ..edits.log import EditLog
    from ..edits.model import NODATA, RasterGrid

    files = run_files(path)
    if files is None or not files.classes.is_file():
        raise ClassificationError(f"the run of the edit log {path.name} is missing (no {path.name[:-11]}_classes.tif)")
    try:
        log = EditLog.open(path, update=False)
        edits = log.edits("active")
        reviews = _reviews(log)
        log.check_belongs_to(RasterGrid.of(gdal.Open(str(files.classes))), files.classes)
        log.close()
    except EditError as exc:
        raise ClassificationError(str(exc)) from None
    ds = gdal.Open(str(files.classes))
    grid = RasterGrid.of(ds)
    classes = ds.GetRasterBand(1).ReadAsArray()
    corrected = apply_edits(grid, grid.full, classes, edits)
    rng = np.random.default_rng(seed)
    cells: dict = {}
    for edit in edits:
        w = grid.window_of(edit.geometry())
        if w is None:
            continue
        before = apply_edits(grid, w, classes[w.slices], [e for e in edits if e.id < edit.id])
        rows, cols = np.nonzero(_settable(grid, w, before, edit))
        if len(rows) > max_cells_per_edit:
            keep = np.sort(rng.choice(len(rows), max_cells_per_edit, replace=False))
            rows, cols = rows[keep], cols[keep]
        for r, c in zip(rows + w.yoff, cols + w.xoff):
            cells[(int(r), int(c))] = int(corrected[r, c])
    for (r, c), decision, cls in reviews:
        if 0 <= r < grid.height and 0 <= c < grid.width and (r, c) not in cells:
            value = int(corrected[r, c]) if decision == "accepted" or cls is None else int(cls)
            cells[(r, c)] = value
    cells = {k: v for k, v in cells.items() if v != NODATA}
    xy = np.array([grid.cell_center(r, c) for r, c in cells], float).reshape(-1, 2)
    labels = np.fromiter(cells.values(), np.int64, len(cells))
    n_rev = sum(1 for k, _d, _c in reviews if k in cells)
    notes = [f"{len(edits)} active edit(s) and {n_rev} reviewed cell(s) give {len(labels)} labelled cell(s)"]
    return LabelledPoints(xy, labels, grid.wkt, "edit log", str(path), notes, files.summary)


def _reviews(log) -> list:
    layer = log.ds.GetLayerByName("reviews")
    if layer is None:
        return []
    layer.ResetReading()
    out = []
    for f in layer:
        if f.GetField("kind") == "cell" and f.GetField("decision") in ("accepted", "corrected"):
            cls = f.GetField("class") if f.IsFieldSetAndNotNull("class") else None
            out.append(((int(f.GetField("row")), int(f.GetField("col"))), f.GetField("decision"), cls))
    return out


# ----------------------------------------------------------------------------- assessment samples
def from_sample(path: Path, class_names, holdout: float = 0.0, seed: int = 0) -> LabelledPoints:
    """The labelled points of an assessment sample; ``holdout`` of them kept out of training."""
    from osgeo import ogr

    from ..accuracy import AssessmentError
    from ..accuracy.reference import read_sample_labels
    from ..accuracy.sample_file import LAYER

    try:
        lab = read_sample_labels(path)
    except AssessmentError as exc:
        raise ClassificationError(str(exc)) from None
    ds = ogr.Open(str(path))
    srs = ds.GetLayerByName(LAYER).GetSpatialRef()
    wkt = srs.ExportToWkt() if srs is not None else ""
    ds = None
    n = len(lab.ref_codes)
    keep = np.ones(n, bool)
    if holdout > 0 and n:
        out = np.random.default_rng(seed).choice(n, int(round(holdout * n)), replace=False)
        keep[out] = False
    notes = [
        "an assessment sample used for training can no longer give an unbiased accuracy estimate"
        + (f": {int((~keep).sum())} of its {n} labelled points were held out of training and can still assess it"
           if (~keep).any() else "; hold part of it out (--sample-holdout) to keep an assessment")
    ]  # fmt: skip
    return LabelledPoints(lab.xy[keep], lab.ref_codes[keep], wkt, "sample", str(path), notes)


# ----------------------------------------------------------------------------- any point/polygon layer
def _polygon_points(geom, spacing: float, limit: int, rng) -> list:
    xmin, xmax, ymin, ymax = geom.GetEnvelope()
    from osgeo import ogr

    pts = []
    for y in np.arange(ymax - spacing / 2, ymin, -spacing):
        for x in np.arange(xmin + spacing / 2, xmax, spacing):
            p = ogr.Geometry(ogr.wkbPoint)
            p.AddPoint_2D(float(x), float(y))
            if geom.Contains(p):
                pts.append((float(x), float(y)))
    if not pts:
        s = geom.PointOnSurface()
        pts = [(s.GetX(), s.GetY())] if s is not None and not s.IsEmpty() else []
    if len(pts) > limit:
        pts = [pts[i] for i in sorted(rng.choice(len(pts), limit, replace=False))]
    return pts


def from_layer(path: Path, class_field: str, class_names, *, spacing_m: float = 320.0, seed: int = 0,
               max_points_per_polygon: int = MAX_POINTS_PER_POLYGON) -> LabelledPoints:  # fmt: skip
    """Points (or the points of a grid inside polygons) of a layer with a class field (names or codes)."""
    from osgeo import ogr

    from ..accuracy import AssessmentError
    from ..accuracy.reference import resolve_mapping

    ds = _open(path)
    lyr = ds.GetLayer(0)
    defn = lyr.GetLayerDefn()
    if defn.GetFieldIndex(class_field) < 0:
        fields = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
        raise ClassificationError(f"{path.name} has no field {class_field!r} (fields: {', '.join(fields) or 'none'})")
    srs = lyr.GetSpatialRef()
    if srs is not None and srs.IsGeographic():
        spacing_m /= 111_320.0  # degrees: the grid inside polygons stays about half a window apart
    values, geoms = [], []
    for f in lyr:
        g, v = f.GetGeometryRef(), f.GetField(class_field)
        if g is not None and not g.IsEmpty() and v is not None and str(v).strip():
            values.append(str(v))
            geoms.append(g.Clone())
    if not geoms:
        raise ClassificationError(f"{path.name} has no feature with a geometry and a {class_field!r} value")
    try:
        codes = resolve_mapping(sorted(set(values)), _CardClasses(class_names))
    except AssessmentError as exc:
        raise ClassificationError(str(exc).replace("of the map", "of the model")) from None
    rng = np.random.default_rng(seed)
    xy, labels = [], []
    for g, v in zip(geoms, values):
        t = ogr.GT_Flatten(g.GetGeometryType())
        if t in (ogr.wkbPoint, ogr.wkbMultiPoint):
            pts = [g.GetPoint_2D(0)] if t == ogr.wkbPoint else [g.GetGeometryRef(i).GetPoint_2D(0)
                                                               for i in range(g.GetGeometryCount())]  # fmt: skip
        elif t in (ogr.wkbPolygon, ogr.wkbMultiPolygon):
            pts = _polygon_points(g, spacing_m, max_points_per_polygon, rng)
        else:
            raise ClassificationError(f"{path.name} must hold points or polygons, not {ogr.GeometryTypeToName(t)}")
        xy += pts
        labels += [codes[v]] * len(pts)
    return LabelledPoints(
        np.asarray(xy, float).reshape(-1, 2),
        np.asarray(labels, np.int64),
        srs.ExportToWkt() if srs is not None else "",
        "layer",
        str(path),
        [f"{len(geoms)} feature(s) give {len(labels)} labelled point(s)"],
    )
