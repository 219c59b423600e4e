"""Carry an edit log over to another run (a re-run at another stride or extent, or a fresh run).

The log's active edits are geometries, so they apply to any grid: their geometries are
transformed to the new run's CRS, replayed in order on its classes raster, and written beside
it as ``<run>_corrected.tif`` with a new ``<run>_edits.gpkg`` that belongs to that run (so the
Review & correct page can go on editing it). Each edit's ``cells`` is recounted on the new grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from osgeo import osr

from .. import writers
from ..progress import ProgressFn
from ..run_names import run_files
from .editable import _check_writable, copy_style, is_landcover_raster
from .errors import EditError
from .log import EditLog
from .model import RasterGrid
from .raster import build_corrected, open_raster, replace_raster, transform_edits


@dataclass
class ReapplyResult:
    corrected: Path
    log: Path
    edits: int
    cells: int
    outside: int  # edits that change no cell of this run


def apply_log_to_run(
    log_path,
    classes_path,
    overwrite: bool = False,
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
) -> ReapplyResult:
    log_path, classes_path = Path(log_path), Path(classes_path)
    reason = is_landcover_raster(classes_path)
    if reason:
        raise EditError(reason)
    files = run_files(classes_path)
    if not log_path.is_file():
        raise EditError(f"the edit log {log_path} does not exist")
    same_log = log_path.resolve() == files.log.resolve()
    # the run's own log: its corrected raster is rebuilt (it is derived from the log), nothing else is replaced
    existing = [] if same_log else [p.name for p in (files.corrected, files.log) if p.exists()]
    if existing and not overwrite:
        raise EditError(f"{', '.join(existing)} already exist(s) in {files.folder}: choose overwrite to replace")
    _check_writable(files.folder)
    if same_log:  # the run's own log: rebuild its corrected raster
        from .session import EditSession

        session = EditSession.open(classes_path)
        try:
            counts = session.rebuild(progress, is_cancelled)
        finally:
            session.close()
        n = len(counts)
        return ReapplyResult(files.corrected, files.log, n, sum(counts.values()), sum(v == 0 for v in counts.values()))
    src = EditLog.open(log_path, update=False)
    try:
        layer = src.ds.GetLayerByName("edits")
        srs = layer.GetSpatialRef()
        edits = src.edits("active")
    finally:
        src.close()
    grid = RasterGrid.of(open_raster(classes_path))
    if srs is None:
        raise EditError(f"the edit log {log_path.name} has no coordinate reference system")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    edits = transform_edits(edits, srs.ExportToWkt(), grid)
    tmp = files.corrected.with_name(f"{files.corrected.name}.{writers.new_token()}.partial.tif")
    try:
        counts = build_corrected(classes_path, edits, tmp, len(edits), files.log.name, progress, is_cancelled)
        log = EditLog.create(files.log, grid, classes_path)
        try:
            for e in edits:
                note = (e.note + " " if e.note else "") + f"(from {log_path.name}, edit {e.id})"
                log.add(e.copy(id=None, cells=counts.get(e.id, 0), note=note, time=""))
            revision = log.revision
        finally:
            log.close()
        if revision != len(edits):
            raise EditError(f"the edit log {files.log.name} was not written completely")
        replace_raster(tmp, files.corrected)
        copy_style(files)
    finally:
        for f in (tmp, tmp.with_name(tmp.name + ".aux.xml")):
            if f.exists():
                f.unlink()
    return ReapplyResult(
        files.corrected,
        files.log,
        len(edits),
        sum(counts.values()),
        sum(1 for v in counts.values() if v == 0),
    )
