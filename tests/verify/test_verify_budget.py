"""--budget in the user's units: full trainings (the default), seconds, trials."""

from __future__ import annotations

import math

import pytest

from regadvisor.errors import ConfigError
from regadvisor.probe.budget import DEFAULT_BUDGET, Budget, Ledger, parse_budget


@pytest.mark.parametrize("text, expected", [
    ("6x", Budget(trainings=6.0)), ("2.5x", Budget(trainings=2.5)), ("120", Budget(seconds=120.0)),
    ("90s", Budget(seconds=90.0)), ("5m", Budget(seconds=300.0)), ("30t", Budget(trials=30)),
    (45, Budget(seconds=45.0)), (None, parse_budget(DEFAULT_BUDGET)),
])
def test_parse_budget(text, expected):
    assert parse_budget(text) == expected


@pytest.mark.parametrize("text", ["", "x", "0x", "-3", "2.5t", "6 trainings", math.inf, 0])
def test_bad_budgets_are_config_errors(text):
    with pytest.raises(ConfigError, match="--budget"):
        parse_budget(text)


def test_default_is_six_full_trainings():
    assert parse_budget(None) == Budget(trainings=6.0) and parse_budget(None).describe() == "6 full trainings"


def test_ledger_counts_full_trainings_and_answers_what_fits():
    ledger = Ledger(Budget(trainings=2.0), full_steps=100)
    ledger.charge(60)
    ledger.charge(90)
    assert ledger.trainings == pytest.approx(1.5) and ledger.trials == 2
    assert ledger.affords(50) and not ledger.affords(51)
    assert ledger.left_steps() == pytest.approx(50)
    trials = Ledger(Budget(trials=3), full_steps=100)
    trials.charge(10)
    assert trials.affords(10_000, trials=2) and not trials.affords(1, trials=3)
