"""GitHub workflow commands: one annotation per fired finding, GitHub's escaping rules."""

from __future__ import annotations

import copy
import re

from regadvisor.render import github, markdown
from tests.render.conftest import HF


def test_one_annotation_per_fired_finding_then_a_verdict_notice(hf_report):
    lines = github.render(hf_report).splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["::error", "::warning", "::warning", "::notice"]
    assert lines[0].startswith(f"::error file={HF},title=OF002 Severe overfitting")
    assert "OVERFITTING (confidence high)" in lines[-1] and "dropout=0.3" in lines[-1]
    for line in lines:
        assert re.fullmatch(r"::(error|warning|notice)( [a-z]+=[^,:]*(,[a-z]+=[^,:]*)*)?::.*", line), line


def test_info_findings_are_notices(hf_report):
    report = copy.deepcopy(hf_report)
    for f in report.findings:
        if f.status == "fired":
            f.severity = "info"
    assert [line.split(" ", 1)[0] for line in github.render(report).splitlines()] == ["::notice"] * 4


def test_healthy_run_gets_only_the_verdict(lightning_report):
    (line,) = github.render(lightning_report).splitlines()
    assert line.startswith("::notice title=regadvisor verdict::") and "HEALTHY" in line


def test_escaping_of_message_and_properties(hf_report):
    report = copy.deepcopy(hf_report)
    report.source = "runs/a,b:c%d.csv"
    finding = next(f for f in report.findings if f.rule_id == "OF002")
    finding.message = "50% worse,\nsee: step 3\r\nend"
    finding.title = "Title, with: colon 100%"
    first = github.render(report).splitlines()[0]
    assert first == ("::error file=runs/a%2Cb%3Ac%25d.csv,title=OF002 Title%2C with%3A colon 100%25"
                     "::50%25 worse,%0Asee: step 3%0D%0Aend")


def test_escape_helpers():
    assert github.escape_data("100%\r\n:,") == "100%25%0D%0A:,"
    assert github.escape_property("100%\r\n:,") == "100%25%0D%0A%3A%2C"
    assert github.command("warning", "m", file="f", line=None) == "::warning file=f::m"
    assert github.command("notice", "m") == "::notice::m"


def test_step_summary_is_the_markdown_report(hf_report, tmp_path):
    assert github.step_summary(hf_report) == "\n" + markdown.render(hf_report)
    assert github.step_summary_path({}) is None
    assert github.step_summary_path({"GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}) == tmp_path / "s.md"
