"""The statistics of ``probe --verify`` on synthetic numbers: paired differences, the t interval,
early abandonment, candidate values and budget parsing. No training here."""

from __future__ import annotations

import math

import pytest

from regadvisor.errors import ConfigError
from regadvisor.probe.paired_stats import (
    T95,
    abandon_reason,
    mean_interval,
    paired_differences,
    paired_interval,
    t_critical,
)
from regadvisor.probe.verify import candidate_values, parse_budget


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


@pytest.mark.parametrize(("gains", "reason"), [
    ([2.0], None),                                   # one seed: never judged
    ([-3.0, -3.1], "its interval lies below zero"),  # consistent loss, tiny spread
    ([-4.0, -1.5], "clearly worse on every seed"),   # interval crosses zero, but worse each time by > 1
    ([-0.5, -0.45], "its interval lies below zero"),  # t(1) = 12.7: only a tiny spread clears it
    ([-0.5, -0.1], None),                            # slightly worse, within min_effect: keep measuring
    ([-2.0, 1.0], None),                             # mixed: keep measuring
    ([3.0, 4.0], None),
])
def test_early_abandonment(gains, reason):
    assert abandon_reason(gains, min_effect=1.0) == reason


def test_candidate_values_around_the_suggestion():
    assert candidate_values("weight_decay", 0.05, 0.0) == [0.05, 0.005, 0.5]
    assert candidate_values("dropout", 0.3, 0.0) == [0.3, 0.1, 0.5]
    assert candidate_values("dropout", 0.6, 0.0) == [0.6, 0.4]             # 0.8 is beyond 0.7
    assert candidate_values("dropout", 0.1, 0.1) == [0.3]                  # 0.1 is no change; -0.1 invalid
    assert candidate_values("learning_rate", 3e-3, 1e-3) == [0.003, 0.009]  # 1e-3 is the current value
    assert candidate_values("early_stopping_patience", 5) == [5, 2, 10]
    assert candidate_values("normalization", "groupnorm", "batchnorm") == ["groupnorm"]
    assert candidate_values("optimizer", "adamw", "adam") == ["adamw"]
    assert candidate_values("weight_decay", 0.01, 0.01) == [0.001, 0.1]    # same decay, other values


def test_parse_budget():
    assert parse_budget(None) == (None, None)
    assert parse_budget("120") == (120.0, None)
    assert parse_budget("90s") == (90.0, None)
    assert parse_budget("2m") == (120.0, None)
    assert parse_budget("30t") == (None, 30)
    assert parse_budget(45) == (45.0, None)
    for bad in ("", "abc", "0", "-5", "2.5t", "10x"):
        with pytest.raises(ConfigError):
            parse_budget(bad)
