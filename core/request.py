"""Plain dataclasses describing one classification and its result (see docs/notes/CONTRACTS.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

RADIOMETRY_CHOICES = ("auto", "8bit", "sentinel2_l1c", "sentinel2_l2a", "percentile")
PROBABILITY_DTYPES = ("uint8", "float32")
FAST_PATH_MODES = ("auto", "on", "off")


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
    stride: int = 32
    batch_size: int = 64
    device: str = "auto"
    probabilities_dtype: str = "uint8"
    write_probabilities: bool = True
    name: Optional[str] = None
    threads: Optional[int] = None  # CPU threads for torch during the run (None: torch's default)
    fast_path: str = "auto"  # CPU fast path (models/fast_path.py): "auto" (large runs), "on" or "off"

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
    style_paths: dict[str, Path] = field(default_factory=dict)
