"""Inspect one model window: what the model sees at a place, what it answers, and why.

An :class:`Inspector` prepares a raster exactly as a classification run does, with the engine's
own code: band mapping and radiometry (``bands.py``, ``radiometry.py``; the percentile stretch
sampled by the engine's sampler), the working raster at the model's gsd in a metric CRS
(``georef.prepare``: a warped VRT for a geographic, Mercator or off-10 m source) and the reader's
strip read, validity rule and scaling (``strips.read_strip``, ``batching.fill_invalid``) and forward pass
(``stages.run_windows.ModelRunner``). Then:

- :meth:`Inspector.window_at` takes the window centred at a map coordinate (any CRS): the patch
  as the model sees it (RGB uint8), the model input (float, 0-255, invalid pixels filled with the
  window's band means as the engine does), the class probabilities (the engine's forward pass:
  channels-last, autocast on GPU, softmax in float32) and the window's footprint;
- :meth:`Inspector.heat_map` adds the Grad-CAM heat map of a class (``models/gradcam.py``);
- :meth:`Inspector.cell_windows`, for an inspector made from a run's summary
  (:meth:`Inspector.from_summary`), answers "which windows made this result cell": the windows of
  the run's grid covering the cell, each inspected; their mean probability is the cell's value.

No Qt, no QGIS; torch is imported when the model is first needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .errors import ClassificationError
from .run_names import RASTER_SUFFIXES, summary_name

RESULT_SUFFIXES = tuple(Path(s).stem for s in RASTER_SUFFIXES.values())  # "_classes", ...


# ----------------------------------------------------------------------------- data
@dataclass
class WindowFootprint:
    """Where a window lies: its top-left pixel in the working raster and its map geometry."""

    col: int  # top-left pixel of the window in the working raster (the whole raster, before any AOI)
    row: int
    size: int  # px
    geotransform: tuple  # of the window, working CRS, north-up
    crs_wkt: str
    crs_label: str
    shifted: bool = False  # moved to stay inside the raster

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        gt = self.geotransform
        return (gt[0], gt[3] + self.size * gt[5], gt[0] + self.size * gt[1], gt[3])

    @property
    def centre(self) -> tuple[float, float]:
        xmin, ymin, xmax, ymax = self.bounds
        return ((xmin + xmax) / 2, (ymin + ymax) / 2)

    def to_dict(self) -> dict:
        return {
            "pixel": [self.col, self.row],
            "size_px": self.size,
            "bounds": list(self.bounds),
            "crs": self.crs_label,
            "shifted_to_stay_inside": self.shifted,
        }


@dataclass
class InspectedWindow:
    footprint: WindowFootprint
    model_input: np.ndarray  # (C, p, p) float32, 0-255: exactly what the model gets
    patch_rgb: np.ndarray  # (p, p, 3) uint8: the model input shown as RGB
    valid: np.ndarray  # (p, p) bool: pixels with data (the others were filled)
    probabilities: np.ndarray  # (K,) float32
    class_names: list[str]
    class_colors: list[str]

    @property
    def valid_fraction(self) -> float:
        return float(self.valid.mean())

    @property
    def top_index(self) -> int:
        return int(np.argmax(self.probabilities))

    def ranked(self, k: Optional[int] = None) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities, kind="stable")[: k or len(self.probabilities)]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]


@dataclass
class RunGrid:
    """The window grid of a finished run (from its summary): stride, window counts, area origin."""

    stride: int
    patch: int
    origin: tuple[float, float]  # top-left corner of the run's working area (working CRS)
    pixel: float
    nx: int
    ny: int
    ncx: int
    ncy: int

    @property
    def k(self) -> int:
        return self.patch // self.stride

    @classmethod
    def from_summary(cls, summary: dict) -> RunGrid:
        try:
            g, wr, model = summary["grid"], summary["working_raster"], summary["model"]
            xmin, _ymin, _xmax, ymax = wr["bounds"]
            ncx, ncy, patch = int(g["cells"][0]), int(g["cells"][1]), int(model["patch_size"])
            return cls(
                stride=int(g["stride_px"]),
                patch=patch,
                origin=(float(xmin), float(ymax)),
                pixel=float(wr["pixel_size_m"][0]),
                nx=int(g.get("windows_per_row", max(1, ncx - patch + 1))),  # map mode: windows at every pixel
                ny=int(g.get("window_rows", max(1, ncy - patch + 1))),
                ncx=ncx,
                ncy=ncy,
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ClassificationError(
                f"the run summary lacks the window grid ({exc}): re-run the classification"
            ) from None

    def cell_at(self, x: float, y: float) -> Optional[tuple[int, int]]:
        size = self.stride * self.pixel
        ci = math.floor((x - self.origin[0]) / size)
        cj = math.floor((self.origin[1] - y) / size)
        if 0 <= ci < self.ncx and 0 <= cj < self.ncy:
            return ci, cj
        return None

    def windows_of_cell(self, ci: int, cj: int) -> list[tuple[int, int]]:
        """Window (i, j) covers cells i..i+k-1, j..j+k-1: the windows of the grid that cover (ci, cj).
        A map-mode run (cells of one pixel): the one window centred on the pixel, as the map model saw it."""
        if self.stride == 1:
            half = self.patch // 2
            return [(min(max(ci - half, 0), self.nx - 1), min(max(cj - half, 0), self.ny - 1))]
        k = self.k
        cols = range(max(0, ci - k + 1), min(self.nx - 1, ci) + 1)
        rows = range(max(0, cj - k + 1), min(self.ny - 1, cj) + 1)
        return [(i, j) for j in rows for i in cols]

    def cell_bounds(self, ci: int, cj: int) -> tuple[float, float, float, float]:
        size = self.stride * self.pixel
        x0, y1 = self.origin[0] + ci * size, self.origin[1] - cj * size
        return (x0, y1 - size, x0 + size, y1)


@dataclass
class CellInspection:
    cell: tuple[int, int]
    cell_bounds: tuple[float, float, float, float]
    windows: list[InspectedWindow]
    grid_windows: list[tuple[int, int]]  # (i, j) of each inspected window in the run's grid
    skipped: int  # windows of the cell with no valid pixel (the engine skips them too)
    probabilities: Optional[np.ndarray] = None  # mean of the windows' probabilities (the cell's value)
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- the engine's pieces
# From the engine's stage modules, so a window is read, scaled, validated and filled by the same code
# as in a run: core/stages/prepare.py (percentile sampler), core/strips.py (strip read + validity),
# core/batching.py (filling a partly valid window), core/stages/run_windows.py (the forward pass).
def _engine_sampler(wr, mapping):
    """The engine's sampler for the percentile stretch (one rule for runs and inspection)."""
    from .stages.prepare import percentile_sampler

    return percentile_sampler(wr, mapping)


