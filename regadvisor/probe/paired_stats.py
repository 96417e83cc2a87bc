"""Paired-difference statistics for ``--verify``: the t-interval of paired differences.

Pure Python, no scipy: the 95% critical values of Student's t are tabulated (scipy is the test
oracle, ``tests/verify/test_verify_stats.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Two-sided 95% critical values of Student's t by degrees of freedom (any statistics table;
# scipy.stats.t.ppf(0.975, df) agrees to 3 decimals). Between tabulated df the smaller df is
# used, which is conservative.
T95: dict[int, float] = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}
Z95 = 1.960


def t_critical(df: int) -> float:
    """Two-sided 95% Student-t critical value for ``df`` degrees of freedom (conservative between
    tabulated values, 1.96 beyond 120)."""
    if df < 1:
        raise ValueError("a t interval needs at least 1 degree of freedom (2 paired trials)")
    if df > 120:
        return Z95
    return T95[max(k for k in T95 if k <= df)]


@dataclass(frozen=True)
class Interval:
    """Mean of paired differences and the half-width of its 95% t-interval (inf when n < 2)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def paired_differences(with_change: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """``with_change[i] - baseline[i]`` for each pair (same seed)."""
    if len(with_change) != len(baseline):
        raise ValueError("paired samples must have the same length")
    return [a - b for a, b in zip(with_change, baseline)]


def mean_interval(diffs: Sequence[float]) -> Interval:
    """Mean and 95% t half-width of a sample (the paired differences)."""
    n = len(diffs)
    if n == 0:
        return Interval(math.nan, math.inf, 0)
    m = sum(diffs) / n
    if n < 2:
        return Interval(m, math.inf, n)
    sd = math.sqrt(sum((d - m) ** 2 for d in diffs) / (n - 1))
    return Interval(m, t_critical(n - 1) * sd / math.sqrt(n), n)


def paired_interval(with_change: Sequence[float], baseline: Sequence[float]) -> Interval:
    """The paired comparison: mean of ``with_change - baseline`` and its 95% t half-width."""
    return mean_interval(paired_differences(with_change, baseline))
