"""How measured effects edit a report: verified blocks (valid against report.schema.json), best
values, unhelpful changes moved to the notes, unverified advice kept; the Optuna export."""

from __future__ import annotations

import ast
import json

import jsonschema
import pytest

from regadvisor.model import Recommendation, Report, Run
from regadvisor.probe.verify import Effect, VerifyResult, apply_to_report
from regadvisor.probe.verify_export import export, search_space
from regadvisor.render import json as render_json
from regadvisor.render import terminal

SCHEMA = jsonschema.Draft202012Validator(json.loads(render_json.SCHEMA_PATH.read_text()))


def _report() -> Report:
    recs = [
        Recommendation("weight_decay", 0.05, "gap > 10 points", ["OF003"], ["table"], range=[0.01, 0.1], current=0.0),
        Recommendation("dropout", 0.3, "gap > 10 points", ["OF003"], ["table"], range=[0.3, 0.5], current=0.0),
        Recommendation("data_augmentation", "task-appropriate augmentation", "gap", ["OF003"], ["table"]),
        Recommendation("early_stopping_patience", 5, "ran past best", ["ES001"], ["es"], current=None, unit="epochs",
                       snippet="EarlyStopping(patience=5)", snippet_template="EarlyStopping(patience={value})"),
    ]
    return Report(source="model.py", run=Run("model.py", "probe"), signals={}, findings=[], recommendations=recs,
                  verdict="overfitting", verdict_confidence="medium",
                  tool={"name": "regadvisor", "version": "0", "rules_digest": "sha256:00"})


def _effect(knob, value, base, with_change, simulated=False):
    return Effect({knob: value}, "val_acc points", list(base), list(with_change), [0, 1, 2][: len(base)], True,
                  simulated=simulated)


BASE = [75.0, 76.0, 80.0]


def _result(report: Report, combination=None, kept_combo=False) -> VerifyResult:
    effects = [
        _effect("dropout", 0.3, BASE, [80.0, 80.5, 84.5]),      # +4.7: helps
        _effect("dropout", 0.5, BASE, [78.0, 79.5, 82.0]),      # +2.8, 0.8 spread: helps, less
        _effect("dropout", 0.1, BASE, [76.0, 75.0, 81.5]),      # noise
        _effect("weight_decay", 0.05, BASE, [74.5, 76.5, 79.5]),
        _effect("weight_decay", 0.005, BASE, [75.5, 76.0, 80.5]),
        _effect("early_stopping_patience", 2, BASE, [87.0, 86.5, 86.0], simulated=True),
    ]
    kept = {"dropout": 0.3, "early_stopping_patience": 2}
    best = effects[-1]
    return VerifyResult(report=report, metric="val_acc points", higher_is_better=True, seeds=[0, 1, 2],
                        baseline=dict(enumerate(BASE)), effects=effects, kept=kept, best_single=best,
                        combination=combination, combination_kept=kept_combo,
                        unverified={"data_augmentation": "advisory only: the probe cannot apply it"}, trials=16,
                        seconds=12.0, trial_length={"epochs": 6, "steps": None},
                        current={"weight_decay": 0.0, "dropout": 0.0, "early_stopping_patience": None,
                                 "data_augmentation": None})


def test_helpful_changes_get_their_best_value_and_a_verified_block():
    report = _report()
    apply_to_report(_result(report))
    knobs = [r.knob for r in report.recommendations]
    assert knobs == ["early_stopping_patience", "dropout", "data_augmentation"]   # largest effect first
    dropout = report.recommendations[1]
    assert dropout.value == 0.3 and dropout.range == [0.3, 0.5]
    v = dropout.verified
    assert v["metric"] == "val_acc points" and v["trials"] == 3 and v["helps"] is True
    assert v["difference"] == pytest.approx(14.0 / 3, abs=1e-5)
    assert v["difference"] - v["uncertainty"] > 0
    assert v["baseline"] == pytest.approx(77.0) and v["with_change"] == pytest.approx(81.666667)
    es = report.recommendations[0]
    assert es.value == 2 and es.verified["helps"]
    assert es.snippet == "EarlyStopping(patience=2)"               # the snippet follows the verified value
    assert report.recommendations[2].verified is None          # advisory: stays, unverified
    # two changes help alone and were not tried together: the report says which to start with
    assert "together: not measured within the budget; each change helps alone: start with " \
           "early_stopping_patience" in report.notes


def test_unhelpful_change_is_removed_and_noted():
    report = _report()
    apply_to_report(_result(report))
    assert "weight_decay" not in [r.knob for r in report.recommendations]
    note = next(n for n in report.notes if n.startswith("weight_decay"))
    # the best measured value is named, with its effect, interval and seeds
    assert note.startswith("weight_decay 0 → 0.005: +0.3 ± ")
    assert note.endswith("points val acc over 3 seeds: not recommended")
    assert any(n.startswith("data_augmentation: not verified") for n in report.notes)
    assert report.notes[0].startswith("verified: 16 trials of 6 epochs")


def test_combination_that_does_not_beat_the_best_single_change():
    report = _report()
    combo = Effect({"dropout": 0.3, "early_stopping_patience": 2}, "val_acc points", [87.0, 86.5, 86.0],
                   [87.5, 86.0, 87.0], [0, 1, 2], True)
    apply_to_report(_result(report, combo, kept_combo=False))
    dropout = next(r for r in report.recommendations if r.knob == "dropout")
    assert "not measurably better than early_stopping_patience alone" in dropout.note
    assert any(n.startswith("together (") and n.endswith("start with early_stopping_patience") for n in report.notes)


def test_verified_report_is_valid_json_schema_and_renders():
    report = _report()
    apply_to_report(_result(report))
    doc = json.loads(render_json.render(report))
    SCHEMA.validate(doc)
    assert doc["recommendations"][1]["verified"]["helps"] is True
    text = terminal.render(report, width=120)
    assert "measured: dropout 0 → 0.3: +4.67 ± " in text and "points val acc, 3 seeds" in text


def test_search_space_and_optuna_export(tmp_path):
    result = _result(_report())
    space = search_space(result)
    assert space["direction"] == "maximize"
    wd = space["fixed"]["weight_decay"]
    assert wd == 0.0                                           # did not help: stays where it is
    d = space["params"]["dropout"]
    assert d["type"] == "float" and 0.0 <= d["low"] < 0.3 < d["high"] <= 0.7
    es = space["params"]["early_stopping_patience"]
    assert es["type"] == "int" and 1 <= es["low"] <= 2 <= es["high"]
    py = export(result, "optuna", tmp_path / "space.py")
    code = py.read_text()
    ast.parse(code)
    assert "trial.suggest_float('dropout', 0.2, 0.4)" in code
    assert "trial.suggest_int('early_stopping_patience', 1, 3)" in code
    js = json.loads(export(result, "optuna", tmp_path / "space.json").read_text())
    assert js["params"]["dropout"] == d and "def suggest(trial)" in js["optuna"]


def test_log_scale_range_for_weight_decay():
    result = _result(_report())
    result.kept = {"weight_decay": 0.01}
    p = search_space(result)["params"]["weight_decay"]
    assert p["log"] is True and p["low"] == pytest.approx(0.00316) and p["high"] == pytest.approx(0.0316)
