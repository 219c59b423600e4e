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

Its pieces live beside it: the data it returns (``inspect_data.py``), the engine's pieces
(``inspect_engine.py``) and the files beside results (``inspect_files.py``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .errors import ClassificationError
from .inspect_data import CellInspection, InspectedWindow, RunGrid, WindowFootprint
from .inspect_engine import (
    _engine_sampler,
    _fill_invalid,
    _read_strip,
    _rgb_indices,
    _srs,
    engine_probabilities,
    engine_softmax,
    radiometry_from_dict,
)


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
