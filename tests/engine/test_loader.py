"""Rule files: schema validation (with jsonschema as the oracle), references, overrides, selection."""

from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest
import yaml

from regadvisor.engine import schema
from regadvisor.engine.loader import (
    BIBLIOGRAPHY,
    apply_overrides,
    bibliography,
    bundled_rules_dir,
    load_rule_file,
    load_rules,
    select,
)
from regadvisor.errors import RuleError
from regadvisor.signals.registry import specs

BUNDLED = sorted(p for p in bundled_rules_dir().rglob("*.yaml") if p.name != BIBLIOGRAPHY)
BIBLIOGRAPHY_FILE = bundled_rules_dir() / BIBLIOGRAPHY
ORACLE = jsonschema.Draft202012Validator(json.loads(schema.SCHEMA_PATH.read_text()))
BIB_ORACLE = jsonschema.Draft202012Validator(json.loads(schema.BIBLIOGRAPHY_SCHEMA_PATH.read_text()))


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
    def evidence_table(d): d["evidence"] = {"gap-bands": {"kind": "heuristic", "citation": "x", "claim": "y"}}
    def evidence_empty(d): d["evidence"] = []
    return [unknown_top, bad_enum, bad_op, missing_field, bad_knob, bad_id, too_few_tests, leaf_extra_key,
            evidence_table, evidence_empty]


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
    with pytest.raises(RuleError, match=r"recommend\[0\]\.evidence: 'nowhere' is not in the rule's evidence list"):
        load_rule_file(_write(tmp_path, doc), specs())
    doc = _doc()
    doc["params"]["min_gap"]["evidence"] = "adamw"
    doc["evidence"] = ["gap-bands", "srivastava", "augmentation"]
    with pytest.raises(RuleError, match=r"params\.min_gap\.evidence: 'adamw' is not in the rule's evidence list"):
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


# ------------------------------------------------------------ one bibliography (issue 16)


def test_the_bibliography_is_valid_for_both_validators():
    doc = yaml.safe_load(BIBLIOGRAPHY_FILE.read_text())
    assert schema.validate(doc, schema.bibliography_schema()) == []
    BIB_ORACLE.validate(doc)


@pytest.mark.parametrize("breakage", [
    lambda d: d["adamw"].update(kind="folklore"),
    lambda d: d["adamw"].update(year=2019),
    lambda d: d["adamw"].pop("claim"),
    lambda d: d["adamw"].update(citation=""),
    lambda d: d.update(loose="just a string"),
], ids=["bad-kind", "unknown-field", "no-claim", "empty-citation", "not-an-entry"])
def test_broken_bibliography_entries_are_rejected_by_both_validators(breakage):
    doc = yaml.safe_load(BIBLIOGRAPHY_FILE.read_text())
    breakage(doc)
    assert schema.validate(doc, schema.bibliography_schema())
    assert not BIB_ORACLE.is_valid(doc), "jsonschema accepted it: the test itself is wrong"


def test_every_source_is_cited_and_every_rule_cites_from_the_bibliography():
    from regadvisor.signals.registry import signal_params

    sources = bibliography()
    ruleset = load_rules(known_signals=specs())
    cited = {key for rule in ruleset.rules for key in rule.spec["evidence"]}
    cited |= {param.evidence for param in signal_params().values()}
    assert cited == set(sources), f"uncited: {set(sources) - cited}"
    of003 = ruleset.get("OF003")
    assert list(of003.evidence) == of003.spec["evidence"]
    assert of003.evidence["srivastava"] == sources["srivastava"]


def test_citations_the_review_corrected():
    sources = bibliography()
    assert sources["autotrainer"]["citation"].startswith("Zhang, Zhai, Ma & Shen (2021)")
    assert "4%" in sources["prechelt"]["claim"] and "4 times" in sources["prechelt"]["claim"]
    assert not any("lesson" in entry["citation"] for entry in sources.values())
    es001 = load_rules(known_signals=specs()).get("ES001")
    min_z_source = es001.spec["params"]["min_z"]["evidence"]
    assert es001.evidence[min_z_source]["kind"] == "heuristic"


def test_an_unknown_source_key_names_the_file_and_the_entry(tmp_path):
    doc = _doc()
    doc["evidence"] = doc["evidence"] + ["nobody-2024"]
    with pytest.raises(RuleError, match=r"rule\.yaml: evidence\[4\]: no source 'nobody-2024' in the bibliography"):
        load_rule_file(_write(tmp_path, doc), specs())
    doc["evidence"] = ["gap-bands", "gap-bands", "srivastava", "adamw", "augmentation"]
    with pytest.raises(RuleError, match=r"evidence\[1\]: 'gap-bands' is listed twice"):
        load_rule_file(_write(tmp_path, doc), specs())


def test_a_user_folder_brings_its_own_sources(tmp_path):
    doc = _doc()
    doc["id"], doc["name"] = "TEAM001", "team-gap"
    doc["params"]["min_gap"]["evidence"] = "team-study"
    doc["evidence"] = [*doc["evidence"], "team-study"]
    _write(tmp_path, doc)
    (tmp_path / BIBLIOGRAPHY).write_text(yaml.safe_dump({"team-study": {
        "kind": "heuristic", "citation": "our 2024 sweep", "claim": "Gaps above 10 points cost us 3 points of test accuracy."}}))
    rule = load_rules([tmp_path], known_signals=specs()).get("TEAM001")
    assert rule.evidence["team-study"]["citation"] == "our 2024 sweep"
    assert rule.evidence["adamw"]["kind"] == "paper"  # the bundled sources stay citable


def test_a_user_source_may_not_redefine_a_bundled_key(tmp_path):
    _write(tmp_path, {**_doc(), "id": "TEAM001", "name": "team-gap"})
    (tmp_path / BIBLIOGRAPHY).write_text(yaml.safe_dump({"adamw": {"kind": "paper", "citation": "x", "claim": "y"}}))
    with pytest.raises(RuleError, match=r"bibliography\.yaml: source 'adamw' is defined twice \(also in .*rules"):
        load_rules([tmp_path], known_signals=specs())


def test_a_broken_user_bibliography_is_one_line_naming_it(tmp_path):
    _write(tmp_path, {**_doc(), "id": "TEAM001", "name": "team-gap"})
    (tmp_path / BIBLIOGRAPHY).write_text("team-study: {kind: rumour, citation: x, claim: y}\n")
    with pytest.raises(RuleError, match=r"bibliography\.yaml: team-study\.kind: 'rumour' is not one of") as err:
        load_rules([tmp_path], known_signals=specs())
    assert "\n" not in str(err.value)


# ------------------------------------------------------------ case expectations (issue 16)


def test_case_expectations_are_checked_against_the_rule(tmp_path):
    doc = _doc()
    doc["tests"][1]["message"] = "8.0 points"
    with pytest.raises(RuleError, match=r"tests\[1\]\.message: only a case that expects fired"):
        load_rule_file(_write(tmp_path, doc), specs())
    doc = _doc()
    doc["tests"][0]["recommend"] = {"label_smoothing": 0.1}
    with pytest.raises(RuleError, match=r"tests\[0\]\.recommend: the rule recommends no 'label_smoothing'"):
        load_rule_file(_write(tmp_path, doc), specs())
    doc = _doc()
    doc["tests"][0]["recommend"] = {"dropout": [0.3]}
    assert any("tests[0].recommend.dropout" in e for e in schema.validate(doc))
    assert not ORACLE.is_valid(doc)
