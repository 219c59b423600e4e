"""The edit log: a GeoPackage beside the run's outputs.

Layers:
- ``edits`` (geometry in the raster's CRS, any type; no geometry = the whole layer): ``tool``,
  ``from_classes`` ("3,5"; empty = any class), ``to_class``, ``recode`` ("3>5;4>1"), ``cells``
  (changed when the edit was made), ``time`` (UTC ISO 8601), ``note``, ``state`` (active |
  reverted), ``all_touched``. Undone edits are deleted; redo writes them back with their id.
- ``reviews`` (points at cell centres, polygons for tiles): ``kind`` (cell | tile), ``row``,
  ``col``, ``decision`` (accepted | corrected), ``class``, ``edit_id``, ``time``.
- ``edit_state`` (one row, no geometry): which raster the log belongs to (``classes_name``,
  ``grid`` = size + geotransform + CRS, ``classes_sha256``) and ``revision``, raised in the same
  transaction as every change of ``edits``; the corrected raster stores the revision it shows,
  so a crash between the two is found on open.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from osgeo import gdal, ogr

from ...models.hashing import sha256_file
from .. import writers
from .errors import EditError
from .model import NODATA, STATES, Edit, RasterGrid

EDITS = "edits"
REVIEWS = "reviews"
STATE = "edit_state"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def grid_key(grid: RasterGrid) -> str:
    return json.dumps([grid.width, grid.height, [round(v, 6) for v in grid.geotransform]])


class EditLog:
    """Read and write one ``*_edits.gpkg``. Every change is one SQLite transaction."""

    def __init__(self, path: Path, ds):
        self.path = Path(path)
        self.ds = ds

    # ------------------------------------------------------------------ open / create
    @classmethod
    def create(cls, path: Path, grid: RasterGrid, classes_path: Path) -> EditLog:
        path = Path(path)
        tmp = path.with_name(f"{path.name}.{writers.new_token()}.partial.gpkg")  # swept if killed (writers)
        drv = ogr.GetDriverByName("GPKG")
        ds = drv.CreateDataSource(str(tmp))
        if ds is None:
            raise EditError(f"cannot create the edit log {path.name} in {path.parent}: {gdal.GetLastErrorMsg()}")
        srs = grid.srs()
        edits = ds.CreateLayer(EDITS, srs, ogr.wkbUnknown, ["FID=id", "GEOMETRY_NULLABLE=YES"])
        for name, kind in (
            ("tool", ogr.OFTString),
            ("from_classes", ogr.OFTString),
            ("to_class", ogr.OFTInteger),
            ("recode", ogr.OFTString),
            ("cells", ogr.OFTInteger64),
            ("time", ogr.OFTString),
            ("note", ogr.OFTString),
            ("state", ogr.OFTString),
            ("all_touched", ogr.OFTInteger),
        ):
            edits.CreateField(ogr.FieldDefn(name, kind))
        reviews = ds.CreateLayer(REVIEWS, srs, ogr.wkbUnknown, ["FID=id"])
        for name, kind in (
            ("kind", ogr.OFTString),
            ("row", ogr.OFTInteger),
            ("col", ogr.OFTInteger),
            ("decision", ogr.OFTString),
            ("class", ogr.OFTInteger),
            ("edit_id", ogr.OFTInteger),
            ("time", ogr.OFTString),
        ):
            reviews.CreateField(ogr.FieldDefn(name, kind))
        state = ds.CreateLayer(STATE, None, ogr.wkbNone, ["ASPATIAL_VARIANT=GPKG_ATTRIBUTES"])
        for name, kind in (
            ("classes_name", ogr.OFTString),
            ("grid", ogr.OFTString),
            ("classes_sha256", ogr.OFTString),
            ("revision", ogr.OFTInteger64),
            ("created", ogr.OFTString),
        ):
            state.CreateField(ogr.FieldDefn(name, kind))
        feat = ogr.Feature(state.GetLayerDefn())
        feat.SetField("classes_name", Path(classes_path).name)
        feat.SetField("grid", grid_key(grid))
        feat.SetField("classes_sha256", sha256_file(classes_path))
        feat.SetField("revision", 0)
        feat.SetField("created", utc_now())
        state.CreateFeature(feat)
        ds = None
        tmp.replace(path)
        for sidecar in ("-journal", "-wal", "-shm"):
            tmp.with_name(tmp.name + sidecar).unlink(missing_ok=True)
        return cls.open(path)

    @classmethod
    def open(cls, path: Path, update: bool = True) -> EditLog:
        path = Path(path)
        try:
            ds = ogr.Open(str(path), 1 if update else 0)
        except RuntimeError:
            ds = None
        if ds is None or ds.GetLayerByName(EDITS) is None or ds.GetLayerByName(STATE) is None:
            raise EditError(f"{path.name} is not an edit log of this plugin (no 'edits' and 'edit_state' layers)")
        return cls(path, ds)

    def close(self) -> None:
        self.ds = None

    # ------------------------------------------------------------------ identity
    def _state_feature(self):
        layer = self.ds.GetLayerByName(STATE)
        layer.ResetReading()
        feat = layer.GetNextFeature()
        if feat is None:
            raise EditError(f"{self.path.name} has no state row: it was not written by this plugin")
        return layer, feat

    @property
    def identity(self) -> dict:
        _, f = self._state_feature()
        return {k: f.GetField(k) for k in ("classes_name", "grid", "classes_sha256")}

    @property
    def revision(self) -> int:
        _, f = self._state_feature()
        return int(f.GetField("revision") or 0)

    def check_belongs_to(self, grid: RasterGrid, classes_path: Path) -> None:
        ident = self.identity
        if ident["grid"] != grid_key(grid) or ident["classes_sha256"] != sha256_file(classes_path):
            raise EditError(
                f"the edit log {self.path.name} belongs to another raster ({ident['classes_name']}), "
                f"not to {Path(classes_path).name}: use 'Apply corrections' to carry its edits over"
            )

    # ------------------------------------------------------------------ edits
    def _bump(self) -> int:
        layer, f = self._state_feature()
        rev = int(f.GetField("revision") or 0) + 1
        f.SetField("revision", rev)
        layer.SetFeature(f)
        return rev

    def _transaction(self, fn, bump: bool = True):
        if self.ds.StartTransaction() != 0:
            raise EditError(f"cannot write the edit log {self.path.name}: {gdal.GetLastErrorMsg()}")
        try:
            out = fn()
            rev = self._bump() if bump else self.revision
        except BaseException:
            self.ds.RollbackTransaction()
            raise
        if self.ds.CommitTransaction() != 0:
            raise EditError(f"cannot write the edit log {self.path.name}: {gdal.GetLastErrorMsg()} (disk full?)")
        for name in (EDITS, REVIEWS):  # deferred bookkeeping (feature counts) written now, not at close
            self.ds.GetLayerByName(name).SyncToDisk()
        self.ds.FlushCache()
        return out, rev

    def _feature(self, layer, edit: Edit):
        feat = ogr.Feature(layer.GetLayerDefn())
        if edit.id is not None:
            feat.SetFID(int(edit.id))
        if edit.geometry_wkt:
            feat.SetGeometry(ogr.CreateGeometryFromWkt(edit.geometry_wkt))
        feat.SetField("tool", edit.tool)
        feat.SetField("from_classes", ",".join(map(str, edit.from_classes)))
        if edit.to_class is not None and not edit.recode:
            feat.SetField("to_class", int(edit.to_class))
        feat.SetField("recode", ";".join(f"{a}>{b}" for a, b in edit.recode.items()))
        feat.SetField("cells", int(edit.cells))
        feat.SetField("time", edit.time or utc_now())
        feat.SetField("note", edit.note or "")
        feat.SetField("state", edit.state)
        feat.SetField("all_touched", 1 if edit.all_touched else 0)
        return feat

    def add(self, edit: Edit) -> tuple[Edit, int]:
        """Append (or, for a redo, write back with its id) an edit; returns it with id + time, and the revision."""
        layer = self.ds.GetLayerByName(EDITS)
        edit = edit.copy(time=edit.time or utc_now())

        def write():
            feat = self._feature(layer, edit)
            if layer.CreateFeature(feat) != 0:
                raise EditError(f"cannot write the edit log {self.path.name}: {gdal.GetLastErrorMsg()}")
            return feat.GetFID()

        fid, rev = self._transaction(write)
        return edit.copy(id=int(fid)), rev

    def delete(self, edit_id: int) -> int:
        layer = self.ds.GetLayerByName(EDITS)
        return self._transaction(lambda: layer.DeleteFeature(int(edit_id)))[1]

    def set_state(self, edit_ids, state: str) -> int:
        layer = self.ds.GetLayerByName(EDITS)

        def write():
            for eid in edit_ids:
                f = layer.GetFeature(int(eid))
                if f is None:
                    raise EditError(f"edit {eid} is not in the log {self.path.name}")
                f.SetField("state", state)
                layer.SetFeature(f)

        return self._transaction(write)[1]

    def edits(self, state: Optional[str] = None) -> list[Edit]:
        """The logged edits, each checked at the door (:func:`edit_from_row`: one line naming the edit
        and the field of a damaged or hand-edited row)."""
        layer = self.ds.GetLayerByName(EDITS)
        with_geometry = self._fids_with_geometry(layer)
        layer.ResetReading()
        out = []
        for f in layer:
            e = edit_from_row(f, f.GetFID() in with_geometry, self.path.name)
            if state is None or e.state == state:
                out.append(e)
        out.sort(key=lambda e: e.id)
        return out

    def _fids_with_geometry(self, layer) -> set:
        """FIDs whose geometry column holds something (read as SQL, so a blob OGR cannot decode still counts)."""
        column = layer.GetGeometryColumn()
        if not column:
            return set()
        fid = layer.GetFIDColumn() or "fid"
        sql = self.ds.ExecuteSQL(f'SELECT CAST("{fid}" AS INTEGER) AS n FROM "{EDITS}" WHERE "{column}" IS NOT NULL')
        try:
            return {row.GetField(0) for row in sql} if sql is not None else set()
        finally:
            if sql is not None:
                self.ds.ReleaseResultSet(sql)

    # ------------------------------------------------------------------ reviews
    def add_review(self, kind: str, row: int, col: int, decision: str, cls: Optional[int], wkt: str, edit_id=None):
        layer = self.ds.GetLayerByName(REVIEWS)

        def write():
            f = ogr.Feature(layer.GetLayerDefn())
            f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
            f.SetField("kind", kind)
            f.SetField("row", int(row))
            f.SetField("col", int(col))
            f.SetField("decision", decision)
            if cls is not None:
                f.SetField("class", int(cls))
            if edit_id is not None:
                f.SetField("edit_id", int(edit_id))
            f.SetField("time", utc_now())
            layer.CreateFeature(f)

        self._transaction(write, bump=False)

    def take_reviews(self, edit_id: int) -> list:
        """Delete the review rows made with an edit (its undo); returns them for a redo."""
        layer = self.ds.GetLayerByName(REVIEWS)
        layer.ResetReading()
        rows = [f for f in layer if f.GetField("edit_id") == int(edit_id)]
        out = [
            (f.GetField("kind"), f.GetField("row"), f.GetField("col"), f.GetField("decision"), f.GetField("class"),
             f.GetGeometryRef().ExportToWkt())
            for f in rows
        ]  # fmt: skip
        fids = [f.GetFID() for f in rows]
        if fids:
            self._transaction(lambda: [layer.DeleteFeature(fid) for fid in fids], bump=False)
        return out

    def reviewed(self, kind: str = "cell") -> set:
        layer = self.ds.GetLayerByName(REVIEWS)
        layer.ResetReading()
        return {(f.GetField("row"), f.GetField("col")) for f in layer if f.GetField("kind") == kind}


def _codes(text: str, what: str) -> tuple:
    out = []
    for c in text.split(","):
        c = c.strip()
        if c == "":
            continue
        if not c.isdigit() or int(c) >= NODATA:
            raise ValueError(f"'{what}' holds {text!r} (class codes 0-{NODATA - 1}, comma-separated)")
        out.append(int(c))
    return tuple(out)


def _recode(text: str) -> dict:
    recode = {}
    for pair in text.split(";"):
        if not pair.strip():
            continue
        parts = pair.split(">")
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) < NODATA for p in parts):
            raise ValueError(f"'recode' holds {text!r} (pairs like 3>5;4>1 of class codes 0-{NODATA - 1})")
        recode[int(parts[0])] = int(parts[1])
    return recode


def edit_from_row(f, has_geometry: bool, log_name: str) -> Edit:
    """One row of ``edits`` as an :class:`Edit`, checked: a damaged geometry, an unknown tool or state,
    a class code out of 0-254 or a malformed recode is an EditError naming the edit and the field (a
    damaged geometry was read as "whole layer" and painted the entire map)."""
    fid = f.GetFID()
    try:
        g = f.GetGeometryRef()
        if has_geometry and (g is None or g.IsEmpty()):
            raise ValueError("its geometry is damaged (cannot be read)")
        recode = _recode(f.GetField("recode") or "")
        to_class = None if recode else f.GetField("to_class")
        if not recode and (to_class is None or not 0 <= to_class < NODATA):
            raise ValueError(f"'to_class' is {to_class!r} (a class code 0-{NODATA - 1})")
        if g is None and not recode:
            raise ValueError("it has no geometry, which only a recode of the whole layer may lack")
        state = f.GetField("state") or "active"
        if state not in STATES:
            raise ValueError(f"'state' is {state!r} ({' or '.join(STATES)})")
        return Edit(
            tool=f.GetField("tool"),
            geometry_wkt=g.ExportToWkt() if g is not None else None,
            to_class=to_class,
            from_classes=_codes(f.GetField("from_classes") or "", "from_classes"),
            recode=recode,
            all_touched=bool(f.GetField("all_touched")),
            note=f.GetField("note") or "",
            id=fid,
            cells=max(0, int(f.GetField("cells") or 0)),
            time=f.GetField("time") or "",
            state=state,
        )
    except (ValueError, EditError) as exc:
        raise EditError(
            f"the edit log {log_name} is damaged or was edited by hand: edit {fid}: {exc}; "
            "restore the file from a backup or move it away to start the corrections again"
        ) from None


def check_edit_classes(edits, num_classes: int, log_name: str) -> None:
    """Every class code an edit paints or filters on is one of the map's ``num_classes`` classes."""
    if num_classes <= 0:
        return
    for e in edits:
        codes = [*e.recode, *e.recode.values(), *e.from_classes] + ([] if e.recode else [e.to_class])
        bad = [c for c in codes if c >= num_classes]
        if bad:
            raise EditError(
                f"the edit log {log_name} is damaged or was edited by hand: edit {e.id}: class code {bad[0]} is not "
                f"one of the map's {num_classes} classes (0-{num_classes - 1}); restore the file from a backup or "
                "move it away to start the corrections again"
            )
