"""How many more labels a sample needs before it can be analysed: at least two labelled points in every
stratum (map class with pixels), else the stratum has no standard error (Olofsson et al. 2014, eq. 5).

The Assess page shows this table in its results box when the analysis refuses a sample with too few labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AssessmentError
from .sample_file import LAYER, STATUS_LABELLED, read_design

MIN_PER_STRATUM = 2


@dataclass(frozen=True)
class StratumLabels:
    code: int
    name: str
    labelled: int  # points labelled with a reference class
    open: int  # points drawn in the stratum and not labelled yet (unsure and skipped points count as done)

    @property
    def more(self) -> int:
        """Labels still needed in this stratum."""
        return max(0, MIN_PER_STRATUM - self.labelled)

    @property
    def advice(self) -> str:
        if not self.more:
            return "enough"
        if self.open >= self.more:
            return f"label {self.more} more"
        return f"label {self.more} more: only {self.open} point(s) left to label, add points of this class"


def label_shortfall(sample_path) -> list:
    """:class:`StratumLabels` for each mapped class of a sample GeoPackage, in code order."""
    from osgeo import ogr

    ds = ogr.Open(str(sample_path))
    lyr = ds.GetLayerByName(LAYER) if ds is not None else None
    if lyr is None:
        raise AssessmentError(f"{sample_path} is not a sample made by 'Create sampling design'")
    design_map = read_design(sample_path).get("map") or {}
    names = {int(k): v for k, v in (design_map.get("names") or {}).items()}
    counts = {int(k): int(v) for k, v in (design_map.get("counts") or {}).items()}
    labelled: dict = {}
    open_: dict = {}
    for f in lyr:
        code = int(f.GetField("map_code"))
        names.setdefault(code, f.GetField("map_class") or f"class {code}")
        status = (f.GetField("status") or "").strip()
        if status == STATUS_LABELLED and f.IsFieldSetAndNotNull("ref_code"):
            labelled[code] = labelled.get(code, 0) + 1
        elif not status:
            open_[code] = open_.get(code, 0) + 1
    codes = sorted(c for c in set(counts) | set(labelled) | set(open_) if counts.get(c, 1) > 0)
    return [StratumLabels(c, names.get(c, f"class {c}"), labelled.get(c, 0), open_.get(c, 0)) for c in codes]
