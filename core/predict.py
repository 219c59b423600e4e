"""Classify one image file: a JPEG/PNG/GeoTIFF patch of any size -> top-k classes, optional Grad-CAM.

How the image reaches the model's window (reported as ``Prediction.how``):

- ``as is``: an ordinary image (JPEG, PNG, plain TIFF) of exactly the window size. Decoded as
  the evaluation does (PIL, RGB), so a EuroSAT JPEG gets the answer ``evaluate`` gets.
- ``resized``: an ordinary image of another size is resized to the window (bilinear, like the
  evaluation's loader); it is assumed to cover one window's ground (640 m for EuroSAT).
- ``windowed``: a georeferenced raster is seen as a classification run sees it (band mapping,
  radiometry, resampling to the model's gsd: ``core/inspect.Inspector``) and cut into windows at
  stride = window size; the probabilities are the mean over the windows with data, the heat map is
  the windows' maps side by side. A georeferenced raster smaller than one window is resized.

``mode`` forces ``resize`` or ``window`` (``window`` on an image without georeference takes its
pixels as the model's 10 m). Multi-band or 16-bit files go through the engine's band mapping and
radiometry. No Qt, no QGIS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .errors import ClassificationError

MODES = ("auto", "resize", "window")
MAX_WINDOWS = 256
_GDAL_FALLBACK_FORMATS = ("TIFF",)  # read through GDAL when PIL cannot decode them
_PIL_MODES = ("RGB", "RGBA", "L", "LA", "P", "CMYK", "YCbCr", "1")  # 8-bit pictures


@dataclass
class Prediction:
    image: str
    size_px: tuple[int, int]  # of the file
    how: str  # "as is" | "resized" | "windowed"
    how_text: str  # one readable line saying what was done
    windows: int
    class_names: list[str]
    class_colors: list[str]
    probabilities: np.ndarray  # (K,)
    patch_rgb: np.ndarray  # what the model saw, as RGB uint8 (windows side by side)
    heat: Optional[np.ndarray] = None  # Grad-CAM 0..1, same size as patch_rgb
    target: Optional[int] = None  # class the heat map explains
    device: str = ""
    model: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def top_index(self) -> int:
        return int(np.argmax(self.probabilities))

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities, kind="stable")[: max(1, k)]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]

    def to_dict(self, k: int = 3) -> dict:
        return {
            "image": self.image,
            "size_px": list(self.size_px),
            "input": self.how,
            "input_text": self.how_text,
            "windows": self.windows,
            "model": self.model,
            "device": self.device,
            "class": self.class_names[self.top_index],
            "top": [{"class": c, "probability": round(p, 6)} for c, p in self.top(k)],
            "probabilities": {c: round(float(p), 6) for c, p in zip(self.class_names, self.probabilities)},
            "gradcam_class": self.class_names[self.target] if self.target is not None else None,
            "notes": self.notes,
        }


def class_index(card, name: Union[str, int, None]) -> Optional[int]:
    """A class name (any case) or index -> its index; a clear error listing the names otherwise."""
    if name is None or name == "":
        return None
    names = list(card.class_names)
    if isinstance(name, (int, np.integer)) or str(name).isdigit():
        i = int(name)
        if 0 <= i < len(names):
            return i
    else:
        low = [n.lower() for n in names]
        if str(name).lower() in low:
            return low.index(str(name).lower())
    raise ClassificationError(f"unknown class {name!r}: the model's classes are {', '.join(names)}")


def _is_georeferenced(ds) -> bool:
    gt = ds.GetGeoTransform(can_return_null=True)
    has_gt = gt is not None and tuple(gt) != (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    has_srs = ds.GetSpatialRef() is not None
    return (has_gt and has_srs) or (ds.GetGCPCount() >= 3 and ds.GetGCPSpatialRef() is not None)


def _pil_image(path: Path):
    """The image opened with PIL when it is an ordinary 8-bit picture PIL reads, else None."""
    from PIL import Image

    try:
        im = Image.open(path)
    except Exception:
        return None
    try:
        im.load()
    except Exception as exc:  # a picture PIL knows but cannot decode: truncated or damaged
        if im.format in _GDAL_FALLBACK_FORMATS:
            return None  # GDAL reads TIFF layouts PIL does not (16-bit, multi-band, odd compressions)
        raise ClassificationError(
            f"the image {path.name} is damaged or truncated ({im.format}: {exc}): its pixels cannot all be "
            "read, and a partial picture would give a wrong answer"
        ) from None
    if im.mode not in _PIL_MODES or (getattr(im, "n_frames", 1) > 1 and im.format == "TIFF"):
        return None
    return im


def _scaled_bands(ds, card, bands, radiometry) -> tuple[np.ndarray, str]:
    """All pixels of the model bands, scaled as the engine scales them: (C, H, W) float32, reason."""
    from .bands import detect_band_mapping
    from .radiometry import make_radiometry

    mapping = detect_band_mapping(ds, card, bands, radiometry)
    raw = ds.ReadAsArray(band_list=list(mapping.bands))
    if raw is None:
        raise ClassificationError(f"cannot read {ds.GetDescription()} (corrupt file?)")
    raw = np.asarray(raw).reshape(len(mapping.bands), ds.RasterYSize, ds.RasterXSize)

    def sample():
        data = raw.reshape(raw.shape[0], -1).astype(np.float64)
        return data[:, np.isfinite(data).all(axis=0)], {"sample_px": [ds.RasterXSize, ds.RasterYSize]}

    rad = make_radiometry(mapping.radiometry, card, mapping.radiometry_reason, sample, mapping.radiometry_params)
    return rad.apply(raw), f"bands {mapping.bands} ({mapping.reason}); radiometry {rad.method}"


def _resize(data: np.ndarray, p: int) -> np.ndarray:
    """(C, H, W) float -> (C, p, p), bilinear with antialiasing (float data: no 8-bit rounding)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))[None]
    out = torch.nn.functional.interpolate(t, size=(p, p), mode="bilinear", align_corners=False, antialias=True)
    return out[0].numpy()


