"""Small robust statistics in plain Python (no numpy: ``diagnose`` must start fast)."""

from __future__ import annotations

import math
from typing import Sequence

# 1.4826 × MAD estimates σ for Gaussian noise (Rousseeuw & Croux 1993).
MAD_TO_SIGMA = 1.4826
MIN_NOISE_POINTS = 8


def mean(xs: Sequence[float]) -> float:
    """The mean of finite values, which cannot overflow: ``statistics.fmean([1e308, 1e308])``
    raises OverflowError (the sum is out of range), each value divided first cannot be."""
    n = len(xs)
    return math.fsum(x / n for x in xs) if n else math.nan


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if not n:
        return math.nan
    mid = n // 2
    return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])


def mad(xs: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    m = median(xs)
    return median([abs(x - m) for x in xs])


def quantile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return math.nan
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def noise_sigma(xs: Sequence[float]) -> float | None:
    """Point-to-point noise σ of a curve, insensitive to its trend.

    Uses second differences r_i = x_i − (x_{i−1} + x_{i+1})/2: a straight trend cancels, and
    for independent noise of σ, Var(r) = 1.5 σ². The MAD makes a few turning points (the
    minimum of an overfitting curve) not count as noise. Needs ``MIN_NOISE_POINTS``: with
    fewer, the handful of residuals is dominated by the curve's own bends.
    """
    if len(xs) < MIN_NOISE_POINTS:
        return None
    r = [xs[i] - 0.5 * (xs[i - 1] + xs[i + 1]) for i in range(1, len(xs) - 1)]
    return MAD_TO_SIGMA * mad(r) / math.sqrt(1.5)


def kendall_tau(xs: Sequence[float]) -> float | None:
    """Kendall's τ between a sequence and its order: +1 always rising, −1 always falling.

    The Mann–Kendall trend statistic (Mann 1945; Kendall 1975) normalised to [−1, 1]; O(n²), so
    callers pass at most a few hundred points (see :func:`bucket_means`).
    """
    n = len(xs)
    if n < 3:
        return None
    s = 0
    for i in range(n - 1):
        xi = xs[i]
        for j in range(i + 1, n):
            d = xs[j] - xi
            s += (d > 0) - (d < 0)
    return s / (n * (n - 1) / 2)


def bucket_means(xs: Sequence[float], max_points: int = 200) -> list[float]:
    """Average consecutive points into at most ``max_points`` buckets (identity when short)."""
    n = len(xs)
    if n <= max_points:
        return list(xs)
    out = []
    for b in range(max_points):
        lo, hi = b * n // max_points, (b + 1) * n // max_points
        out.append(sum(xs[lo:hi]) / (hi - lo))
    return out


def running_mean(xs: Sequence[float], window: int) -> list[float]:
    """Centred running mean with the window shrunk at the ends."""
    n, half = len(xs), window // 2
    prefix = [0.0]
    for x in xs:
        prefix.append(prefix[-1] + x)
    return [(prefix[min(n, i + half + 1)] - prefix[max(0, i - half)]) / (min(n, i + half + 1) - max(0, i - half))
            for i in range(n)]
