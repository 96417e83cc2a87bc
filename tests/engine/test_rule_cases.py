"""Every bundled rule's own test cases (signals in → expected status out), run as data."""

from __future__ import annotations

import pytest

from regadvisor.engine.loader import load_rules
from regadvisor.engine.testing import run_case
from regadvisor.signals.registry import specs

RULESET = load_rules(known_signals=specs())
CASES = [(rule, case) for rule in RULESET.rules for case in rule.spec["tests"]]


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{r.id}:{c['name']}" for r, c in CASES])
def test_rule_case(rule, case):
    status = run_case(rule, case)
    assert status == case["expect"], f"{rule.path.name}: {case['name']}"


def test_every_rule_has_a_firing_and_a_quiet_case():
    for rule in RULESET.rules:
        expected = {case["expect"] for case in rule.spec["tests"]}
        assert "fired" in expected, rule.id
        assert expected - {"fired"}, rule.id
