"""Judge signals with rules: conditions, statuses, messages, recommendations and the verdict.

Conditions use three-valued logic so that a signal the run cannot show never passes for
"false": a leaf on a missing signal is *unknown*; ``all`` is false if any child is false,
unknown if any is unknown; ``any`` is true if any child is true; ``not`` keeps unknown. A rule
whose condition ends unknown is reported as skipped with the signals it lacked. Nothing here
computes a measurement or imports torch.
"""

from __future__ import annotations

import math
import string
from typing import Any, Callable

from ..model import CONFIDENCES, SEVERITIES, Finding, Recommendation
from ..numbers import is_number
from .loader import Rule, RuleSet, iter_leaves
from .units import optimizer_units

Lookup = Callable[[str], Any]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "in": lambda a, b: a in b,
}

# When rules disagree about what the run is, the more urgent verdict wins: a run that diverges
# is unstable even if it also overfits, and no verdict is drawn from data too short to judge.
VERDICT_PRECEDENCE = ("unstable", "not-learning", "insufficient-data", "overfitting", "underfitting", "healthy")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def evaluate_condition(node: dict[str, Any], lookup: Lookup, params: dict[str, Any]) -> bool | None:
    """Evaluate a condition tree; ``None`` means unknown (a signal it needs is missing)."""
    if "all" in node:
        results = [evaluate_condition(c, lookup, params) for c in node["all"]]
        return False if False in results else (None if None in results else True)
    if "any" in node:
        results = [evaluate_condition(c, lookup, params) for c in node["any"]]
        return True if True in results else (None if None in results else False)
    if "not" in node:
        inner = evaluate_condition(node["not"], lookup, params)
        return None if inner is None else not inner
    value = lookup(node["signal"])
    op = node["op"]
    if op == "present":
        return not _is_missing(value)
    if op == "absent":
        return _is_missing(value)
    if _is_missing(value):
        return None
    operand = params[node["param"]] if "param" in node else node["value"]
    try:
        return bool(_OPS[op](value, operand))
    except TypeError:
        return None


class _Template(string.Formatter):
    """``str.format`` over signals and params that shows ``?`` for what is missing.

    Two format specs beyond Python's, so that messages say what a number is in words:
    ``{acc_gap_end:.1pt}`` gives percentage points (``21.0 points`` for 0.21, the unit of an
    accuracy gap) and ``{evals_since_best:n evaluation}`` a count (``1 evaluation``, ``3 evaluations``).
    """

    def get_value(self, key, args, kwargs):  # noqa: D102 - Formatter protocol
        value = kwargs.get(key)
        return "?" if _is_missing(value) else value

    def format_field(self, value, format_spec):  # noqa: D102
        if is_number(value):
            if format_spec.endswith("pt"):
                return f"{format(value * 100, format_spec[:-2] + 'f')} points"
            if format_spec.startswith("n "):
                return f"{value:g} {format_spec[2:]}{'' if value == 1 else 's'}"
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)


def render_message(template: str, values: dict[str, Any]) -> str:
    """Fill a rule message's ``{placeholders}``."""
    return _Template().format(template, **values)


def _resolve(ref: Any, lookup: Lookup, params: dict[str, Any]) -> Any:
    if isinstance(ref, dict):
        return lookup(ref["signal"]) if "signal" in ref else params[ref["param"]]
    return ref


def _recommendations(rule: Rule, lookup: Lookup, params: dict[str, Any], facts: dict[str, Any]) -> list[Recommendation]:
    out = []
    for rec in rule.spec.get("recommend", []):
        value = _resolve(rec["value"], lookup, params)
        if _is_missing(value):
            continue  # e.g. a learning rate derived from a current LR the log did not record
        rng = [_resolve(r, lookup, params) for r in rec["range"]] if "range" in rec else None
        unit, note, snippet = _resolve(rec.get("unit"), lookup, params), rec.get("note"), rec.get("snippet")
        units = optimizer_units(rec["knob"], facts)
        if units is not None:  # before comparing with the current value, which is in the optimizer's units
            value, rng = units.convert(value), [units.convert(r) for r in rng] if rng else rng
            unit, note, snippet = units.unit, units.note, units.snippet
        current = facts.get(rec["knob"])
        direction = rec.get("direction", "set")
        if current is not None and isinstance(value, (int, float)) and is_number(current):
            if direction == "increase" and current >= value:
                upper = rng[1] if rng and not _is_missing(rng[1]) else None
                if upper is None or current >= upper:
                    continue  # already at or past what this rule would suggest: say nothing
                value = upper
            elif direction == "decrease" and current <= value:
                continue
        out.append(Recommendation(
            knob=rec["knob"], value=value, range=rng, current=current, unit=unit, note=note,
            snippet=snippet.replace("{value}", repr(value)) if snippet else None, snippet_template=snippet,
            reason=rule.spec["title"], rules=[rule.id], evidence=list(rec["evidence"]),
            severity=rule.spec["severity"], confidence=rule.spec["confidence"],
        ))
    return out


