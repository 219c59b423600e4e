"""Streaming GeoTIFF outputs, QGIS styles (QML) and the JSON summary.

Files are written under temporary names in the output folder (``<final>.<token>.partial.tif``)
and renamed onto their final names only when everything succeeded; :meth:`OutputSet.abort`
(cancel, error) closes and deletes them, so a failed run leaves nothing half-written.

- classes: uint8, colour table + category names from the model card, nodata 255.
- probabilities: one band per class, band description = class name. uint8 (default): value =
  round(p * 254), GDAL scale 1/254 (QGIS and GDAL show 0..1), nodata 255; float32: 0..1, nodata NaN.
- confidence: the maximum probability, same encoding as the probabilities.
All tiled 256 x 256, DEFLATE (predictor 2 for integers, 3 for float), internal overviews.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import tempfile
import zlib
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape

import numpy as np
from osgeo import gdal

from .errors import ClassificationError
from .run_names import STYLE_EXTENSION, raster_name, summary_name

NODATA_CLASS = 255
NODATA_U8 = 255
U8_SCALE = 254.0
BLOCK = 256
VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _overview_levels(w: int, h: int) -> list[int]:
    """Power-of-two levels down to about 8 px on the long side (none for tiny rasters)."""
    levels, f = [], 2
    while -(-max(w, h) // f) >= 8:
        levels.append(f)
        f *= 2
    return levels


class _Tif:
    def __init__(self, path: Path, w, h, bands, dtype, gt, wkt, nodata, predictor):
        opts = [
            "TILED=YES",
            f"BLOCKXSIZE={BLOCK}",
            f"BLOCKYSIZE={BLOCK}",
            "COMPRESS=DEFLATE",
            f"PREDICTOR={predictor}",
            "BIGTIFF=IF_SAFER",
        ]
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


# ---------------------------------------------------------------------- output names and safety
RASTER_KINDS = ("classes", "confidence", "probabilities")
# Sidecars GDAL or QGIS may keep beside a raster (PAM metadata, external overviews/masks built in QGIS):
# an old one beside a new raster would show the previous run's data, so they belong to the run's files.
RASTER_SIDECARS = (".aux.xml", ".ovr", ".msk")
NAME_MAX_BYTES = 255  # longest file name on the common file systems (ext4, NTFS, APFS)
MAX_CLASSES = NODATA_CLASS  # class values 0..254; 255 is the nodata value of the classes raster


def host_tag() -> str:
    """Four hex digits naming this machine in temporary names (a folder may be shared)."""
    return f"{zlib.crc32(socket.gethostname().encode('utf-8', 'replace')) & 0xFFFF:04x}"


def new_token() -> str:
    """``<pid>-<host>-<random>``: whose temporary file it is, so a later run can tell a killed
    run's leftovers (process gone) from a live run's files (:func:`sweep_stale_partials`)."""
    return f"{os.getpid()}-{host_tag()}-{secrets.token_hex(4)}"


# <final name>.<pid>-<host>-<8 hex>.partial[.tif][GDAL sidecar]: the only names the sweep removes.
PARTIAL_RE = re.compile(
    r"^(?P<final>.+)\.(?P<pid>\d{1,10})-(?P<host>[0-9a-f]{4})-[0-9a-f]{8}\.partial(?:\.tif|\.gpkg)?"
    r"(?:\.aux\.xml|\.ovr|\.msk|-journal|-wal|-shm)?$"
)


def raster_path(out_dir: Path, prefix: str, kind: str) -> Path:
    return Path(out_dir) / raster_name(prefix, kind)


def run_output_paths(out_dir, prefix: str) -> list[Path]:
    """Every file a run named ``prefix`` may write in ``out_dir`` (rasters, their sidecars,
    styles, summary), whatever its options: the set that is checked, replaced and kept consistent."""
    out = []
    for kind in RASTER_KINDS:
        tif = raster_path(out_dir, prefix, kind)
        out += [tif, *(tif.with_name(tif.name + s) for s in RASTER_SIDECARS), tif.with_suffix(STYLE_EXTENSION)]
    out.append(Path(out_dir) / summary_name(prefix))
    return out


def check_prefix(prefix: str) -> None:
    """A plain file-name prefix whose longest temporary name fits the file system."""
    if not prefix.strip() or re.search(r"[/\\\x00]", prefix) or prefix in (".", ".."):
        raise ClassificationError(f"output name {prefix!r} must be a plain file name prefix")
    longest = f"{raster_name(prefix, 'probabilities')}.{new_token()}.partial.tif.aux.xml"
    excess = len(os.fsencode(longest)) - NAME_MAX_BYTES
    if excess > 0:
        room = len(os.fsencode(prefix)) - excess
        raise ClassificationError(
            f"output name is too long ({len(prefix)} characters): file names are limited to {NAME_MAX_BYTES} bytes; "
            f"use a name of at most {max(1, room)} bytes (--name)"
        )


def _same_file(a: Path, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_outputs(out_dir, prefix: str, input_files, overwrite: bool) -> list[Path]:
    """Refuse a run whose files would replace an input (never allowed) or, without ``overwrite``,
    any existing file. ``input_files``: every file the input raster is made of (GDAL's
    ``GetFileList()``: the raster, its sidecars, a VRT's sources). Returns the existing files."""
    check_prefix(prefix)
    inputs = [str(f) for f in input_files or () if f and not str(f).startswith("/vsi")]
    family = run_output_paths(out_dir, prefix)
    for f in family:
        for i in inputs:
            if _same_file(f, i):
                raise ClassificationError(
                    f"the output {f.name} would replace the input file {i}: choose another output folder or name "
                    "(outputs never replace inputs)"
                )
    existing = [f for f in family if os.path.lexists(f)]
    if existing and not overwrite:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        names = ", ".join(f.name for f in existing[:3]) + more
        raise ClassificationError(
            f"{names} already exist{'s' if len(existing) == 1 else ''} in {Path(out_dir)}: allow overwriting "
            "(--overwrite, or the overwrite option) or choose another output name or folder"
        )
    return existing


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            ok = ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return not ok or code.value == 259  # STILL_ACTIVE
        finally:
            ctypes.windll.kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def sweep_stale_partials(out_dir) -> list[Path]:
    """Delete the temporary files of earlier runs that were killed (SIGKILL, power cut): only
    names matching :data:`PARTIAL_RE`, written on this machine by a process that no longer
    exists. A live run's files (this process or another) and anything else are left alone."""
    removed = []
    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return removed
    me = host_tag()
    for e in entries:
        m = PARTIAL_RE.match(e.name)
        if not m or m["host"] != me or pid_alive(int(m["pid"])):
            continue
        try:
            if e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            pass
    return removed


def prepare_output_dir(path) -> tuple[Path, list[Path]]:
    """Create the output folder (and missing parents) and check it is writable.

    Returns ``(folder, created)``: the folders this call created, deepest last, for
    :func:`remove_created_dirs` when the run fails."""
    out = Path(path).expanduser()
    created = []
    p = out
    while not os.path.lexists(p) and p.parent != p:
        created.append(p)
        p = p.parent
    created.reverse()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_created_dirs(created)
        raise ClassificationError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    if not out.is_dir():
        raise ClassificationError(f"the output path {out} is not a folder")
    try:  # a unique probe name: several runs in one process may share the folder
        import tempfile

        with tempfile.NamedTemporaryFile(dir=out, prefix=".eurosat-write-test-"):
            pass
    except OSError as exc:
        remove_created_dirs(created)
        raise ClassificationError(f"the output folder {out} is not writable: {exc.strerror or exc}") from None
    return out, created


def remove_created_dirs(created) -> None:
    """Remove the folders a failed run created, deepest first, if they are (still) empty."""
    for d in reversed(list(created)):
        try:
            d.rmdir()
        except OSError:
            break


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
    :meth:`commit`); the engine passes its request's ``overwrite`` after :func:`check_outputs`."""

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
    ):
        check_class_count(card)
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
            t = _Tif(self.tmp["classes"], self.ncx, self.ncy, 1, gdal.GDT_Byte, geotransform, wkt, NODATA_CLASS, 2)
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
            t = _Tif(self.tmp["confidence"], self.ncx, self.ncy, 1, pdtype, geotransform, wkt, pnodata, pred)
            self._tifs["confidence"] = t
            t.ds.GetRasterBand(1).SetDescription("confidence")
            if not self.float:
                t.ds.GetRasterBand(1).SetScale(1.0 / U8_SCALE)
                t.ds.GetRasterBand(1).SetOffset(0.0)
            t.ds.SetMetadata({**md, "CONTENT": "maximum class probability (0..1)" + self._enc()})
            if write_probabilities:
                t = _Tif(
                    self.tmp["probabilities"], self.ncx, self.ncy, self.C, pdtype, geotransform, wkt, pnodata, pred
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
        self._block_start = 0
        self._alloc_block()

    def _enc(self) -> str:
        return "; stored as float32, nodata NaN" if self.float else "; stored as round(p*254), scale 1/254, nodata 255"

    def _alloc_block(self):
        h = min(BLOCK, self.ncy - self._block_start)
        self._h = h
        self._n = 0
        self.b_cls = np.full((h, self.ncx), NODATA_CLASS, np.uint8)
        pdt = np.float32 if self.float else np.uint8
        fill = np.nan if self.float else NODATA_U8
        self.b_conf = np.full((h, self.ncx), fill, pdt)
        self.b_prob = np.full((self.C, h, self.ncx), fill, pdt) if self.write_probs else None

    def write_row(self, r: int, probs: np.ndarray, valid: np.ndarray):
        i = r - self._block_start
        assert 0 <= i < self._h, (r, self._block_start)
        if valid.any():
            cls = probs.argmax(axis=1).astype(np.uint8)
            conf = probs.max(axis=1)
            cls[~valid] = NODATA_CLASS
            self.class_counts += np.bincount(cls[valid], minlength=self.C)[: self.C]
            self.valid_cells += int(valid.sum())
            self.b_cls[i] = cls
            if self.float:
                self.b_conf[i] = np.where(valid, conf, np.nan)
                if self.b_prob is not None:
                    self.b_prob[:, i] = np.where(valid[None, :], probs.T, np.nan)
            else:
                self.b_conf[i] = np.where(valid, np.rint(conf * U8_SCALE), NODATA_U8)
                if self.b_prob is not None:
                    self.b_prob[:, i] = np.where(valid[None, :], np.rint(probs.T * U8_SCALE), NODATA_U8)
        self._n = i + 1
        if self._n == self._h:
            self._flush()

    def _flush(self):
        y = self._block_start
        for name, arr in (("classes", self.b_cls), ("confidence", self.b_conf)):
            self._write(name, 1, arr, y)
        if self.b_prob is not None:
            for c in range(self.C):
                self._write("probabilities", c + 1, self.b_prob[c], y)
        self._block_start += self._h
        if self._block_start < self.ncy:
            self._alloc_block()

    def _write(self, name, band, arr, y):
        self._checked(name, self._tifs[name].ds.GetRasterBand(band).WriteArray, arr, 0, y)

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

    def close_rasters(self, overviews: bool = True):
        """Build overviews and close the rasters (still under their temporary names)."""
        if self._block_start < self.ncy:
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


# ---------------------------------------------------------------------- QML styles
_QML_HEAD = """<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="AllStyleCategories" hasScaleBasedVisibilityFlag="0">
  <pipe>
"""
_QML_TAIL = """    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0" colorizeStrength="100"
                   colorizeRed="255" colorizeGreen="128" colorizeBlue="128"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def qml_paletted(card) -> str:
    entries = "\n".join(
        f'        <paletteEntry value="{i}" color="{c.color}" label="{_attr(c.name)}" alpha="255"/>'
        for i, c in enumerate(card.classes)
    )
    return (
        _QML_HEAD
        + '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        + "      <rasterTransparency/>\n"
        + "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy>"
        + "<cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper>"
        + "<stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        + "      <colorPalette>\n"
        + entries
        + "\n      </colorPalette>\n"
        + "    </rasterrenderer>\n"
        + _QML_TAIL
    )


def qml_pseudocolor(band: int = 1, label: str = "") -> str:
    """Viridis ramp over 0..1 (values as QGIS shows them: uint8 outputs carry scale 1/254)."""
    n = len(VIRIDIS)
    items = "\n".join(
        f'          <item value="{i / (n - 1):g}" color="{c}" label="{i / (n - 1):.2f}" alpha="255"/>'
        for i, c in enumerate(VIRIDIS)
    )
    stops = ":".join(f"{i / (n - 1):g};{_rgba(c)}" for i, c in list(enumerate(VIRIDIS))[1:-1])
    return (
        _QML_HEAD
        + f'    <rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" alphaBand="-1" '
        + 'classificationMin="0" classificationMax="1" nodataColor="">\n'
        + "      <rasterTransparency/>\n"
        + "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy>"
        + "<cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper>"
        + "<stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        + "      <rastershader>\n"
        + '        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
        + 'minimumValue="0" maximumValue="1" labelPrecision="2">\n'
        + '          <colorramp type="gradient" name="[source]">\n'
        + f'            <prop k="color1" v="{_rgba(VIRIDIS[0])}"/>\n'
        + f'            <prop k="color2" v="{_rgba(VIRIDIS[-1])}"/>\n'
        + '            <prop k="discrete" v="0"/>\n'
        + '            <prop k="rampType" v="gradient"/>\n'
        + f'            <prop k="stops" v="{stops}"/>\n'
        + "          </colorramp>\n"
        + items
        + "\n        </colorrampshader>\n"
        + "      </rastershader>\n"
        + "    </rasterrenderer>\n"
        + _QML_TAIL
    )


def _rgba(color: str) -> str:
    r, g, b = _hex_rgb(color)
    return f"{r},{g},{b},255"


@contextmanager
def staged_file(path, overwrite: bool = False, hint: str = "choose another name or allow overwriting"):
    """Yield a temporary path beside ``path`` to write the whole file to; when the block ends without
    an error it is renamed to ``path`` (with the permissions of any new file: mkstemp makes 0600),
    else removed. An existing ``path`` is refused unless ``overwrite`` (``hint`` says what to do)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ClassificationError(f"{path} exists: {hint}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


def write_json_atomic(path: Path, data: dict) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
