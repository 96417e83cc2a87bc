"""JUnit XML: parses, one test case per selected rule, counts that match the findings."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import pytest

from regadvisor.render import junit
from tests.render.conftest import HF


def parse(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def outcome(case: ET.Element) -> str:
    for tag in ("failure", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


@pytest.mark.parametrize("fail_on, failing", [
    ("error", {"OF002"}), ("warning", {"OF002", "OF001", "ES001"}), ("info", {"OF002", "OF001", "ES001"}),
    ("never", set()),
])
def test_counts_match_the_findings(hf_report, fail_on, failing):
    root = parse(junit.render(hf_report, fail_on=fail_on))
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == f"regadvisor: {HF}"
    cases = suite.findall("testcase")
    assert len(cases) == len(hf_report.findings) == int(suite.get("tests")) == int(root.get("tests"))
    by_id = {c.get("name").split()[0]: c for c in cases}
    assert {i for i, c in by_id.items() if outcome(c) == "failure"} == failing
    assert int(suite.get("failures")) == len(failing) == int(root.get("failures"))
    not_run = [f for f in hf_report.findings if f.status in ("skipped", "not-applicable")]
    assert int(suite.get("skipped")) == len(not_run) == sum(outcome(c) == "skipped" for c in cases)
    assert suite.get("errors") == "0"
    for f in hf_report.findings:
        case = by_id[f.rule_id]
        assert case.get("classname") == f"regadvisor.{f.category}"
        if f.status == "fired" and f.rule_id not in failing:
            assert f.message in case.find("system-out").text
        if f.rule_id in failing:
            failure = case.find("failure")
            assert failure.get("type") == f.severity and failure.get("message") == f.message
        if f.status == "skipped":
            assert case.find("skipped").get("message") == "missing: " + ", ".join(f.missing)


def test_case_names_use_the_rule_name(hf_report):
    root = parse(junit.render(hf_report))
    names = {c.get("name") for c in root.iter("testcase")}
    assert "OF002 val-loss-severe" in names and "ES001 stop-at-best" in names


def test_one_suite_per_report_and_totals(hf_report, lightning_report):
    root = parse(junit.render([hf_report, lightning_report]))
    suites = root.findall("testsuite")
    assert len(suites) == 2
    for key in ("tests", "failures", "skipped"):
        assert int(root.get(key)) == sum(int(s.get(key)) for s in suites)
    assert suites[1].get("failures") == "0"


def test_log_text_is_escaped(hf_report):
    report = copy.deepcopy(hf_report)
    nasty = 'a <b> & "c" ]]> \'d\''
    report.source = 'run <1> & "x".json'
    next(f for f in report.findings if f.rule_id == "OF002").message = nasty
    root = parse(junit.render(report))
    assert root.find("testsuite").get("name") == 'regadvisor: run <1> & "x".json'
    failure = next(c for c in root.iter("testcase") if c.get("name").startswith("OF002")).find("failure")
    assert failure.get("message") == nasty and nasty in failure.text


def test_unknown_fail_on_is_rejected(hf_report):
    with pytest.raises(ValueError):
        junit.render(hf_report, fail_on="fatal")
