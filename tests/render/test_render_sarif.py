"""SARIF output against the official SARIF 2.1.0 JSON Schema (vendored; see
SARIF-SCHEMA-PROVENANCE.md), and the mapping from findings to rules and results."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from regadvisor.render import sarif
from tests.conftest import ROOT
from tests.render.conftest import HF

SCHEMA = json.loads((Path(__file__).with_name("sarif-schema-2.1.0.json")).read_text(encoding="utf-8"))


def validate(log: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)


def test_vendored_schema_is_the_oasis_sarif_2_1_0_schema():
    assert SCHEMA["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    jsonschema.Draft4Validator.check_schema(SCHEMA)


def test_output_validates_against_the_schema(hf_report, lightning_report, tb_report):
    for reports in ([hf_report], [lightning_report], [hf_report, lightning_report, tb_report]):
        validate(json.loads(sarif.render(reports)))


def test_schema_catches_a_broken_log(hf_report):
    log = json.loads(sarif.render(hf_report))
    log["runs"][0]["results"][0]["level"] = "info"  # not a SARIF level
    with pytest.raises(jsonschema.ValidationError):
        validate(log)


def test_rules_are_every_selected_rule_and_results_the_fired_ones(hf_report):
    log = json.loads(sarif.render(hf_report))
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json" and log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "regadvisor" and driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == [f.rule_id for f in hf_report.findings]
    fired = {f.rule_id: f for f in hf_report.findings if f.status == "fired"}
    assert {r["ruleId"] for r in run["results"]} == set(fired) == {"OF001", "OF002", "ES001"}
    levels = {"error": "error", "warning": "warning", "info": "note"}
    for result in run["results"]:
        finding = fired[result["ruleId"]]
        assert result["level"] == levels[finding.severity]
        assert result["message"]["text"] == finding.message
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    of002 = next(r for r in driver["rules"] if r["id"] == "OF002")
    assert of002["name"] == "val-loss-severe"
    assert of002["shortDescription"]["text"] == fired["OF002"].title
    assert of002["fullDescription"]["text"].startswith("Validation loss has risen")
    assert of002["defaultConfiguration"]["level"] == "error"
    assert "Srivastava" in of002["help"]["text"]
    assert {e["key"] for e in of002["properties"]["evidence"]} == set(fired["OF002"].evidence)
    assert of002["properties"]["category"] == "overfitting"
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_info_severity_maps_to_note(hf_report):
    report = copy.deepcopy(hf_report)
    next(f for f in report.findings if f.rule_id == "ES001").severity = "info"
    log = json.loads(sarif.render(report))
    es = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "ES001")
    assert es["level"] == "note"
    validate(log)


def test_location_is_relative_to_the_working_directory(hf_report):
    result = json.loads(sarif.render(hf_report))["runs"][0]["results"][0]
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": HF, "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 1}


def test_absolute_source_under_the_base_becomes_relative(hf_report):
    report = copy.deepcopy(hf_report)
    report.source = str(ROOT / HF)
    uri = json.loads(sarif.render(report, base_dir=ROOT))["runs"][0]["results"][0]["locations"][0]
    assert uri["physicalLocation"]["artifactLocation"] == {"uri": HF, "uriBaseId": "%SRCROOT%"}


def test_source_outside_the_base_is_a_file_uri(hf_report, tmp_path):
    report = copy.deepcopy(hf_report)
    report.source = str(ROOT / HF)
    log = json.loads(sarif.render(report, base_dir=tmp_path))
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": (ROOT / HF).as_uri()}
    validate(log)


def test_folder_source_has_no_line_region(tb_report):
    result = json.loads(sarif.render(tb_report))["runs"][0]["results"][0]
    assert "region" not in result["locations"][0]["physicalLocation"]


def test_deterministic_and_timestamps_only_when_given(hf_report):
    assert sarif.render(hf_report) == sarif.render(hf_report)
    assert "TimeUtc" not in sarif.render(hf_report)
    log = json.loads(sarif.render(hf_report, start_time="2024-01-02T03:04:05Z", end_time="2024-01-02T03:04:06Z"))
    assert log["runs"][0]["invocations"][0]["startTimeUtc"] == "2024-01-02T03:04:05Z"
    validate(log)
