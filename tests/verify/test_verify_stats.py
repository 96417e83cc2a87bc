"""The statistics of ``probe --verify`` on synthetic numbers: paired differences and the t
interval. No training here."""

from __future__ import annotations

import math

import pytest

from regadvisor.probe.paired_stats import (
    T95,
    mean_interval,
    paired_differences,
    paired_interval,
    t_critical,
)


def test_t_table_matches_scipy_where_installed():
    stats = pytest.importorskip("scipy.stats")
    for df, t in T95.items():
        assert t == pytest.approx(stats.t.ppf(0.975, df), abs=1e-3)


def test_t_critical_between_table_rows_is_conservative():
    assert t_critical(1) == 12.706
    assert t_critical(2) == 4.303
    assert t_critical(35) == T95[30]          # the smaller df: a wider interval
    assert t_critical(500) == 1.960
    with pytest.raises(ValueError):
        t_critical(0)


def test_paired_interval_by_hand():
    base = [80.0, 82.0, 79.0]
    with_change = [84.0, 85.0, 84.0]
    assert paired_differences(with_change, base) == [4.0, 3.0, 5.0]
    iv = paired_interval(with_change, base)
    # mean 4, sd 1, n 3: half-width t(0.975, 2) * 1 / sqrt(3) = 4.303 / 1.732 = 2.484
    assert iv.mean == pytest.approx(4.0)
    assert iv.half_width == pytest.approx(4.303 / math.sqrt(3))
    assert iv.low > 0 and iv.n == 3


def test_pairing_removes_the_seed_to_seed_spread():
    # seeds differ by 10 points, the change adds 1 point on each: unpaired this is noise,
    # paired it is an exact +1 with zero spread
    base = [70.0, 80.0, 90.0]
    iv = paired_interval([b + 1.0 for b in base], base)
    assert iv.mean == pytest.approx(1.0) and iv.half_width == pytest.approx(0.0)


def test_interval_needs_two_pairs():
    assert math.isinf(mean_interval([3.0]).half_width)
    assert math.isnan(mean_interval([]).mean)
    with pytest.raises(ValueError):
        paired_differences([1.0, 2.0], [1.0])
