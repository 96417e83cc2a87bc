"""Run a rule's test cases: the signals given in the case, every other signal missing.

A case states the status it expects and, for a rule that fires, may also pin what the user
would read: ``message`` (a piece of the rendered message) and ``recommend`` (knob → the value
recommended, ``null`` for a knob that must not be recommended). ``facts`` are the run's current
settings (``{dropout: 0.5}``), which move or drop a recommendation (``direction``).
"""

from __future__ import annotations

import math
from typing import Any

from ..model import Finding
from ..numbers import is_number
from .evaluator import evaluate_rule
from .loader import Rule


def run_case(rule: Rule, case: dict[str, Any]) -> Finding:
    """The finding ``rule`` reaches on the case's signals, facts and parameter overrides."""
    params = {**rule.param_defaults(), **case.get("params", {})}
    signals = case["signals"]
    return evaluate_rule(rule, signals.get, params, case.get("facts", {}))


def _same(got: Any, want: Any) -> bool:
    numbers = all(is_number(v) for v in (got, want))
    return math.isclose(got, want, rel_tol=1e-9) if numbers else got == want


def case_problems(rule: Rule, case: dict[str, Any]) -> list[str]:
    """How the rule's finding on ``case`` differs from what the case expects (empty if it does not)."""
    finding = run_case(rule, case)
    problems = []
    if finding.status != case["expect"]:
        problems.append(f"expected {case['expect']}, got {finding.status}")
    if "message" in case and case["message"] not in (finding.message or ""):
        problems.append(f"message {finding.message!r} does not contain {case['message']!r}")
    recommended = {rec.knob: rec.value for rec in finding.recommendations}
    for knob, want in case.get("recommend", {}).items():
        got = recommended.get(knob)
        if not (got is None if want is None else knob in recommended and _same(got, want)):
            problems.append(f"{knob}: expected {'no recommendation' if want is None else repr(want)}, "
                            f"got {'none' if knob not in recommended else repr(got)}")
    return problems


def failing_cases(rule: Rule) -> list[str]:
    """One line per test case of the rule whose expectations are not met, naming each miss."""
    out = []
    for case in rule.spec["tests"]:
        problems = case_problems(rule, case)
        if problems:
            out.append(f"{rule.id} test {case['name']!r}: {'; '.join(problems)}")
    return out
