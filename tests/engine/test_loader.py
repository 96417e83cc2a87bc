"""Rule files: schema validation (with jsonschema as the oracle), references, overrides, selection."""

from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest
import yaml

from regadvisor.engine import schema
from regadvisor.engine.loader import apply_overrides, bundled_rules_dir, load_rule_file, load_rules, select
from regadvisor.errors import RuleError
from regadvisor.signals.registry import specs

BUNDLED = sorted(bundled_rules_dir().rglob("*.yaml"))
ORACLE = jsonschema.Draft202012Validator(json.loads(schema.SCHEMA_PATH.read_text()))


def _doc(name="overfitting/OF003-acc-gap-heavy.yaml"):
    return yaml.safe_load((bundled_rules_dir() / name).read_text())


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_bundled_rules_are_valid_for_both_validators(path):
    doc = yaml.safe_load(path.read_text())
    assert schema.validate(doc) == []
    ORACLE.validate(doc)


def _breakages():
    def unknown_top(d): d["sevrity"] = "error"
    def bad_enum(d): d["severity"] = "fatal"
    def bad_op(d): d["when"]["op"] = "greater"
    def missing_field(d): del d["evidence"]
    def bad_knob(d): d["recommend"][0]["knob"] = "dropout_rate"
    def bad_id(d): d["id"] = "of3"
    def too_few_tests(d): d["tests"] = d["tests"][:1]
    def leaf_extra_key(d): d["when"]["threshold"] = 1
    def evidence_kind(d): d["evidence"]["decision-table"]["kind"] = "folklore"
    return [unknown_top, bad_enum, bad_op, missing_field, bad_knob, bad_id, too_few_tests, leaf_extra_key, evidence_kind]


@pytest.mark.parametrize("breakage", _breakages(), ids=lambda f: f.__name__)
def test_broken_rules_are_rejected_by_both_validators(breakage):
    doc = copy.deepcopy(_doc())
    breakage(doc)
    ours = schema.validate(doc)
    assert ours, "our validator accepted a broken rule"
    assert not ORACLE.is_valid(doc), "jsonschema accepted it: the test itself is wrong"


def test_error_names_the_field_path():
    doc = copy.deepcopy(_doc("overfitting/OF001-val-loss-rising.yaml"))
    doc["when"]["all"][1]["op"] = "gte"
    errors = schema.validate(doc)
    assert any(e.startswith("when.all[1].op: 'gte' is not one of") for e in errors), errors


def _write(tmp_path, doc, name="rule.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def test_reference_errors_name_file_and_field(tmp_path):
    doc = _doc()
    doc["when"]["param"] = "no_such_param"
    with pytest.raises(RuleError, match=r"rule\.yaml: when: unknown param 'no_such_param'"):
        load_rule_file(_write(tmp_path, doc), specs())
    doc = _doc()
    doc["recommend"][0]["evidence"] = ["nowhere"]
    with pytest.raises(RuleError, match=r"recommend\[0\]\.evidence: no evidence entry 'nowhere'"):
        load_rule_file(_write(tmp_path, doc), specs())
    doc = _doc()
    doc["when"]["signal"] = "acc_gap_ending"
    with pytest.raises(RuleError, match="unknown signal\\(s\\) acc_gap_ending"):
        load_rule_file(_write(tmp_path, doc), specs())


@pytest.mark.parametrize("text,match", [
    ("id: [unclosed", "invalid YAML at line 2"),
    ("- just\n- a list\n", "one YAML mapping"),
    ("", "one YAML mapping"),
])
def test_unparseable_rule_files(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RuleError, match=match):
        load_rule_file(path)


def test_duplicate_ids_across_folders(tmp_path):
    _write(tmp_path, _doc(), "copy.yaml")
    with pytest.raises(RuleError, match="OF003 is defined twice"):
        load_rules([tmp_path], known_signals=specs())


def test_user_rule_folder_adds_rules(tmp_path):
    doc = _doc()
    doc["id"], doc["name"] = "TEAM001", "team-gap"
    _write(tmp_path, doc)
    ruleset = load_rules([tmp_path], known_signals=specs())
    assert ruleset.get("TEAM001") is not None and ruleset.get("OF003") is not None


def test_overrides_and_selection():
    ruleset = load_rules(known_signals=specs())
    tuned = apply_overrides(ruleset, {"OF003.min_gap": "0.2", "OF004": {"min_growth": 0.05}}, "--param")
    assert tuned.params_for(tuned.get("OF003"))["min_gap"] == 0.2
    assert tuned.params_for(tuned.get("OF004"))["min_growth"] == 0.05
    with pytest.raises(RuleError, match="must be a number"):
        apply_overrides(ruleset, {"OF003.min_gap": "lots"}, "--param")
    only = select(ruleset, ["overfitting"], ["OF005"])
    assert {r.category for r in only.rules} == {"overfitting"} and only.get("OF005") is None


# ------------------------------------------------------------ hostile rule files (issue 15)


@pytest.mark.parametrize("message, problem", [
    ("gap is { wide", "expected '}'"),
    ("gap is } wide", "Single '}'"),
    ("gap {val_loss!z}", "unknown conversion"),
    ("gap {best_value:>300000000}", "unsupported format"),
    ("gap {best_value:{width}}", "unsupported format"),
    ("gap {best_value.__class__.__init__}", "must be a signal or param name"),
    ("gap {best_value[0]}", "must be a signal or param name"),
])
def test_message_templates_str_format_would_fail_or_abuse_are_refused(tmp_path, message, problem):
    folder = tmp_path / "rules"
    folder.mkdir()
    doc = _doc("overfitting/OF001-val-loss-rising.yaml")
    doc["message"] = message
    (folder / "X.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(RuleError, match=re.escape(problem)) as err:
        load_rules([folder], include_bundled=False)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, problem", [
    ("id: &a [*a]\n", "anchor that contains itself"),
    ("id: !!timestamp 'nope'\n", "typed value does not parse"),
    ("id: x\n  name: [\n", "invalid YAML at line"),
])
def test_rule_yaml_that_does_not_load_is_one_line(tmp_path, text, problem):
    (tmp_path / "X.yaml").write_text(text)
    with pytest.raises(RuleError, match=problem) as err:
        load_rules([tmp_path], include_bundled=False)
    assert "\n" not in str(err.value)


def test_a_fifo_named_like_a_rule_file_is_not_read(tmp_path):
    import os

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    os.mkfifo(tmp_path / "b" / "X.yaml")
    with pytest.raises(RuleError, match="no rule files"):
        load_rules([tmp_path / "a", tmp_path / "b"], include_bundled=False)
