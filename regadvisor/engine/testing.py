"""Run a rule's test cases: the signals given in the case, every other signal missing."""

from __future__ import annotations

from typing import Any

from .evaluator import evaluate_rule
from .loader import Rule


def run_case(rule: Rule, case: dict[str, Any]) -> str:
    """The status ``rule`` reaches on the case's signals (and parameter overrides)."""
    params = {**rule.param_defaults(), **case.get("params", {})}
    signals = case["signals"]
    return evaluate_rule(rule, signals.get, params).status


def failing_cases(rule: Rule) -> list[str]:
    """Descriptions of the rule's test cases whose expected status is not reached."""
    out = []
    for case in rule.spec["tests"]:
        got = run_case(rule, case)
        if got != case["expect"]:
            out.append(f"{rule.id} test {case['name']!r}: expected {case['expect']}, got {got}")
    return out