def _tiles(data: np.ndarray, p: int) -> tuple[np.ndarray, int, int]:
    C, H, W = data.shape
    nx, ny = W // p, H // p
    tiles = data[:, : ny * p, : nx * p].reshape(C, ny, p, nx, p).transpose(1, 3, 0, 2, 4).reshape(-1, C, p, p)
    return tiles, nx, ny


def _stitch(tiles: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """(n, ..., p, p) -> (..., ny*p, nx*p)."""
    _n, *mid, p, _ = tiles.shape
    t = tiles.reshape(ny, nx, *mid, p, p)
    t = np.moveaxis(t, (0, 1), (-4, -2))  # ..., ny, p, nx, p
    return t.reshape(*mid, ny * p, nx * p)


def predict_image(
    image: Union[str, Path],
    model_card: Union[str, Path, None] = None,
    *,
    mode: str = "auto",
    device: str = "auto",
    gradcam: bool = False,
    target: Union[str, int, None] = None,
    bands=None,
    radiometry: str = "auto",
    model=None,
) -> Prediction:
    """Classify one image file (see the module docstring). ``target``: the class the Grad-CAM map
    explains (name or index; None = the top class). ``model``: a loaded ``(model, card)`` pair."""
    from osgeo import gdal

    from . import gdalutil
    from .inspect import Inspector, engine_probabilities
    from .stages.model import read_card

    if mode not in MODES:
        raise ClassificationError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    path = Path(image)
    if not path.is_file():
        raise ClassificationError(f"the image {path} does not exist")
    card = model[1] if model is not None else read_card(model_card)
    p = int(card.patch_size)
    tgt = class_index(card, target)
    picture = _pil_image(path)  # a damaged JPEG/PNG is refused whatever the mode (GDAL reads it as grey)
    ds = gdalutil.call(f"cannot open {path} as an image (not a format GDAL reads)", gdal.Open, str(path))
    size = (ds.RasterXSize, ds.RasterYSize)
    georef = _is_georeferenced(ds)
    notes: list[str] = []

    insp = None
    if georef and mode in ("auto", "window"):
        insp = Inspector(path, model_card, bands=bands, radiometry=radiometry, device=device, model=model)
        W, H = insp.wr.width, insp.wr.height
        if min(W, H) < p:
            if mode == "window":
                raise ClassificationError(
                    f"{path.name} is {W} x {H} px at {card.gsd_m:g} m, smaller than one {p} px window: "
                    "use --mode resize"
                )
            notes.append(f"{W} x {H} px at {card.gsd_m:g} m is smaller than one {p} px window: resized instead")
            insp = None

    if insp is not None:  # ---- windowed, through the engine's preparation
        W, H = insp.wr.width, insp.wr.height
        nx, ny = W // p, H // p
        if nx * ny > MAX_WINDOWS:
            raise ClassificationError(
                f"{path.name} holds {nx * ny} windows at {card.gsd_m:g} m (more than {MAX_WINDOWS}): "
                "classify it as a raster instead (python -m eurosat_landcover classify)"
            )
        inputs, probs, kept = [], [], []
        for j in range(ny):
            for i in range(nx):
                try:
                    w = insp.inspect_pixel(i * p, j * p)
                except ClassificationError as exc:
                    if "no data" not in str(exc):
                        raise
                    inputs.append(np.zeros((len(card.bands), p, p), np.float32))
                    continue
                inputs.append(w.model_input)
                probs.append(w.probabilities)
                kept.append(len(inputs) - 1)
        if not probs:
            raise ClassificationError(f"{path.name} holds no data (all nodata)")
        x = np.stack(inputs)
        mean = np.mean(probs, axis=0).astype(np.float32)
        net, dev = insp.model(), insp.device
        how = "windowed"
        left = (W - nx * p, H - ny * p)
        how_text = (
            f"windowed: {nx} x {ny} window(s) of {p} px at {card.gsd_m:g} m"
            + (f" (resampled, {insp.wr.crs_label})" if insp.wr.resampled else "")
            + (f", {nx * ny - len(kept)} without data skipped" if len(kept) < nx * ny else "")
            + (f"; the right {left[0]} / bottom {left[1]} px are not covered" if any(left) else "")
            + "; probabilities averaged over the windows"
        )
        card = insp.card
    else:  # ---- one window: as is, or resized
        from ..models.devices import resolve_device

        im = picture if not (bands or radiometry != "auto") else None
        if mode == "window":
            if im is None:
                data, why = _scaled_bands(ds, card, bands, radiometry)
                notes.append(why)
            else:
                data = np.asarray(im.convert("RGB"), dtype=np.float32).transpose(2, 0, 1)
            if min(data.shape[1:]) < p:
                raise ClassificationError(f"{path.name} is smaller than one {p} px window: use --mode resize")
            x, nx, ny = _tiles(data, p)
            if nx * ny > MAX_WINDOWS:
                raise ClassificationError(f"{path.name} holds {nx * ny} windows (more than {MAX_WINDOWS})")
            how = "windowed"
            how_text = f"windowed: {nx} x {ny} window(s) of {p} px, its pixels taken as {card.gsd_m:g} m"
        elif im is not None:  # the evaluation's loader: PIL, RGB, bilinear resize
            from PIL import Image

            rgb = im.convert("RGB")
            if rgb.size != (p, p):
                rgb = rgb.resize((p, p), Image.BILINEAR)
                how, how_text = "resized", f"resized from {size[0]} x {size[1]} px to {p} x {p} px (bilinear)"
            else:
                how, how_text = "as is", f"as is ({p} x {p} px)"
            x = np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)[None].astype(np.float32)
            nx = ny = 1
        else:
            data, why = _scaled_bands(ds, card, bands, radiometry)
            notes.append(why)
            if data.shape[1:] != (p, p):
                data = _resize(data, p)
                how, how_text = "resized", f"resized from {size[0]} x {size[1]} px to {p} x {p} px (bilinear)"
            else:
                how, how_text = "as is", f"as is ({p} x {p} px)"
            x = data[None]
            nx = ny = 1
        if model is not None:
            net = model[0]
            dev = next(net.parameters()).device
        else:
            from ..models.card import ModelCardError
            from ..models.checkpoint import ModelLoadError, default_card_path, load_model

            dev, warn = resolve_device(device)
            if warn:
                notes.append(warn)
            try:
                net, card = load_model(Path(model_card) if model_card else default_card_path(), device=dev)
            except (ModelLoadError, ModelCardError) as exc:
                raise ClassificationError(f"cannot load the model: {exc}") from None
        net = net.to(dev).eval()
        all_probs = engine_probabilities(net, dev, x)
        mean = all_probs.mean(axis=0).astype(np.float32)
        kept = list(range(len(x)))

    from .inspect_engine import _rgb_indices

    rgb_idx = _rgb_indices(card)
    tiles_rgb = np.clip(np.round(x[:, rgb_idx]), 0, 255).astype(np.uint8)  # (n, 3, p, p)
    patch_rgb = np.ascontiguousarray(_stitch(tiles_rgb, nx, ny).transpose(1, 2, 0))
    pred = Prediction(
        image=str(path),
        size_px=size,
        how=how,
        how_text=how_text,
        windows=len(kept),
        class_names=list(card.class_names),
        class_colors=list(card.class_colors),
        probabilities=mean,
        patch_rgb=patch_rgb,
        device=str(dev),
        model=f"{card.name} ({card.architecture})",
        notes=notes,
    )
    if gradcam:
        from ..models.gradcam import grad_cam

        pred.target = pred.top_index if tgt is None else tgt
        heat = np.zeros((len(x), p, p), np.float32)
        res = grad_cam(net, x[kept], pred.target)
        heat[kept] = res.heatmaps
        pred.heat = _stitch(heat, nx, ny)
    return pred


