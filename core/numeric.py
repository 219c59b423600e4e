"""Numeric options checked where they are parsed: finite, of the right kind, in range, one readable line.

``check_number("--mmu-ha", value, 0, 1e6)`` returns the value (an int for ``whole=True``) or raises
ClassificationError naming the option ("--mmu-ha must be a finite number from 0 to 1000000, got nan").
"""

from __future__ import annotations

import math
import numbers
from typing import Optional

from .errors import ClassificationError


def check_number(name: str, value, low: Optional[float] = None, high: Optional[float] = None, whole: bool = False):
    """``value`` if it is a finite (whole, with ``whole``) number within [low, high], else one readable error."""
    kind = "a whole number" if whole else "a finite number"
    span = (
        f" from {low:g} to {high:g}"
        if low is not None and high is not None
        else f" of at least {low:g}"
        if low is not None
        else f" of at most {high:g}"
        if high is not None
        else ""
    )
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (not whole or float(value).is_integer())
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        raise ClassificationError(f"{name} must be {kind}{span}, got {value!r}")
    return int(value) if whole else float(value)
