"""Streaming GeoTIFF outputs (classes, confidence, probabilities), renamed into place when complete.

Files are written under temporary names in the output folder (``<final>.<token>.partial.tif``)
and renamed onto their final names only when everything succeeded; :meth:`OutputSet.abort`
(cancel, error) closes and deletes them, so a failed run leaves nothing half-written.

- classes: uint8, colour table + category names from the model card, nodata 255.
- probabilities: one band per class, band description = class name. uint8 (default): value =
  round(p * 254), GDAL scale 1/254 (QGIS and GDAL show 0..1), nodata 255; float32: 0..1, nodata NaN.
- confidence: the maximum probability, same encoding as the probabilities.
All tiled 256 x 256, DEFLATE (predictor 2 for integers, 3 for float), internal overviews. Map mode's
rasters (every 10 m pixel: 1024 x the cells of a stride-32 run) use DEFLATE level ``MAP_DEFLATE_LEVEL``
instead of GDAL's default 6 (which took ~0.75 s per megapixel for the 10 probability bands): level 1
compresses faster than 3 (the write phase of benchmarks/bench_map.py --speed), files a few per cent
larger (~6 % on a 2048 px run); and they are written behind (core/write_behind.py): encoding and
compression on a thread beside the forward pass.

The run-file guards (:mod:`run_guards`), temporary-file tokens (:mod:`partials`), QML styles
(:mod:`qml`) and atomic text/JSON files (:mod:`atomic_files`) have their own modules; their public
names are re-exported here.
"""

from __future__ import annotations

import os
from glob import escape as glob_escape
from pathlib import Path
from typing import Optional

import numpy as np
from osgeo import gdal

from .atomic_files import staged_file, write_json_atomic, write_text_atomic  # noqa: F401 (re-exported)
from .errors import ClassificationError
from .partials import PARTIAL_RE, host_tag, new_token, pid_alive, sweep_stale_partials  # noqa: F401 (re-exported)
from .qml import VIRIDIS, _hex_rgb, qml_paletted, qml_pseudocolor  # noqa: F401 (re-exported)
from .run_guards import (  # noqa: F401 (re-exported)
    NAME_MAX_BYTES,
    RASTER_KINDS,
    RASTER_SIDECARS,
    check_outputs,
    check_prefix,
    prepare_output_dir,
    raster_path,
    remove_created_dirs,
    run_output_paths,
)

NODATA_CLASS = 255
NODATA_U8 = 255
U8_SCALE = 254.0
BLOCK = 256
MAP_DEFLATE_LEVEL = 1  # ZLEVEL of map mode's outputs; None (GDAL's default, 6) for windows mode


def _overview_levels(w: int, h: int) -> list[int]:
    """Power-of-two levels down to about 8 px on the long side (none for tiny rasters)."""
    levels, f = [], 2
    while -(-max(w, h) // f) >= 8:
        levels.append(f)
        f *= 2
    return levels


class _Tif:
    def __init__(self, path: Path, w, h, bands, dtype, gt, wkt, nodata, predictor, zlevel=None):
        opts = [
            "TILED=YES",
            f"BLOCKXSIZE={BLOCK}",
            f"BLOCKYSIZE={BLOCK}",
            "COMPRESS=DEFLATE",
            f"PREDICTOR={predictor}",
            "BIGTIFF=IF_SAFER",
        ]
        if zlevel is not None:
            opts.append(f"ZLEVEL={int(zlevel)}")
        if bands > 1:
            opts.append("INTERLEAVE=BAND")
        gdal.ErrorReset()
        try:
            ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, bands, dtype, options=opts)
        except RuntimeError as exc:
            ds = None
            msg = str(exc)
        else:
            msg = gdal.GetLastErrorMsg()
        if ds is None:
            raise ClassificationError(f"cannot create {path.name} in {path.parent}: {msg or 'GDAL error'}")
        ds.SetGeoTransform(gt)
        ds.SetProjection(wkt)
        for b in range(1, bands + 1):
            ds.GetRasterBand(b).SetNoDataValue(nodata)
        self.ds, self.path = ds, path