def _read_strip(wr, radiometry, y: int, n: int):
    """The reader's strip read: (scaled float32 (C, n, W), valid (n, W)), the engine's validity rule."""
    from .strips import read_strip

    return read_strip(wr, radiometry, y, n)


def _fill_invalid(window: np.ndarray, mask: np.ndarray) -> None:
    """The reader's rule for a partly valid window: invalid pixels get the per-band mean of valid ones."""
    from .batching import fill_invalid

    fill_invalid(window, mask)


def radiometry_from_dict(d: dict, card):
    """Rebuild the run's scaler from the summary's ``radiometry`` entry (percentile limits included)."""
    from .radiometry import L2A_OFFSET, LINEAR_METHODS, Radiometry, make_radiometry

    method = d.get("method")
    if method == "percentile":
        if d.get("low") is None or d.get("high") is None:
            raise ClassificationError("the run summary has no percentile limits: re-run the classification")
        return Radiometry("percentile", low=list(d["low"]), high=list(d["high"]), reason=d.get("reason", ""))
    if method in LINEAR_METHODS:
        divisor = float(d.get("divisor") or card.sentinel2_dn_divisor)
        offset = float(d.get("offset", L2A_OFFSET if method == "sentinel2_l2a" else 0.0))  # older summaries
        return Radiometry(method, divisor=divisor, offset=offset, reason=d.get("reason", ""))
    return make_radiometry(method or "8bit", card, d.get("reason", ""))


