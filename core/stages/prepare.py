"""Stage 1: the request checked and the input prepared (source, bands, working raster, grid, scaling)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import bands as bands_mod
from .. import georef, writers
from ..errors import ClassificationError
from ..radiometry import SUBSAMPLE_MAX_SIDE, Radiometry, make_radiometry
from ..request import (
    BATCH_SIZE_MAX,
    DEFAULT_MAX_PIXELS,
    FAST_PATH_MODES,
    MODES,
    PROBABILITY_DTYPES,
    RADIOMETRY_CHOICES,
    ClassificationRequest,
    cell_px,
    check_argument_types,
)
from ..validity import internal_mask_band, valid_pixels
from ..windows import Grid, check_stride


@dataclass
class PreparedInput:
    """Everything the later stages need to know about the input."""

    out_dir: Path
    prefix: str  # output file prefix
    source: object  # gdal.Dataset of the input
    mapping: bands_mod.BandMapping
    working: georef.WorkingRaster
    grid: Grid
    radiometry: Radiometry


def validate_request(req: ClassificationRequest) -> None:
    """Types first (check_argument_types), then the values: choices, ranges, a plain output name."""
    check_argument_types(req)  # wrong types refused as the CLI's parser would (no silent truncation)
    if req.radiometry not in RADIOMETRY_CHOICES:
        raise ClassificationError(
            f"unknown radiometry {req.radiometry!r}; choose one of {', '.join(RADIOMETRY_CHOICES)}"
        )
    if req.probabilities_dtype not in PROBABILITY_DTYPES:
        raise ClassificationError(
            f"probabilities_dtype must be one of {', '.join(PROBABILITY_DTYPES)}, got {req.probabilities_dtype!r}"
        )
    if req.mode not in MODES:
        raise ClassificationError(f"mode must be one of {', '.join(MODES)}, got {req.mode!r}")
    if req.fast_path not in FAST_PATH_MODES:
        raise ClassificationError(f"fast_path must be one of {', '.join(FAST_PATH_MODES)}, got {req.fast_path!r}")
    bs = int(req.batch_size)  # a whole number: check_argument_types refused anything else
    if not 1 <= bs <= BATCH_SIZE_MAX:
        raise ClassificationError(f"batch size must be between 1 and {BATCH_SIZE_MAX}, got {bs}")
    if req.name is not None and (not str(req.name).strip() or re.search(r"[/\\\x00]", str(req.name))):
        raise ClassificationError(f"output name {req.name!r} must be a plain file name prefix")


def is_gdal_connection_string(source: str) -> bool:
    """True for GDAL sources that are not plain file paths: URLs, /vsi paths and `DRIVER:...`
    strings such as `GPKG:/data/a.gpkg:table` (a Windows drive letter `C:` is one letter, a path)."""
    return "://" in source or source.startswith("/vsi") or bool(re.match(r"^[A-Za-z][A-Za-z0-9_]+:", source))


def prepare_output_dir(path) -> tuple[Path, list[Path]]:
    """The output folder created if missing and checked writable, and stale temporary files of
    killed runs swept from it -> (folder, the folders created: removed again if the run fails)."""
    out, created = writers.prepare_output_dir(path)
    writers.sweep_stale_partials(out)
    return out, created


def check_input_exists(req: ClassificationRequest) -> None:
    path = Path(req.input_path)
    if not path.exists() and not is_gdal_connection_string(str(req.input_path)):
        raise ClassificationError(f"the input raster {path} does not exist")


def percentile_sampler(wr: georef.WorkingRaster, mapping: bands_mod.BandMapping):
    """-> sample(): valid values (C, N) for the percentile stretch, from a decimated read of the
    source, with the validity rule of core/validity.py (alpha, internal mask, nodata, finite)."""

    def sample():
        src = wr.source
        xo, yo, w, h = wr.source_window or (0, 0, src.RasterXSize, src.RasterYSize)
        f = max(1.0, max(w, h) / SUBSAMPLE_MAX_SIDE)
        bw, bh = max(1, int(round(w / f))), max(1, int(round(h / f)))
        bl = list(mapping.bands) + ([mapping.alpha_band] if mapping.alpha_band else [])
        arr = src.ReadAsArray(xo, yo, w, h, buf_xsize=bw, buf_ysize=bh, band_list=bl)
        if arr is None:
            raise ClassificationError("cannot read the raster to compute the percentile stretch (corrupt file?)")
        arr = arr.reshape(len(bl), bh, bw)
        C = len(mapping.bands)
        mask = None
        mask_of = internal_mask_band(src, mapping.bands[0]) if not mapping.alpha_band else None
        if mask_of is not None:
            mask = src.GetRasterBand(mask_of).GetMaskBand().ReadAsArray(xo, yo, w, h, buf_xsize=bw, buf_ysize=bh)
        nodata = [src.GetRasterBand(b).GetNoDataValue() for b in mapping.bands]
        alpha = arr[C] if mapping.alpha_band else None
        valid = valid_pixels(arr[:C], alpha=alpha, mask=mask, nodata=nodata).reshape(-1)
        data = arr[:C].reshape(C, -1).astype(np.float64)
        return data[:, valid], {"sample_px": [bw, bh], "sample_valid": int(valid.sum())}

    return sample


def prepare_input(req: ClassificationRequest, card, out_dir: Path) -> PreparedInput:
    """The source opened, bands mapped, the working raster (model gsd, metric CRS, AOI), the
    window grid and the radiometry; a readable ClassificationError for anything unusable."""
    patch = int(card.patch_size)
    stride = check_stride(req.stride, patch)
    src = georef.open_source(req.input_path)
    prefix = req.name or Path(req.input_path).stem
    # never replace a file the input is made of; existing outputs only with overwrite
    writers.check_outputs(out_dir, prefix, src.GetFileList() or [str(req.input_path)], req.overwrite)
    mapping = bands_mod.detect_band_mapping(src, card, req.bands, req.radiometry)
    max_pixels = DEFAULT_MAX_PIXELS if req.max_pixels is None else req.max_pixels
    cell = cell_px(req.mode, stride)
    wr = georef.prepare(src, mapping, float(card.gsd_m), req.bounds, req.bounds_crs, max_pixels=max_pixels, snap=cell)
    georef.check_has_data(src, mapping.bands, wr.source_window)
    if wr.width < patch or wr.height < patch:
        what = "the area of interest" if req.bounds is not None else "the raster"
        raise ClassificationError(
            f"{what} is {wr.width} x {wr.height} px at {card.gsd_m:g} m, smaller than one {patch} x {patch} px "
            f"window ({patch * card.gsd_m:g} m): nothing to classify"
        )
    if req.percentile_limits is not None and mapping.radiometry == "percentile":
        low, high = ([float(v) for v in row] for row in req.percentile_limits)
        reason = f"{mapping.radiometry_reason}; stretch limits given by the caller"
        radiometry = Radiometry("percentile", low=low, high=high, reason=reason, evidence=["given by the caller"])
    else:
        sampler = percentile_sampler(wr, mapping)
        radiometry = make_radiometry(
            mapping.radiometry, card, mapping.radiometry_reason, sampler, mapping.radiometry_params
        )
    return PreparedInput(
        out_dir=out_dir,
        prefix=prefix,
        source=src,
        mapping=mapping,
        working=wr,
        grid=Grid(wr.width, wr.height, patch, cell),
        radiometry=radiometry,
    )
