import numpy as np
import pytest
from eurosat_landcover.models.metrics import (
    classification_metrics,
    confusion_matrix,
    format_report,
    most_confused,
)


def test_confusion_matrix_counts():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 0], 3)


def test_metrics_exact_on_hand_made_confusion():
    # rows = true, cols = predicted
    cm = np.array([[8, 2, 0], [1, 6, 3], [0, 0, 10]])
    m = classification_metrics(cm, ["a", "b", "c"])
    assert m["n"] == 30
    assert m["accuracy"] == pytest.approx(24 / 30)
    a, b, c = (m["per_class"][k] for k in "abc")
    assert a["precision"] == pytest.approx(8 / 9) and a["recall"] == pytest.approx(8 / 10)
    assert a["f1"] == pytest.approx(2 * (8 / 9) * 0.8 / (8 / 9 + 0.8))
    assert b["precision"] == pytest.approx(6 / 8) and b["recall"] == pytest.approx(6 / 10)
    assert b["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert c["precision"] == pytest.approx(10 / 13) and c["recall"] == pytest.approx(1.0)
    assert c["f1"] == pytest.approx(20 / 23)
    assert [a["support"], b["support"], c["support"]] == [10, 10, 10]
    assert m["macro"]["recall"] == pytest.approx((0.8 + 0.6 + 1.0) / 3)
    assert m["most_confused"][0] == {"true": "b", "predicted": "c", "count": 3}
    assert m["most_confused"][1] == {"true": "a", "predicted": "b", "count": 2}
    assert len(m["most_confused"]) == 3
    text = format_report(m)
    assert "overall accuracy: 80.00 %" in text and "b -> c: 3" in text


def test_metrics_empty_class_is_zero_not_nan():
    m = classification_metrics([[2, 0], [0, 0]], ["x", "y"])
    assert m["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro"]["f1"] == 1.0  # only classes present count
    assert most_confused([[2, 0], [0, 0]], ["x", "y"]) == []