def engine_softmax(model, device, x: np.ndarray) -> np.ndarray:
    """Softmax of ``model`` for ``x`` (N, C, p, p float32, 0-255) by the engine's forward pass
    (stages/run_windows.ModelRunner: channels-last on the device, bf16/fp16 autocast on GPU, softmax
    in float32): (N, K), or (N, K, p, p) for a per-pixel map model."""
    import torch

    from .stages.run_windows import ModelRunner

    with torch.inference_mode():
        return ModelRunner(model, device, max(1, len(x)), [])(torch.from_numpy(np.ascontiguousarray(x, np.float32)))


def engine_probabilities(model, device, x: np.ndarray) -> np.ndarray:
    """(N, K) class probabilities of windows ``x``; a per-pixel model's are averaged over the window."""
    probs = engine_softmax(model, device, x)
    return probs.mean(axis=(2, 3)) if probs.ndim == 4 else probs


def _rgb_indices(card) -> list[int]:
    roles = [r.lower() for r in (card.band_roles or [])]
    if all(r in roles for r in ("red", "green", "blue")):
        return [roles.index(r) for r in ("red", "green", "blue")]
    n = len(card.bands)
    return [0, 1, 2] if n >= 3 else [0, 0, 0]


def _srs(crs):
    from . import gdalutil

    return gdalutil.srs_from_user(crs)