MAX_CLASSES = NODATA_CLASS  # class values 0..254; 255 is the nodata value of the classes raster


def check_class_count(card) -> None:
    n = len(card.classes)
    if n > MAX_CLASSES:
        raise ClassificationError(
            f"the model card has {n} classes; at most {MAX_CLASSES} are supported, because value {NODATA_CLASS} "
            "is the nodata value of the land-cover raster"
        )


def _link_noreplace(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` onto ``final`` unless ``final`` exists (FileExistsError), atomically."""
    if os.name == "nt":
        os.rename(tmp, final)  # fails when the target exists
        return
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError:  # file system without hard links: check, then rename
        if os.path.lexists(final):
            raise FileExistsError(final) from None
        os.rename(tmp, final)
        return
    os.unlink(tmp)


class OutputSet:
    """The three rasters, written row block by row block as cell rows arrive.

    ``overwrite=False``: the final names are placed without replacing anything (see
    :meth:`commit`); the engine passes its request's ``overwrite`` after :func:`check_outputs`.
    ``deflate_level``: DEFLATE's ZLEVEL (None: GDAL's default), for the rasters and their overviews.
    ``release_blocks``: each block row is flushed to the file and dropped from GDAL's block cache as
    soon as it is written (map mode: its 10 m rasters would otherwise fill the cache, up to
    GDAL_CACHEMAX, and stay there). ``write_behind``: rows and panels are encoded and written on a
    background thread, in order (core/write_behind.py; map mode); errors surface at the next call
    or at :meth:`close_rasters`; ``class_counts`` and ``valid_cells`` are final after it."""

    def __init__(
        self,
        output_dir: Path,
        prefix: str,
        grid,
        geotransform: tuple,
        wkt: str,
        card,
        prob_dtype: str = "uint8",
        write_probabilities: bool = True,
        metadata: Optional[dict] = None,
        overwrite: bool = True,
        deflate_level: Optional[int] = None,
        release_blocks: bool = False,
        write_behind: bool = False,
    ):
        check_class_count(card)
        self._behind = None
        self.zlevel = deflate_level
        self.release_blocks = bool(release_blocks)
        self.dir = Path(output_dir)
        self.prefix = prefix
        self.overwrite = bool(overwrite)
        self.token = new_token()
        self.card = card
        self.ncx, self.ncy = grid.ncx, grid.ncy
        self.C = len(card.classes)
        self.float = prob_dtype == "float32"
        self.write_probs = write_probabilities
        self.final: dict[str, Path] = {
            "classes": raster_path(self.dir, prefix, "classes"),
            "confidence": raster_path(self.dir, prefix, "confidence"),
        }
        if write_probabilities:
            self.final["probabilities"] = raster_path(self.dir, prefix, "probabilities")
        self.tmp = {k: p.with_name(f"{p.name}.{self.token}.partial.tif") for k, p in self.final.items()}
        self.class_counts = np.zeros(self.C, np.int64)
        self.valid_cells = 0
        self._tifs: dict[str, _Tif] = {}
        self.extra_tmp: list[Path] = []
        self._closed = False
        md = {k: str(v) for k, v in (metadata or {}).items()}
        try:
            pdtype = gdal.GDT_Float32 if self.float else gdal.GDT_Byte
            pnodata = float("nan") if self.float else NODATA_U8
            pred = 3 if self.float else 2
            z = self.zlevel
            t = _Tif(self.tmp["classes"], self.ncx, self.ncy, 1, gdal.GDT_Byte, geotransform, wkt, NODATA_CLASS, 2, z)
            self._tifs["classes"] = t
            band = t.ds.GetRasterBand(1)
            ct = gdal.ColorTable()
            for i, c in enumerate(card.classes):
                ct.SetColorEntry(i, (*_hex_rgb(c.color), 255))
            ct.SetColorEntry(NODATA_CLASS, (0, 0, 0, 0))
            band.SetColorTable(ct)
            band.SetColorInterpretation(gdal.GCI_PaletteIndex)
            names = [""] * 256
            for i, c in enumerate(card.classes):
                names[i] = c.name
            band.SetCategoryNames(names[: self.C])
            band.SetDescription("class")
            t.ds.SetMetadata({**md, "CONTENT": "land-cover class index (category names and colours embedded)"})
            t = _Tif(self.tmp["confidence"], self.ncx, self.ncy, 1, pdtype, geotransform, wkt, pnodata, pred, z)
            self._tifs["confidence"] = t
            t.ds.GetRasterBand(1).SetDescription("confidence")
            if not self.float:
                t.ds.GetRasterBand(1).SetScale(1.0 / U8_SCALE)
                t.ds.GetRasterBand(1).SetOffset(0.0)
            t.ds.SetMetadata({**md, "CONTENT": "maximum class probability (0..1)" + self._enc()})
            if write_probabilities:
                t = _Tif(
                    self.tmp["probabilities"], self.ncx, self.ncy, self.C, pdtype, geotransform, wkt, pnodata, pred, z
                )
                self._tifs["probabilities"] = t
                for i, c in enumerate(card.classes):
                    b = t.ds.GetRasterBand(i + 1)
                    b.SetDescription(c.name)
                    if not self.float:
                        b.SetScale(1.0 / U8_SCALE)
                        b.SetOffset(0.0)
                t.ds.SetMetadata({**md, "CONTENT": "class probabilities, one band per class (0..1)" + self._enc()})
        except BaseException:
            self.abort()
            raise
        self._x0, self._pw = 0, self.ncx  # the columns being written: all, unless start_panel says otherwise
        self._block_start = 0
        self._alloc_block()
        if write_behind:
            from .write_behind import WriteBehind

            self._behind = WriteBehind(depth=1, name="map-writer")

    @property
    def behind_seconds(self) -> float:
        """Seconds the write-behind thread spent encoding and writing (0 without one)."""
        return self._behind.busy_seconds if self._behind is not None else 0.0

    def start_panel(self, x0: int, width: int) -> None:
        """The next rows written are columns ``[x0, x0 + width)`` from row 0 (map mode's panels,
        core/tiles.py); the previous panel must be complete, and the panels must be in order."""
        if self._behind is not None:
            self._behind.submit(self._start_panel, x0, width)
        else:
            self._start_panel(x0, width)

    def _start_panel(self, x0: int, width: int) -> None:
        fresh = self._block_start == 0 and self._n == 0 and x0 == self._x0
        done = self._block_start >= self.ncy and x0 == self._x0 + self._pw
        if not (fresh or done):
            raise ClassificationError(f"internal error: panel at column {x0} started before the last one was complete")
        self._x0, self._pw, self._block_start = x0, width, 0
        self._alloc_block()

    def _enc(self) -> str:
        return "; stored as float32, nodata NaN" if self.float else "; stored as round(p*254), scale 1/254, nodata 255"

    def _alloc_block(self):
        h = min(BLOCK, self.ncy - self._block_start)
        self._h = h
        self._n = 0
        self.b_cls = np.full((h, self._pw), NODATA_CLASS, np.uint8)
        pdt = np.float32 if self.float else np.uint8
        fill = np.nan if self.float else NODATA_U8
        self.b_conf = np.full((h, self._pw), fill, pdt)
        self.b_prob = np.full((self.C, h, self._pw), fill, pdt) if self.write_probs else None

    def write_row(self, r: int, probs: np.ndarray, valid: np.ndarray):
        """Row ``r``: probabilities ``(width, C)``, ``valid`` ``(width,)`` (False: nodata)."""
        self.write_rows(r, probs.T[:, None, :], valid[None])

    def write_rows(self, r0: int, probs: np.ndarray, valid: np.ndarray):
        """Rows ``r0, r0 + 1, ...``: probabilities ``(C, rows, width)``, ``valid`` ``(rows, width)``;
        with ``write_behind`` they are written later, on the thread (the arrays must not change)."""
        if self._behind is not None:
            self._behind.submit(self._write_rows, r0, probs, valid)
        else:
            self._write_rows(r0, probs, valid)

    def _write_rows(self, r0: int, probs: np.ndarray, valid: np.ndarray):
        done = 0
        while done < valid.shape[0]:
            i = r0 + done - self._block_start
            assert 0 <= i < self._h, (r0 + done, self._block_start)
            m = min(valid.shape[0] - done, self._h - i)
            if valid[done : done + m].any():
                self._encode(i, probs[:, done : done + m], valid[done : done + m])
            done += m
            self._n = i + m
            if self._n == self._h:
                self._flush()

    def _encode(self, i: int, probs: np.ndarray, valid: np.ndarray) -> None:
        """Rows ``i, i + 1, ...`` of the block: classes, confidence, probabilities (C, rows, width)."""
        rows = slice(i, i + valid.shape[0])
        cls = probs.argmax(axis=0).astype(np.uint8)
        conf = probs.max(axis=0)
        cls[~valid] = NODATA_CLASS
        self.class_counts += np.bincount(cls[valid], minlength=self.C)[: self.C]
        self.valid_cells += int(valid.sum())
        self.b_cls[rows] = cls
        if self.float:
            self.b_conf[rows] = np.where(valid, conf, np.nan)
            if self.b_prob is not None:
                self.b_prob[:, rows] = np.where(valid[None], probs, np.nan)
        else:  # round(p * 254), then nodata over the invalid pixels: in place, no temporaries of np.where
            invalid = ~valid
            self.b_conf[rows] = np.rint(np.multiply(conf, U8_SCALE, out=conf), out=conf)
            self.b_conf[rows][invalid] = NODATA_U8
            if self.b_prob is not None:  # a band at a time: no (C, rows, width) temporary beside the block
                scaled = np.empty(valid.shape, probs.dtype)
                for c in range(self.C):
                    self.b_prob[c, rows] = np.rint(np.multiply(probs[c], U8_SCALE, out=scaled), out=scaled)
                    self.b_prob[c, rows][invalid] = NODATA_U8

    def _flush(self):
        y = self._block_start
        for name, arr in (("classes", self.b_cls), ("confidence", self.b_conf)):
            self._write(name, 1, arr, y)
        if self.b_prob is not None:
            for c in range(self.C):
                self._write("probabilities", c + 1, self.b_prob[c], y)
        if self.release_blocks:
            for name, t in self._tifs.items():
                for b in range(1, t.ds.RasterCount + 1):
                    self._checked(name, t.ds.GetRasterBand(b).FlushCache)
        self._block_start += self._h
        if self._block_start < self.ncy:
            self._alloc_block()

    def _write(self, name, band, arr, y):
        self._checked(name, self._tifs[name].ds.GetRasterBand(band).WriteArray, arr, self._x0, y)

    def _checked(self, name, fn, *args):
        """Run a GDAL write step of raster ``name``; a failure GDAL only reports through its error
        state (a full disk seen when the block cache is flushed or the file closed) is an error
        here, never a silently truncated output."""
        from .gdalutil import _Quiet

        gdal.ErrorReset()
        try:
            with _Quiet():
                err = fn(*args)
        except RuntimeError as exc:  # gdal.UseExceptions() mode
            msg = str(exc)
        else:
            failed = err not in (0, None) or gdal.GetLastErrorType() >= gdal.CE_Failure
            msg = (gdal.GetLastErrorMsg() or "GDAL error") if failed else ""
        fn = args = None  # the traceback must not keep the dataset open past abort()
        if msg:
            raise ClassificationError(f"cannot write {self.final[name].name} in {self.dir}: {msg} (disk full?)")

    def finish_writes(self) -> None:
        """Wait for the write-behind thread's rows (if any); raises the error of one of them."""
        if self._behind is not None:
            self._behind.drain()
            self._behind.stop()

    def close_rasters(self, overviews: bool = True):
        """Build overviews and close the rasters (still under their temporary names)."""
        self.finish_writes()
        if self._block_start < self.ncy or self._x0 + self._pw < self.ncx:
            raise ClassificationError("internal error: not every output row was written")
        for name, t in self._tifs.items():
            if overviews:
                levels = _overview_levels(self.ncx, self.ncy)
                if levels:
                    alg = "NEAREST" if name == "classes" else "AVERAGE"
                    gdal.SetThreadLocalConfigOption("COMPRESS_OVERVIEW", "DEFLATE")
                    try:
                        self._checked(name, t.ds.BuildOverviews, alg, levels)
                    finally:
                        gdal.SetThreadLocalConfigOption("COMPRESS_OVERVIEW", None)
            self._checked(name, t.ds.FlushCache)
        for name, t in list(self._tifs.items()):  # closing writes the last blocks and the header

            def close(t=t):
                t.ds = None

            self._checked(name, close)
        self._close()

    def commit(self, texts: Optional[dict] = None) -> dict[str, Path]:
        """Write the text files (styles, summary) under temporary names, then rename everything.

        Without ``overwrite`` no existing file is replaced, even one created by another run since
        the start (the names placed so far are then removed again and the run fails). With
        ``overwrite`` the run's files replace the old ones, and the files of the same run name
        that this run does not write (an earlier run's probabilities, sidecars) are removed, so
        the folder holds exactly this run's set."""
        texts = texts or {}
        staged = []
        placed: list[Path] = []
        try:
            for final, text in texts.items():
                final = Path(final)
                tmp = final.with_name(f"{final.name}.{self.token}.partial")
                self.extra_tmp.append(tmp)
                tmp.write_text(text, encoding="utf-8")
                staged.append((tmp, final))
            for name, tmp in self.tmp.items():
                final = self.final[name]
                staged.append((tmp, final))
                aux = tmp.with_name(tmp.name + ".aux.xml")
                stale = final.with_name(final.name + ".aux.xml")
                if self.overwrite and stale.exists():
                    stale.unlink()
                if aux.exists():
                    staged.append((aux, stale))
            for tmp, final in staged:
                if self.overwrite:
                    os.replace(tmp, final)
                else:
                    _link_noreplace(tmp, final)
                placed.append(final)
        except FileExistsError as exc:
            self._unplace(placed)
            self.abort()
            taken = Path(str(exc.filename2 or exc.args[0])).name
            raise ClassificationError(
                f"{taken} was created in {self.dir} by someone else during the run: "
                "nothing was replaced; allow overwriting or choose another output name"
            ) from None
        except OSError as exc:
            self._unplace(placed)
            self.abort()
            raise ClassificationError(f"cannot write the outputs in {self.dir}: {exc}") from None
        except BaseException:
            self._unplace(placed)
            self.abort()
            raise
        if self.overwrite:
            keep = {os.path.normcase(str(f)) for _, f in staged}
            for f in run_output_paths(self.dir, self.prefix):
                if os.path.normcase(str(f)) not in keep and os.path.lexists(f):
                    try:
                        f.unlink()
                    except OSError:
                        pass
        return dict(self.final)

    def _unplace(self, placed) -> None:
        """Undo the renames of a failed commit that created new names (never with overwrite:
        those replaced files that are gone)."""
        if self.overwrite:
            return
        for f in placed:
            try:
                f.unlink()
            except OSError:
                pass

    def _close(self):
        if self._behind is not None:
            self._behind.stop()  # no write may reach a dataset being closed
        for t in self._tifs.values():
            t.ds = None
        self._tifs.clear()
        self._closed = True

    def abort(self):
        """Close and delete every temporary file of this run."""
        self._close()
        for tmp in [*self.tmp.values(), *self.extra_tmp]:
            for f in self.dir.glob(glob_escape(tmp.name) + "*"):
                try:
                    f.unlink()
                except OSError:
                    pass
