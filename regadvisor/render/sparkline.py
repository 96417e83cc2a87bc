"""A learning curve in one line of text, with the best point marked underneath."""

from __future__ import annotations

import math

BLOCKS = "▁▂▃▄▅▆▇█"


def resample(values: list[float], width: int) -> list[float]:
    """Bucket means down to ``width`` points (or the values themselves when shorter)."""
    n = len(values)
    if n <= width:
        return list(values)
    return [sum(values[b * n // width:(b + 1) * n // width]) / ((b + 1) * n // width - b * n // width)
            for b in range(width)]


def sparkline(values: list[float], width: int = 60, lo: float | None = None, hi: float | None = None) -> str:
    """Block characters scaled between ``lo`` and ``hi`` (default: the curve's own range)."""
    pts = [v for v in resample([v for v in values if math.isfinite(v)], width)]
    if not pts:
        return ""
    lo = min(pts) if lo is None else lo
    hi = max(pts) if hi is None else hi
    span = hi - lo or 1.0
    return "".join(BLOCKS[min(len(BLOCKS) - 1, max(0, int((v - lo) / span * (len(BLOCKS) - 1) + 0.5)))] for v in pts)


def marker_line(index: int, n: int, width: int, mark: str = "▲") -> str:
    """A line with ``mark`` under the column where point ``index`` of ``n`` lands."""
    cols = min(n, width)
    col = min(cols - 1, index * cols // n) if n else 0
    return " " * col + mark
