"""Plain dataclasses describing one classification and its result (see docs/notes/CONTRACTS.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

# core/radiometry.py; new ones go last (Processing keeps enum indices)
RADIOMETRY_METHODS = ("8bit", "sentinel2_l1c", "sentinel2_l2a", "percentile", "sentinel2_offset1000")
RADIOMETRY_CHOICES = ("auto", *RADIOMETRY_METHODS)
PROBABILITY_DTYPES = ("uint8", "float32")
FAST_PATH_MODES = ("auto", "on", "off", "int8")
MODES = ("windows", "map")
DEFAULT_MODE = "map"  # per 10 m pixel (core/stages/run_map.py), or one class per window cell (issue 22: map by default)
DEFAULT_STRIDE = 32  # px between windows (windows mode; 8, 16, 32 or 64 for 64 px windows)
BATCH_SIZE_MAX = 4096  # windows per batch: the largest the engine, CLI, Processing and the dock accept


def count_unit(mode: str) -> str:
    """What a run of ``mode`` counts (progress, speed, summary): "tiles" in map mode, else "windows"."""
    return "tiles" if mode == "map" else "windows"


@dataclass
class ClassificationRequest:
    """What to classify and how.

    ``bands`` are 1-based source band numbers, one per model input band (in the model card's
    order, e.g. red, green, blue). ``bounds`` is (xmin, ymin, xmax, ymax) in ``bounds_crs``
    (WKT, "EPSG:n", or anything ``osr.SetFromUserInput`` accepts; None = the raster's CRS).
    ``stride`` (pixels at the model's gsd) must divide the patch size (64): 8, 16, 32 or 64.
    """

    input_path: str | Path
    output_dir: str | Path
    model_card: Optional[str | Path] = None
    bands: Optional[Sequence[int]] = None
    radiometry: str = "auto"
    bounds: Optional[Sequence[float]] = None
    bounds_crs: Optional[str] = None
    stride: int = DEFAULT_STRIDE
    batch_size: int = 64
    device: str = "auto"
    probabilities_dtype: str = "uint8"
    write_probabilities: bool = True
    name: Optional[str] = None
    threads: Optional[int] = None  # CPU threads for torch during the run (None: torch's default)
    # CPU fast path (models/fast_path.py): "auto" (large runs), "on" or "off"; "int8": models/int8_path.py
    fast_path: str = "auto"
    overwrite: bool = False  # replace existing files of this run name (an input is never replaced)
    max_pixels: Optional[int] = None  # size guard, working-raster pixels: None = DEFAULT_MAX_PIXELS, 0 = none
    # fixed (low, high) per model band for the percentile stretch instead of sampling the AOI (classify-many
    # passes the whole raster's to each block, so blocks scale like a single run)
    percentile_limits: Optional[Sequence[Sequence[float]]] = None
    # "windows": windows every ``stride`` px, cells of ``stride`` px; "map": the per-pixel model over
    # overlapping tiles, outputs on the working grid (10 m); ``stride`` is then unused
    mode: str = DEFAULT_MODE

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("input_path", "output_dir", "model_card"):
            if d[key] is not None:
                d[key] = str(d[key])
        if d["bands"] is not None:
            d["bands"] = [int(b) for b in d["bands"]]
        if d["bounds"] is not None:
            d["bounds"] = [float(v) for v in d["bounds"]]
        return d


@dataclass
class ClassificationResult:
    """What a classification produced. Paths are final (renamed) output files."""

    classes_path: Path
    probabilities_path: Optional[Path]
    confidence_path: Path
    summary_path: Path
    area_km2: dict[str, float]
    windows: int
    skipped_windows: int
    seconds: float
    windows_per_second: float
    device: str
    warnings: list[str] = field(default_factory=list)
    radiometry: dict = field(default_factory=dict)
    band_mapping: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    card: Optional[object] = None  # the models.card.ModelCard of the run (read once per run)


def cell_px(mode: str, stride: int) -> int:
    """An output cell in working pixels: one 10 m pixel in map mode, ``stride`` px in windows mode. An area
    of interest is widened to whole cells of the raster's grid (core/georef.prepare, the dock's rubber band),
    so in map mode the stride changes nothing."""
    return 1 if mode == "map" else int(stride)


# ---------------------------------------------------------------------- argument types
DEFAULT_MAX_PIXELS = 2_000_000_000  # working raster at the model's gsd: 2 gigapixels = 200,000 km² at 10 m


def max_threads() -> int:
    """Upper bound for ``threads``: the machine's logical CPUs (more only oversubscribes them)."""
    import os

    return max(1, os.cpu_count() or 1)


def _is_int(v) -> bool:
    import numbers

    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_argument_types(req: ClassificationRequest) -> None:
    """Refuse API arguments of the wrong type as the CLI's parser would (no silent truncation):
    ClassificationError naming the argument, what it got and what it takes."""
    import math
    import numbers
    import os

    from .errors import ClassificationError

    def fail(what: str, got) -> None:
        raise ClassificationError(f"{what}, got {got!r}")

    for key, label in (("input_path", "input raster"), ("output_dir", "output folder")):
        v = getattr(req, key)
        if not isinstance(v, (str, os.PathLike)) or not str(os.fspath(v)).strip():
            fail(f"the {label} ({key}) must be a non-empty path", v)
    if req.model_card is not None and (
        not isinstance(req.model_card, (str, os.PathLike)) or not str(os.fspath(req.model_card)).strip()
    ):
        fail("model_card must be a path to a model card JSON or None (the bundled model)", req.model_card)
    if not _is_int(req.stride):
        fail("stride must be a whole number of pixels (8, 16, 32 or 64)", req.stride)
    if not _is_int(req.batch_size):
        fail("batch_size must be a whole number", req.batch_size)
    if req.bands is not None:
        if isinstance(req.bands, (str, bytes)) or not isinstance(req.bands, Sequence) or not req.bands:
            fail("bands must be a list of 1-based band numbers, e.g. [4, 3, 2]", req.bands)
        bad = [b for b in req.bands if not _is_int(b) or b < 1]
        if bad:
            fail("bands must be whole band numbers from 1", list(req.bands))
    if req.bounds is not None:
        if isinstance(req.bounds, (str, bytes)) or not isinstance(req.bounds, Sequence) or len(req.bounds) != 4:
            fail("bounds must be four numbers xmin, ymin, xmax, ymax", req.bounds)
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in req.bounds):
            fail("bounds must be four finite numbers xmin, ymin, xmax, ymax", list(req.bounds))
    if req.percentile_limits is not None:
        rows = req.percentile_limits
        ok = isinstance(rows, Sequence) and len(rows) == 2 and all(isinstance(r, Sequence) for r in rows)
        if not ok or not all(isinstance(v, numbers.Real) and math.isfinite(v) for r in rows for v in r):
            fail("percentile_limits must be two lists of numbers: (low per band, high per band)", rows)
    if req.bounds_crs is not None and (not isinstance(req.bounds_crs, str) or not req.bounds_crs.strip()):
        fail("bounds_crs must be a CRS text (e.g. 'EPSG:4326') or None", req.bounds_crs)
    for key in ("device", "radiometry", "probabilities_dtype", "fast_path"):
        if not isinstance(getattr(req, key), str):
            fail(f"{key} must be a string", getattr(req, key))
    if req.name is not None and not isinstance(req.name, str):
        fail("name must be a string (the output file prefix) or None", req.name)
    if req.threads is not None:
        top = max_threads()
        if not _is_int(req.threads) or not 1 <= req.threads <= top:
            fail(f"threads must be a whole number from 1 to {top} (this machine's CPUs)", req.threads)
    for key in ("write_probabilities", "overwrite"):
        if not isinstance(getattr(req, key), bool):
            fail(f"{key} must be True or False", getattr(req, key))
    if req.max_pixels is not None and (not _is_int(req.max_pixels) or req.max_pixels < 0):
        fail("max_pixels must be a whole number of pixels (0: no limit) or None (the default limit)", req.max_pixels)
