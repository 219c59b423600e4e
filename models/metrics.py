"""Classification metrics from a confusion matrix (pure numpy, no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``C[i, j]`` = number of samples of true class ``i`` predicted as ``j``."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError("y_true and y_pred differ in length")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= num_classes):
        raise ValueError("label out of range")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def classification_metrics(confusion, class_names: Sequence[str], top_pairs: int = 5) -> dict:
    """Overall accuracy, per-class precision/recall/F1/support, macro and weighted means,
    the confusion matrix and the most-confused (true, predicted) pairs.

    Precision/recall/F1 of a class with no samples and no predictions are 0.
    """
    cm = np.asarray(confusion, dtype=np.int64)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix shape {cm.shape} does not match {k} classes")
    total = int(cm.sum())
    tp = np.diag(cm)
    per_class = {}
    for i, name in enumerate(class_names):
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        p = _div(tp[i], predicted)
        r = _div(tp[i], support)
        f1 = _div(2 * p * r, p + r)
        per_class[name] = {"precision": p, "recall": r, "f1": f1, "support": support}
    present = [n for n in class_names if per_class[n]["support"] > 0]
    macro = {m: _div(sum(per_class[n][m] for n in present), len(present)) for m in ("precision", "recall", "f1")}
    weighted = {
        m: _div(sum(per_class[n][m] * per_class[n]["support"] for n in present), total)
        for m in ("precision", "recall", "f1")
    }
    return {
        "n": total,
        "accuracy": _div(tp.sum(), total),
        "per_class": per_class,
        "macro": macro,
        "weighted": weighted,
        "classes": list(class_names),
        "confusion": cm.tolist(),
        "most_confused": most_confused(cm, class_names, top_pairs),
    }


def most_confused(confusion, class_names: Sequence[str], top: int = 5) -> list[dict]:
    """Largest off-diagonal cells, largest first (ties by class order)."""
    cm = np.asarray(confusion, dtype=np.int64)
    pairs = [(int(cm[i, j]), i, j) for i in range(cm.shape[0]) for j in range(cm.shape[1]) if i != j and cm[i, j] > 0]
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [{"true": class_names[i], "predicted": class_names[j], "count": c} for c, i, j in pairs[:top]]


def format_report(metrics: dict, digits: int = 4) -> str:
    """Human-readable report: accuracy, per-class table, confusion matrix, confused pairs."""
    names = metrics["classes"]
    w = max(12, max(len(n) for n in names) + 1)
    lines = [f"samples: {metrics['n']}", f"overall accuracy: {metrics['accuracy'] * 100:.2f} %", ""]
    lines.append(f"{'class':<{w}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
    for n in names:
        pc = metrics["per_class"][n]
        lines.append(
            f"{n:<{w}} {pc['precision']:>9.{digits}f} {pc['recall']:>9.{digits}f} "
            f"{pc['f1']:>9.{digits}f} {pc['support']:>8d}"
        )
    for avg in ("macro", "weighted"):
        m = metrics[avg]
        lines.append(
            f"{avg + ' avg':<{w}} {m['precision']:>9.{digits}f} {m['recall']:>9.{digits}f} "
            f"{m['f1']:>9.{digits}f} {metrics['n']:>8d}"
        )
    lines += ["", "confusion matrix (rows = true, columns = predicted):"]
    abbrev = [n[:6] for n in names]
    lines.append(" " * w + " " + " ".join(f"{a:>6}" for a in abbrev))
    for n, row in zip(names, metrics["confusion"]):
        lines.append(f"{n:<{w}} " + " ".join(f"{v:>6d}" for v in row))
    lines += ["", "most confused (true -> predicted):"]
    if not metrics["most_confused"]:
        lines.append("  none")
    for p in metrics["most_confused"]:
        lines.append(f"  {p['true']} -> {p['predicted']}: {p['count']}")
    return "\n".join(lines)


def record_in_card(card_metrics: dict, key: str, metrics: dict, members_sha256: str, command: str) -> None:
    """Store `metrics` (from classification_metrics) in a model card's metrics under `key`, with the
    fingerprint of the evaluated members and the command that measured them. The "test" entry is
    also summarised as flat scalars (split, test_accuracy, macro_f1, n, command) for readers that
    want one number: the engine's JSON summary and the dock."""
    card_metrics[key] = {
        "accuracy": metrics["accuracy"],
        "n": metrics["n"],
        "macro_f1": metrics["macro"]["f1"],
        "per_class_f1": {c: v["f1"] for c, v in metrics["per_class"].items()},
        "most_confused": metrics["most_confused"],
        "confusion": metrics["confusion"],
        "members_sha256": members_sha256,
        "command": command,
    }
    if key == "test":
        card_metrics.update(
            split="test",
            test_accuracy=metrics["accuracy"],
            macro_f1=metrics["macro"]["f1"],
            n=metrics["n"],
            command=command,
        )