def evaluate_rule(rule: Rule, lookup: Lookup, params: dict[str, Any], facts: dict[str, Any] | None = None) -> Finding:
    """Judge one rule on one run's signals."""
    spec = rule.spec
    finding = Finding(rule.id, spec["title"], spec["category"], spec["severity"], spec["confidence"],
                      "skipped", evidence=rule.evidence, verdict=spec.get("verdict"), values=dict(params),
                      name=rule.name, description=" ".join(spec["description"].split()))
    missing = [s for s in rule.requires if _is_missing(lookup(s))]
    if missing:
        finding.missing = missing
        return finding
    if "applies_if" in spec:
        applies = evaluate_condition(spec["applies_if"], lookup, params)
        if applies is None:
            finding.missing = _unknown(spec["applies_if"], lookup)
            return finding
        if not applies:
            finding.status = "not-applicable"
            return finding
    result = evaluate_condition(spec["when"], lookup, params)
    if result is None:
        finding.missing = _unknown(spec["when"], lookup)
        return finding
    finding.values = {**{s: lookup(s) for s in sorted(rule.signals())}, **params}
    if not result:
        finding.status = "passed"
        return finding
    finding.status = "fired"
    finding.message = render_message(spec["message"], finding.values)
    finding.recommendations = _recommendations(rule, lookup, params, facts or {})
    return finding


def _unknown(condition: dict[str, Any], lookup: Lookup) -> list[str]:
    return sorted({leaf["signal"] for leaf in iter_leaves(condition) if _is_missing(lookup(leaf["signal"]))})


def evaluate(ruleset: RuleSet, lookup: Lookup, facts: dict[str, Any] | None = None) -> list[Finding]:
    """Judge every selected rule, in id order."""
    return [evaluate_rule(rule, lookup, ruleset.params_for(rule), facts) for rule in ruleset.rules]


def _strength(rec: Recommendation) -> tuple[int, int]:
    return SEVERITIES.index(rec.severity), CONFIDENCES.index(rec.confidence)


def merge_recommendations(findings: list[Finding], max_confidence: str = "high") -> list[Recommendation]:
    """One recommendation per knob: the strongest rule's value, every rule's id and evidence.

    Ordered strongest first (severity, then confidence) and, at equal strength, the knob more
    rules ask for first. No recommendation is surer than ``max_confidence`` (the verdict's): advice drawn from a run
    too short to judge cannot be more certain than the judgement itself.
    """
    by_knob: dict[str, list[Recommendation]] = {}
    for finding in findings:
        for rec in finding.recommendations:
            by_knob.setdefault(rec.knob, []).append(rec)
    merged = []
    for knob, recs in by_knob.items():
        recs.sort(key=_strength, reverse=True)
        head = recs[0]
        out = Recommendation(**{**head.__dict__, "rules": list(head.rules), "evidence": list(head.evidence)})
        out.confidence = min(out.confidence, max_confidence, key=CONFIDENCES.index)
        for other in recs[1:]:
            out.rules += [r for r in other.rules if r not in out.rules]
            out.evidence += [e for e in other.evidence if e not in out.evidence]
        merged.append(out)
    merged.sort(key=lambda r: (_strength(r), len(r.rules)), reverse=True)
    return merged


def verdict(findings: list[Finding], data_confidence: str) -> tuple[str, str]:
    """The run's verdict and how sure we are of it.

    The verdict comes from the fired rules (most urgent first, see ``VERDICT_PRECEDENCE``); with
    none fired the run is healthy. Confidence is the verdict rules' own, capped by how much
    data there was (``data_confidence``: few evaluations cannot support a confident call).
    """
    fired = [f for f in findings if f.status == "fired" and f.verdict]
    for name in VERDICT_PRECEDENCE:
        supporting = [f for f in fired if f.verdict == name]
        if supporting:
            rule_conf = max(CONFIDENCES.index(f.confidence) for f in supporting)
            return name, CONFIDENCES[min(rule_conf, CONFIDENCES.index(data_confidence))]
    return "healthy", data_confidence