# ----------------------------------------------------------------------------- the inspector
class Inspector:
    """A raster seen as a classification run sees it, one window at a time (module docstring)."""

    def __init__(
        self,
        source: Union[str, Path],
        model_card: Union[str, Path, None] = None,
        *,
        bands=None,
        radiometry: str = "auto",
        bounds=None,
        bounds_crs: Optional[str] = None,
        radiometry_params: Optional[dict] = None,
        device: str = "auto",
        model=None,
        run_grid: Optional[RunGrid] = None,
    ):
        from . import bands as bands_mod
        from . import georef
        from .radiometry import make_radiometry
        from .stages.model import read_card

        self.source_path = str(source)
        if model is not None:
            self._model, self.card = model
        else:
            self._model = None
            self.card = read_card(model_card)
        self.card_path = Path(model_card) if model_card else None
        self.device_name = device
        self.device = None
        self.device_warning: Optional[str] = None
        self.patch = int(self.card.patch_size)
        self.src = georef.open_source(self.source_path)
        self.mapping = bands_mod.detect_band_mapping(self.src, self.card, bands, radiometry)
        gsd = float(self.card.gsd_m)
        # The whole raster at the model's gsd: an AOI of a run is a pixel window of this same grid.
        self.wr = georef.prepare(self.src, self.mapping, gsd)
        if radiometry_params is not None:
            self.radiometry = radiometry_from_dict(radiometry_params, self.card)
        else:
            sample_wr = georef.prepare(self.src, self.mapping, gsd, bounds, bounds_crs) if bounds else self.wr
            self.radiometry = make_radiometry(
                self.mapping.radiometry,
                self.card,
                self.mapping.radiometry_reason,
                _engine_sampler(sample_wr, self.mapping),
                self.mapping.radiometry_params,
            )
        self.run_grid = run_grid
        self.summary: Optional[dict] = None
        self._rgb = _rgb_indices(self.card)

    # -------------------------------------------------------------- construction from a run
    @classmethod
    def from_summary(cls, summary: Union[str, Path, dict], device: str = "auto", model=None) -> Inspector:
        """An inspector that sees the input exactly as the run of ``summary`` did (same model card,
        bands, radiometry with its limits, window grid), to answer which windows made a cell."""
        from .run_summary import check_run_summary, read_run_summary

        summary = check_run_summary(summary) if isinstance(summary, dict) else read_run_summary(summary)
        try:
            source = summary["input"]["path"]
            card = summary["model"].get("card")
            bands = summary["band_mapping"]["bands"]
            rad = summary["radiometry"]
        except (KeyError, TypeError) as exc:
            raise ClassificationError(f"the run summary lacks {exc}: is it a summary of this plugin?") from None
        grid = RunGrid.from_summary(summary)
        insp = cls(
            source,
            card if model is None else None,
            bands=bands,
            radiometry=rad.get("method", "auto"),
            radiometry_params=rad,
            device=device,
            model=model,
            run_grid=grid,
        )
        insp.summary = summary
        return insp

    # -------------------------------------------------------------- model
    @property
    def class_names(self) -> list[str]:
        return list(self.card.class_names)

    @property
    def class_colors(self) -> list[str]:
        return list(self.card.class_colors)

    def model(self):
        """The classifier on the chosen device (loaded on first use, as the engine loads it)."""
        from ..models.devices import resolve_device

        if self.device is None:
            self.device, self.device_warning = resolve_device(self.device_name)
        if self._model is None:
            from ..models.card import ModelCardError
            from ..models.checkpoint import ModelLoadError, default_card_path, load_model

            try:
                self._model, self.card = load_model(self.card_path or default_card_path(), device=self.device)
            except (ModelLoadError, ModelCardError) as exc:
                raise ClassificationError(f"cannot load the model: {exc}") from None
        net = self._model.to(self.device).eval()
        if hasattr(net, "use_channels_last"):
            net.use_channels_last(True)
        return net

    # -------------------------------------------------------------- windows
    def to_working(self, x: float, y: float, crs=None) -> tuple[float, float]:
        """A map coordinate in ``crs`` (WKT, "EPSG:n"; None = the working CRS) -> working CRS."""
        if crs is None:
            return float(x), float(y)
        from osgeo import osr

        from . import gdalutil

        src = gdalutil.gis_order(_srs(crs))
        if src.IsSame(self.wr.srs):
            return float(x), float(y)
        ct = osr.CoordinateTransformation(src, gdalutil.gis_order(self.wr.srs))
        try:
            X, Y, _ = ct.TransformPoint(float(x), float(y))
        except RuntimeError as exc:
            raise ClassificationError(f"the point cannot be transformed to the raster's CRS: {exc}") from None
        if not (math.isfinite(X) and math.isfinite(Y)):
            raise ClassificationError("the point cannot be transformed to the raster's CRS")
        return X, Y

    def footprint(self, col: int, row: int, shifted: bool = False) -> WindowFootprint:
        gt = self.wr.geotransform  # of the whole working raster (no AOI: xoff = yoff = 0)
        wgt = (gt[0] + col * gt[1], gt[1], 0.0, gt[3] + row * gt[5], 0.0, gt[5])
        return WindowFootprint(col, row, self.patch, wgt, self.wr.srs.ExportToWkt(), self.wr.crs_label, shifted=shifted)

    def centred_pixel(self, x: float, y: float, crs=None) -> tuple[int, int, bool]:
        """Top-left pixel of the window centred at (x, y): the clicked pixel is at (p/2, p/2) of it;
        moved (``shifted``) to stay inside the raster near its edges."""
        X, Y = self.to_working(x, y, crs)
        gt, W, H, p = self.wr.geotransform, self.wr.width, self.wr.height, self.patch
        fx, fy = (X - gt[0]) / gt[1], (Y - gt[3]) / gt[5]
        if not (0 <= fx < W and 0 <= fy < H):
            raise ClassificationError("this point is outside the raster: click inside the input layer")
        if min(W, H) < p:
            raise ClassificationError(
                f"the raster is {W} x {H} px at {self.card.gsd_m:g} m, smaller than one {p} x {p} px window"
            )
        # 1e-6 px: a click on a pixel corner that went through a CRS transformation stays on its pixel
        col, row = math.floor(fx + 1e-6) - p // 2, math.floor(fy + 1e-6) - p // 2
        c2, r2 = min(max(col, 0), W - p), min(max(row, 0), H - p)
        return c2, r2, (c2, r2) != (col, row)

    def read_window(self, col: int, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(model input (C, p, p) float32 with invalid pixels filled as the engine fills them, valid (p, p))."""
        p = self.patch
        if not (0 <= col <= self.wr.width - p and 0 <= row <= self.wr.height - p):
            raise ClassificationError(f"window at pixel ({col}, {row}) is not inside the raster")
        sub = replace(self.wr, xoff=self.wr.xoff + col, yoff=self.wr.yoff + row, width=p, height=p)
        scaled, valid = _read_strip(sub, self.radiometry, 0, p)
        data = np.array(scaled, dtype=np.float32, copy=True)
        if not valid.any():
            raise ClassificationError(
                "there is no data under this window (nodata, or outside the image footprint): the engine skips it"
            )
        if not valid.all():
            _fill_invalid(data, valid)
        return data, valid

    def inspect_pixel(self, col: int, row: int, shifted: bool = False) -> InspectedWindow:
        data, valid = self.read_window(col, row)
        net = self.model()
        probs = engine_probabilities(net, self.device, data[None])[0]
        rgb = np.clip(np.round(data[self._rgb]), 0, 255).astype(np.uint8).transpose(1, 2, 0)
        return InspectedWindow(
            footprint=self.footprint(col, row, shifted),
            model_input=data,
            patch_rgb=np.ascontiguousarray(rgb),
            valid=valid,
            probabilities=probs.astype(np.float32),
            class_names=self.class_names,
            class_colors=self.class_colors,
        )

    def window_at(self, x: float, y: float, crs=None) -> InspectedWindow:
        """The window centred at (x, y) in ``crs`` (None = the working CRS), inspected."""
        col, row, shifted = self.centred_pixel(x, y, crs)
        return self.inspect_pixel(col, row, shifted)

    def heat_map(self, window: InspectedWindow, target: Optional[int] = None) -> np.ndarray:
        """Grad-CAM of ``target`` (None: the top class) for ``window``: (p, p) float32 in 0..1; for a
        per-pixel map model, its own probability of the class at each pixel."""
        from ..models.gradcam import grad_cam
        from ..models.registry import is_per_pixel

        if is_per_pixel(self.card.architecture):
            probs = engine_softmax(self.model(), self.device, window.model_input[None])[0]
            return probs[window.top_index if target is None else int(target)].astype(np.float32)

        res = grad_cam(self.model(), window.model_input[None], window.top_index if target is None else int(target))
        return res.heatmaps[0]

    # -------------------------------------------------------------- result cells
    def cell_windows(self, x: float, y: float, crs=None) -> CellInspection:
        """The windows of the run that made the result cell at (x, y), each inspected."""
        g = self.run_grid
        if g is None:
            raise ClassificationError("this inspector was not made from a run summary: no result grid")
        X, Y = self.to_working(x, y, crs)
        cell = g.cell_at(X, Y)
        if cell is None:
            raise ClassificationError("this point is outside the result layer")
        gt = self.wr.geotransform
        out = CellInspection(cell=cell, cell_bounds=g.cell_bounds(*cell), windows=[], grid_windows=[], skipped=0)
        for i, j in g.windows_of_cell(*cell):
            wx = g.origin[0] + i * g.stride * g.pixel
            wy = g.origin[1] - j * g.stride * g.pixel
            col = int(round((wx - gt[0]) / gt[1]))
            row = int(round((wy - gt[3]) / gt[5]))
            try:
                out.windows.append(self.inspect_pixel(col, row))
                out.grid_windows.append((i, j))
            except ClassificationError as exc:
                if "no data" not in str(exc):
                    raise
                out.skipped += 1
        if not out.windows:
            out.notes.append("no window of the run covers this cell with data (nodata or the right/bottom edge)")
        else:
            out.probabilities = np.mean([w.probabilities for w in out.windows], axis=0).astype(np.float32)
        return out


# ----------------------------------------------------------------------------- result layers and files
def summary_for_result(raster_path: Union[str, Path]) -> Optional[Path]:
    """The run summary beside a result raster (``<name>_classes.tif`` -> ``<name>_summary.json``)."""
    p = Path(str(raster_path).split("|")[0])
    stem = p.stem
    for suffix in RESULT_SUFFIXES:
        if stem.endswith(suffix):
            cand = p.with_name(summary_name(stem[: -len(suffix)]))
            return cand if cand.is_file() else None
    return None


def write_heat_map_geotiff(path: Union[str, Path], heat: np.ndarray, footprint: WindowFootprint, overwrite=False):
    """The heat map as a float32 GeoTIFF aligned with the window (tmp name, then rename)."""
    from osgeo import gdal

    from .writers import staged_file

    with staged_file(path, overwrite) as tmp:
        h, w = heat.shape
        ds = gdal.GetDriverByName("GTiff").Create(tmp, w, h, 1, gdal.GDT_Float32, options=["COMPRESS=DEFLATE"])
        ds.SetGeoTransform(footprint.geotransform)
        ds.SetProjection(footprint.crs_wkt)
        band = ds.GetRasterBand(1)
        band.WriteArray(heat.astype(np.float32))
        band.SetDescription("Grad-CAM")
        ds.FlushCache()
        ds = None
    return Path(path)
