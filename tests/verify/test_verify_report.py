"""How a verification edits a report: the kept configuration's knobs get the measured value and
the joint effect (valid against report.schema.json), the rest move to the notes, unverified
advice stays; the Optuna export around the kept values."""

from __future__ import annotations

import ast
import json

import jsonschema
import pytest

from regadvisor.model import Recommendation, Report, Run
from regadvisor.probe.search import Screened
from regadvisor.probe.trials import Curve
from regadvisor.probe.verify import Effect, VerifyResult, apply_to_report
from regadvisor.probe.verify_export import export, search_space
from regadvisor.render import json as render_json
from regadvisor.render import terminal
from regadvisor.render.notes import note_text

SCHEMA = jsonschema.Draft202012Validator(json.loads(render_json.SCHEMA_PATH.read_text()))
BASE = [75.0, 76.0, 80.0]


def _report() -> Report:
    recs = [
        Recommendation("weight_decay", 0.05, "gap > 10 points", ["OF003"], ["table"], range=[0.01, 0.1], current=0.0),
        Recommendation("dropout", 0.3, "gap > 10 points", ["OF003"], ["table"], range=[0.3, 0.6], current=0.0,
                       snippet="Dropout(p=0.3)", snippet_template="Dropout(p={value})"),
        Recommendation("data_augmentation", "task-appropriate augmentation", "gap", ["OF003"], ["table"]),
    ]
    return Report(source="model.py", run=Run("model.py", "probe"), signals={}, findings=[], recommendations=recs,
                  verdict="overfitting", verdict_confidence="medium",
                  tool={"name": "regadvisor", "version": "0", "rules_digest": "sha256:00"})


def _result(report: Report, with_change=(88.0, 87.5, 91.0), kept=True) -> VerifyResult:
    changes = {"dropout": 0.55, "early_stopping_patience": 5}
    effect = Effect(changes, "val_acc points", True, list(BASE), list(with_change), [0, 1, 2])
    curve = Curve({"dropout": 0.55}, 0, [0.5, 0.4], [80.0, 88.0], [10, 20], 20, "past-best")
    leader = Screened({"dropout": 0.55}, curve, False, 88.0, 5)
    return VerifyResult(report=report, metric="val_acc points", higher_is_better=True, seeds=[0, 1, 2],
                        baseline=dict(enumerate(BASE)), screened=[leader], leader=leader, effect=effect,
                        kept=dict(changes) if kept else {},
                        unverified={"data_augmentation": "advisory only: the probe cannot apply it"}, trials=9,
                        seconds=12.0, trainings=4.2, length={"epochs": 40}, length_known=True,
                        current={"weight_decay": 0.0, "dropout": 0.0, "early_stopping_patience": None,
                                 "data_augmentation": None})


def test_the_kept_configuration_gets_its_values_and_the_joint_effect():
    report = _report()
    apply_to_report(_result(report))
    knobs = [r.knob for r in report.recommendations]
    assert knobs[:2] == ["early_stopping_patience", "dropout"] and "weight_decay" not in knobs
    stop, dropout = report.recommendations[:2]
    assert (stop.value, stop.unit, stop.rules) == (5, "evaluations", ["verify"])   # found by the search
    assert dropout.value == 0.55 and dropout.snippet == "Dropout(p=0.55)"
    assert dropout.verified == stop.verified and dropout.verified["helps"] is True
    assert dropout.verified["difference"] == pytest.approx(11.833333, abs=1e-5)
    assert "Measured together with early_stopping_patience." in dropout.note
    assert note_text(report.notes[0]).startswith("verified at 40 epochs: 4.2 full trainings (probe included), 9 trials")
    assert "weight_decay 0 → 0.05: not part of the best measured configuration" in [note_text(n) for n in report.notes]
    assert "data_augmentation: not verified (advisory only: the probe cannot apply it)" in [note_text(n) for n in report.notes]


def test_nothing_kept_removes_what_was_measured_and_says_why():
    report = _report()
    apply_to_report(_result(report, with_change=(76.0, 75.0, 81.5), kept=False))
    assert [r.knob for r in report.recommendations] == ["data_augmentation"]
    assert any(n.endswith("(not kept: not better beyond noise)") for n in map(note_text, report.notes))
    assert "dropout 0 → 0.3: nothing measured helped beyond noise" in [note_text(n) for n in report.notes]


def test_verified_report_is_valid_json_schema_and_renders():
    report = _report()
    apply_to_report(_result(report))
    doc = json.loads(render_json.render(report))
    SCHEMA.validate(doc)
    assert doc["recommendations"][1]["verified"]["helps"] is True
    text = terminal.render(report, width=120)
    assert "points val acc, 3 seeds" in text


def test_search_space_and_optuna_export(tmp_path):
    result = _result(_report())
    space = search_space(result)
    assert space["direction"] == "maximize"
    assert space["fixed"]["weight_decay"] == 0.0               # not part of the kept configuration
    d = space["params"]["dropout"]
    assert d["type"] == "float" and d["low"] == 0.45 and d["high"] == 0.65
    es = space["params"]["early_stopping_patience"]
    assert es["type"] == "int" and (es["low"], es["high"]) == (3, 7)
    assert space["effect"]["helps"] is True and space["screened"][0]["config"] == {"dropout": 0.55}
    py = export(result, "optuna", tmp_path / "space.py")
    code = py.read_text()
    ast.parse(code)
    assert "trial.suggest_float('dropout', 0.45, 0.65)" in code
    js = json.loads(export(result, "optuna", tmp_path / "space.json").read_text())
    assert js["params"]["dropout"] == d and "def suggest(trial)" in js["optuna"]


def test_log_scale_range_for_weight_decay():
    result = _result(_report())
    result.kept = {"weight_decay": 0.01}
    p = search_space(result)["params"]["weight_decay"]
    assert p["log"] is True and p["low"] == pytest.approx(0.00316) and p["high"] == pytest.approx(0.0316)
