"""Two accuracies, never confused: the model's on EuroSAT test patches, and this map's own.

The model card's test accuracy is measured on 64 x 64 EuroSAT patches (the dataset the model learned
from); it says little about a map of other imagery. A map's own accuracy comes only from an accuracy
assessment of that map (the Assess page). Every deliverable (dock, HTML report, PDF map) takes its
wording from here and shows the map's assessed accuracy whenever an assessment exists.
"""

from __future__ import annotations

from typing import Optional


def patch_accuracy(summary: dict) -> Optional[str]:
    """ "accuracy on EuroSAT test patches 98.7 % (2,430 patches)" from a run summary's model metrics."""
    met = (summary.get("model") or {}).get("metrics") or {}
    return patch_accuracy_from_metrics(met)


def patch_accuracy_from_metrics(met: dict) -> Optional[str]:
    test = met.get("test") if isinstance(met.get("test"), dict) else {}
    acc = test.get("accuracy", met.get("test_accuracy"))
    if acc is None:
        return None
    n = test.get("n", met.get("n"))
    return f"accuracy on EuroSAT test patches {100 * float(acc):.1f} %" + (f" ({int(n):,} patches)" if n else "")


def map_accuracy(assessment: Optional[dict], exported_map: str = "") -> str:
    """ "this map's assessed accuracy 75.6 % (412 reference samples)", or that it is not assessed.
    ``assessment``: core/export/run.parse_assessment's dict (with ``path`` and ``map``)."""
    if not assessment:
        return "this map's accuracy: not assessed (assess it on the Assess page)"
    oa = assessment.get("overall_accuracy")
    assessed = assessment.get("map") or ""
    whose = "this map's" if not assessed or not exported_map or assessed == exported_map else f"{assessed}'s"
    if oa is None:
        return f"{whose} accuracy assessment has no overall accuracy"
    n = assessment.get("n")
    return f"{whose} assessed accuracy {100 * float(oa):.1f} %" + (f" ({int(n):,} reference samples)" if n else "")


def accuracy_line(summary: dict, assessment: Optional[dict], exported_map: str = "") -> str:
    """Both, the map's first: "this map's assessed accuracy 75.6 % (...); accuracy on EuroSAT test patches 98.7 %"."""
    parts = [map_accuracy(assessment, exported_map)]
    patches = patch_accuracy(summary)
    if patches:
        parts.append(patches)
    return "; ".join(parts)
