"""Every bundled rule's own test cases (signals and facts in → status, message and values out), run as data."""

from __future__ import annotations

import copy

import pytest

from regadvisor.engine.loader import load_rules
from regadvisor.engine.testing import case_problems, failing_cases
from regadvisor.signals.registry import specs

RULESET = load_rules(known_signals=specs())
CASES = [(rule, case) for rule in RULESET.rules for case in rule.spec["tests"]]


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{r.id}:{c['name']}" for r, c in CASES])
def test_rule_case(rule, case):
    assert case_problems(rule, case) == [], f"{rule.path.name}: {case['name']}"


def test_every_rule_has_a_firing_and_a_quiet_case():
    for rule in RULESET.rules:
        expected = {case["expect"] for case in rule.spec["tests"]}
        assert "fired" in expected, rule.id
        assert expected - {"fired"}, rule.id


def test_every_firing_case_pins_its_message():
    unpinned = [f"{r.id}: {c['name']}" for r, c in CASES if c["expect"] == "fired" and "message" not in c]
    assert unpinned == []


def test_every_recommendation_is_pinned_by_a_case():
    for rule in RULESET.rules:
        knobs = {rec["knob"] for rec in rule.spec.get("recommend", [])}
        pinned = {knob for case in rule.spec["tests"] for knob in case.get("recommend", {})}
        assert knobs <= pinned, f"{rule.id}: no case states the value of {sorted(knobs - pinned)}"


def test_every_directed_recommendation_is_tried_against_a_current_setting():
    """``direction`` only acts on the run's facts, so a rule that has one needs a case with facts."""
    for rule in RULESET.rules:
        directed = {rec["knob"] for rec in rule.spec.get("recommend", []) if rec.get("direction") in ("increase", "decrease")}
        tried = {knob for case in rule.spec["tests"] for knob in case.get("facts", {})}
        assert directed <= tried, f"{rule.id}: no case gives a current {sorted(directed - tried)}"


# ------------------------------------------------------------ the case runner itself


def _case(rule_id, name):
    rule = RULESET.get(rule_id)
    return rule, copy.deepcopy(next(c for c in rule.spec["tests"] if c["name"] == name))


def test_a_wrong_message_or_value_is_reported():
    rule, case = _case("OF003", "fifteen-point gap fires")
    case["message"] = "16.0 points above"
    case["recommend"] = {"dropout": 0.5, "weight_decay": None, "data_augmentation": "standard for the modality"}
    problems = case_problems(rule, case)
    assert problems == [
        "message 'Training accuracy is 15.0 points above validation accuracy at the end (97.0% vs 82.0%); the gap "
        "changed by +6.0 points since the best validation point.' does not contain '16.0 points above'",
        "dropout: expected 0.5, got 0.3",
        "weight_decay: expected no recommendation, got 0.05",
    ]


def test_a_missing_recommendation_is_reported():
    rule, case = _case("DV002", "tenfold rise fires")
    case["recommend"] = {"learning_rate": 0.001}
    assert case_problems(rule, case) == ["learning_rate: expected 0.001, got none"]


def test_facts_move_the_recommendation():
    rule, case = _case("OF003", "fifteen-point gap fires")
    case["facts"] = {"dropout": 0.4}
    case["recommend"] = {"dropout": 0.3}
    assert case_problems(rule, case) == ["dropout: expected 0.3, got 0.6"]


def test_failing_cases_names_rule_and_case():
    rule, case = _case("OF003", "eight-point gap passes (moderate rule's job)")
    broken = copy.deepcopy(rule)
    broken.spec["tests"] = [{**case, "expect": "fired"}]
    assert failing_cases(broken) == ["OF003 test \"eight-point gap passes (moderate rule's job)\": expected fired, got passed"]
