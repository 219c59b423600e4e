"""Sampling design: sample size, allocation and sample points on a classified map, written to a GeoPackage.

Designs (Olofsson et al. 2014, section 4.1):

- ``stratified`` (default): stratified random sampling, strata = map classes; each stratum's points are a
  simple random sample of its pixels (drawn without replacement, every pixel of a stratum equally likely);
- ``simple``: simple random sampling of all classified pixels;
- ``systematic``: a square grid with a random offset, spacing ``sqrt(classified area / n)``; grid points on
  nodata are dropped (so the realised size is close to, not exactly, n).

Sample size from a target standard error of overall accuracy (Olofsson et al. 2014, eq. 13, after Cochran
1977): ``n = (sum_i W_i S_i / S(O))^2`` with ``S_i = sqrt(U_i (1 - U_i))``, ``W_i`` the mapped area
proportion and ``U_i`` the expected user's accuracy of class i. Allocation of n to the strata: proportional
to area, equal, or given by hand; every stratum gets at least ``min_per_class`` (the rest is shared
proportionally), never more than its pixels.

Rasters of any size: pixels are counted in one pass, each stratum's random ranks are drawn, and a second pass
turns ranks into pixels, so memory is bounded by one strip of rows. A minimum distance between points is
honoured by drawing spare candidates and accepting them in random order (rare strata first); this departs
slightly from equal inclusion probabilities and is reported as a note.
"""

from __future__ import annotations

from pathlib import Path

from ..progress import ACCURACY, Progress, scaled
from .allocation import ALLOCATIONS, DEFAULT_EXPECTED_UA, METHODS, DesignSpec, Plan, allocate, plan, sample_size
from .errors import AssessmentError
from .maps import read_map
from .sample_file import (
    DESIGN_TABLE,
    LAYER,
    SCHEMA_VERSION,
    STATUS_LABELLED,
    STATUS_SKIPPED,
    STATUS_UNSURE,
    design_record,
    read_design,
    write_sample,
)
from .sampling import Sample, draw, draw_ranks, draw_stratified_array, locate

__all__ = [
    "ALLOCATIONS",
    "DEFAULT_EXPECTED_UA",
    "DESIGN_TABLE",
    "LAYER",
    "METHODS",
    "SCHEMA_VERSION",
    "STATUS_LABELLED",
    "STATUS_SKIPPED",
    "STATUS_UNSURE",
    "DesignSpec",
    "Plan",
    "Sample",
    "allocate",
    "create_sampling_design",
    "design_record",
    "draw",
    "draw_ranks",
    "draw_stratified_array",
    "locate",
    "plan",
    "read_design",
    "sample_size",
    "write_sample",
]


def create_sampling_design(
    map_path, out_path, spec: DesignSpec, overwrite: bool = False, progress=None, is_cancelled=None
) -> dict:
    """Read the map, plan, draw and write. Returns a summary dict (path, points, plan, notes).
    ``progress(Progress)`` (core/progress.py, stage "accuracy"); ``is_cancelled()`` polled per block."""
    spec.validate()
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise AssessmentError(f"{out_path} already exists: choose another name or allow overwriting")

    def sub(lo, hi):
        return scaled(progress, lo, hi) if progress is not None else None

    info = read_map(map_path, sub(0.0, 0.5), is_cancelled)
    the_plan = plan(info, spec)
    sample = draw(info, spec, the_plan, sub(0.5, 0.95), is_cancelled)
    if len(sample.x) == 0:
        raise AssessmentError("no sample point could be placed on the map's classified pixels")
    path = write_sample(out_path, sample, info, spec, overwrite)
    if progress is not None:
        progress(Progress(1.0, ACCURACY, "sample written"))
    return {
        "path": str(path),
        "points": int(len(sample.x)),
        "plan": the_plan.to_dict(),
        "notes": sample.notes,
        "map": info.path,
        "names": {str(c): info.name(c) for c in the_plan.codes},
    }
