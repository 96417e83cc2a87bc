"""Three-valued conditions, recommendation direction, merging and the verdict."""

from __future__ import annotations

from regadvisor.engine.evaluator import evaluate_condition, merge_recommendations, verdict
from regadvisor.engine.loader import load_rules
from regadvisor.engine.evaluator import evaluate_rule
from regadvisor.model import Finding, Recommendation
from regadvisor.signals.registry import specs

RULES = load_rules(known_signals=specs())


def test_missing_signals_are_unknown_not_false():
    leaf = {"signal": "x", "op": "gt", "value": 1}
    assert evaluate_condition(leaf, {}.get, {}) is None
    assert evaluate_condition({"not": leaf}, {}.get, {}) is None  # not(unknown) must not pass
    assert evaluate_condition({"all": [leaf, {"signal": "y", "op": "lt", "value": 0}]}, {"y": 5}.get, {}) is False
    assert evaluate_condition({"any": [leaf, {"signal": "y", "op": "lt", "value": 9}]}, {"y": 5}.get, {}) is True
    assert evaluate_condition({"signal": "x", "op": "absent"}, {}.get, {}) is True


def _of003(signals, facts):
    rule = RULES.get("OF003")
    return evaluate_rule(rule, signals.get, RULES.params_for(rule), facts)


def test_increase_advice_never_steps_backwards():
    signals = {"acc_gap_end": 0.2, "suggested_patience": 5, "evaluation_unit": "epochs"}
    by_knob = {r.knob: r for r in _of003(signals, {"dropout": 0.4}).recommendations}
    assert by_knob["dropout"].value == 0.6 and by_knob["dropout"].current == 0.4  # top of the range
    by_knob = {r.knob: r for r in _of003(signals, {"dropout": 0.7}).recommendations}
    assert "dropout" not in by_knob  # already past what the rule would advise: say nothing
    by_knob = {r.knob: r for r in _of003(signals, {}).recommendations}
    assert by_knob["dropout"].value == 0.3 and by_knob["dropout"].current is None


def test_weight_decay_is_given_in_the_units_of_sgd_and_as_written_for_adamw():
    signals = {"acc_gap_end": 0.2, "suggested_patience": 5, "evaluation_unit": "epochs"}
    decay = {name: next(r for r in _of003(signals, {"optimizer": name}).recommendations if r.knob == "weight_decay")
             for name in ("sgd", "adamw", "adam")}
    sgd = decay["sgd"]
    assert (sgd.value, sgd.range, sgd.unit) == (0.0005, [0.0001, 0.001], "SGD's L2 coefficient")
    assert sgd.snippet.startswith("torch.optim.SGD(") and "weight_decay=0.0005" in sgd.snippet
    assert sgd.note.startswith("In SGD's units, 0.01× an AdamW value") and "momentum 0.9 applies" in sgd.note
    assert "momentum=0.9)" in sgd.snippet  # the customary momentum, where the run does not say
    plain = next(r for r in _of003(signals, {"optimizer": "sgd", "param_groups": [{"momentum": 0.0}]}).recommendations
                 if r.knob == "weight_decay")  # without momentum to repeat it, ten times the coefficient
    assert (plain.value, plain.range) == (0.005, [0.001, 0.01]) and "applied once without momentum" in plain.note
    for name in ("adamw", "adam"):  # Adam with L2 is told to switch to AdamW (OPT001), in whose units these are
        assert (decay[name].value, decay[name].range, decay[name].unit) == (0.05, [0.01, 0.1], None)
        assert decay[name].snippet.startswith("torch.optim.AdamW(")


def test_message_fills_signals_and_marks_missing():
    finding = _of003({"acc_gap_end": 0.15, "train_acc_end": 0.99, "val_acc_end": 0.84}, {})
    assert finding.status == "fired"
    assert "15.0 points above validation accuracy" in finding.message and "99.0% vs 84.0%" in " ".join(finding.message.split())
    assert "changed by ?" in finding.message  # acc_gap_growth missing


def _rec(knob, value, severity, confidence, rule):
    return Recommendation(knob, value, "r", [rule], ["e"], severity=severity, confidence=confidence)


def test_merge_keeps_strongest_value_and_all_rule_ids():
    f1 = Finding("A", "t", "c", "warning", "medium", "fired", recommendations=[_rec("dropout", 0.1, "warning", "medium", "A")])
    f2 = Finding("B", "t", "c", "error", "high", "fired", recommendations=[_rec("dropout", 0.3, "error", "high", "B"),
                                                                           _rec("weight_decay", 0.05, "error", "high", "B")])
    weak = Finding("C", "t", "c", "info", "low", "fired", recommendations=[_rec("label_smoothing", 0.1, "info", "low", "C")])
    merged = merge_recommendations([weak, f1, f2])
    dropout = next(r for r in merged if r.knob == "dropout")
    assert dropout.value == 0.3 and dropout.rules == ["B", "A"]
    # strongest first; at equal strength, the knob more rules asked for
    assert [r.knob for r in merged] == ["dropout", "weight_decay", "label_smoothing"]


def test_verdict_precedence_and_confidence_cap():
    over = Finding("OF", "t", "c", "error", "high", "fired", verdict="overfitting")
    unstable = Finding("DV", "t", "c", "error", "medium", "fired", verdict="unstable")
    assert verdict([over], "low") == ("overfitting", "low")
    assert verdict([over, unstable], "high") == ("unstable", "medium")
    assert verdict([], "medium") == ("healthy", "medium")
    passed = Finding("OF", "t", "c", "error", "high", "passed", verdict="overfitting")
    assert verdict([passed], "high")[0] == "healthy"