# ----------------------------------------------------------------------------- the heat-map picture
def heat_map_picture(pred: Prediction, opacity: float = 0.5, min_side: int = 256) -> np.ndarray:
    """[the patch | the patch with the heat map] side by side, enlarged (nearest) to ``min_side``,
    with a caption and a colour bar. H x W x 3 uint8."""
    from PIL import Image, ImageDraw, ImageFont

    from ..models.gradcam import colormap_lut, overlay

    if pred.heat is None:
        raise ValueError("the prediction has no heat map (gradcam=False)")
    h, w = pred.patch_rgb.shape[:2]
    scale = max(1, int(np.ceil(min_side / max(h, w))))
    a = np.repeat(np.repeat(pred.patch_rgb, scale, 0), scale, 1)
    b = np.repeat(np.repeat(overlay(pred.patch_rgb, pred.heat, opacity), scale, 0), scale, 1)
    gap, pad = 8, 8
    font = ImageFont.load_default()
    lines = [
        f"Grad-CAM: {pred.class_names[pred.target]} (p = {pred.probabilities[pred.target]:.3f})",
        "top: " + ", ".join(f"{c} {p:.3f}" for c, p in pred.top(3)),
        pred.how_text[:90],
    ]
    text_h = 14 * len(lines) + 22
    W = a.shape[1] * 2 + gap + 2 * pad
    H = a.shape[0] + 2 * pad + text_h
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    canvas.paste(Image.fromarray(a), (pad, pad))
    canvas.paste(Image.fromarray(b), (pad + a.shape[1] + gap, pad))
    draw = ImageDraw.Draw(canvas)
    y = pad + a.shape[0] + 4
    for line in lines:
        draw.text((pad, y), line, fill=(0, 0, 0), font=font)
        y += 14
    bar_w = W - 2 * pad - 80
    bar = np.repeat(colormap_lut()[np.linspace(0, 255, bar_w).astype(int)][None], 10, 0)
    canvas.paste(Image.fromarray(bar), (pad + 40, y + 4))
    draw.text((pad, y + 2), "low", fill=(0, 0, 0), font=font)
    draw.text((pad + 40 + bar_w + 6, y + 2), "high", fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def write_png(path: Union[str, Path], rgb: np.ndarray, overwrite: bool = False) -> Path:
    """Write ``rgb`` as PNG under a temporary name, then rename; never replaces a file unless asked."""
    from PIL import Image

    from .writers import staged_file

    with staged_file(path, overwrite, hint="choose another name or pass --overwrite") as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return Path(path)
