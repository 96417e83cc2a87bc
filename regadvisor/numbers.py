"""What counts as a number in data regadvisor did not write (facts, log cells, hyperparameters).

``True`` is an ``int`` to Python but never a setting's value here, and NaN/inf are evidence of
divergence in a curve but not a usable fact; these helpers say so once, for every module.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, TypeGuard


def is_number(value: Any) -> TypeGuard[int | float]:
    """A real number (int or float), not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float when it is a finite real number, else None. An integer too large for
    a float (a 4,000-digit value in a hand-edited config) is not one: ``float()`` and even
    ``math.isfinite`` raise OverflowError on it."""
    if not is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def finite_values(values: Iterable[Any]) -> list[float]:
    """The finite real numbers among ``values``, as floats, in order."""
    return [number for v in values if (number := finite_or_none(v)) is not None]


def round_sig(v: float) -> float:
    """``v`` to 3 significant digits: the values a report shows and a user types."""
    return float(f"{v:.3g}")
