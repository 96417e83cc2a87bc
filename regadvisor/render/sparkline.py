"""A learning curve in one line of text, with the best point marked underneath."""

from __future__ import annotations

import math

BLOCKS = "▁▂▃▄▅▆▇█"


def resample(values: list[float], width: int) -> list[float]:
    """Bucket means down to ``width`` points (or the values themselves when shorter).

    Each value is divided by its bucket's size before summing, so finite values never add up to
    an overflow (two values of 1e308 summed are inf; halved first, their mean is 1e308)."""
    n = len(values)
    if n <= width:
        return list(values)
    out = []
    for b in range(width):
        bucket = values[b * n // width:(b + 1) * n // width]
        out.append(sum(v / len(bucket) for v in bucket))
    return out


def sparkline(values: list[float], width: int = 60) -> str:
    """Block characters scaled between the curve's lowest and highest finite value.

    The scale is computed on halved values: a curve spanning -1e308 to 1e308 has a range of
    inf, which would make every position NaN."""
    pts = resample([v for v in values if math.isfinite(v)], width)
    if not pts:
        return ""
    lo, hi = min(pts), max(pts)
    span = hi / 2 - lo / 2 or 1.0
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[min(top, max(0, int((v / 2 - lo / 2) / span * top + 0.5)))] for v in pts)


def marker_line(index: int, n: int, width: int, mark: str = "▲") -> str:
    """A line with ``mark`` under the column where point ``index`` of ``n`` lands."""
    cols = min(n, width)
    col = min(cols - 1, index * cols // n) if n else 0
    return " " * col + mark
