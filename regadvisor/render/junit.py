"""JUnit XML (``--format junit``) for the test tabs of CI systems.

One ``<testsuite name="regadvisor: SOURCE">`` per report and one ``<testcase>`` per selected
rule (``classname="regadvisor.CATEGORY"``, ``name="ID rule-name"``):

- fired at or above ``fail_on`` (or a CI gate that fired) → ``<failure message=... type=SEVERITY>``;
- fired below it → a passing test case whose ``<system-out>`` carries the message;
- passed → a passing test case;
- skipped (a signal missing) or not applicable → ``<skipped message=...>``.

ElementTree does the escaping, so log text cannot break the XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..model import FAIL_ON, Finding, Report
from ._common import relative_source


def _recommendations(report: Report, finding: Finding) -> str:
    lines = []
    for r in report.recommendations:
        if finding.rule_id in r.rules:
            line = f"recommend {r.knob}: {r.current if r.current is not None else '—'} → {r.value}"
            if r.unit:
                line += f" {r.unit}"
            if r.range:
                line += f" (range {r.range[0]}–{r.range[1]})"
            lines.append(line)
    return "\n".join(lines)


def _testcase(suite: ET.Element, report: Report, finding: Finding, fail_on: str) -> str:
    case = ET.SubElement(suite, "testcase", {
        "classname": f"regadvisor.{finding.category}",
        "name": f"{finding.rule_id} {finding.name or finding.title}",
    })
    if finding.status == "fired":
        body = f"{finding.title}\n{finding.message or ''}".rstrip()
        recs = _recommendations(report, finding)
        if recs:
            body += "\n" + recs
        if finding.fails(fail_on):
            failure = ET.SubElement(case, "failure", {"message": finding.message or finding.title,
                                                      "type": finding.severity})
            failure.text = body
            return "failure"
        ET.SubElement(case, "system-out").text = f"[{finding.severity}] {body}"
        return "passed"
    if finding.status == "skipped":
        ET.SubElement(case, "skipped", {"message": "missing: " + ", ".join(finding.missing)})
        return "skipped"
    if finding.status == "not-applicable":
        ET.SubElement(case, "skipped", {"message": "not applicable to this run"})
        return "skipped"
    return "passed"


def _suite(parent: ET.Element, report: Report, fail_on: str) -> dict[str, int]:
    suite = ET.SubElement(parent, "testsuite", {"name": f"regadvisor: {relative_source(report.source)}"})
    props = ET.SubElement(suite, "properties")
    for key, value in (("verdict", report.verdict), ("verdict_confidence", report.verdict_confidence),
                       ("format", report.run.format), ("fail_on", fail_on),
                       ("regadvisor_version", report.tool.get("version", "")),
                       ("rules_digest", report.tool.get("rules_digest", ""))):
        ET.SubElement(props, "property", {"name": key, "value": str(value)})
    outcomes = [_testcase(suite, report, f, fail_on) for f in report.findings]
    counts = {"tests": len(outcomes), "failures": outcomes.count("failure"), "errors": 0,
              "skipped": outcomes.count("skipped")}
    for key, n in counts.items():
        suite.set(key, str(n))
    return counts


def render(reports: Report | list[Report], *, fail_on: str = "error") -> str:
    """The reports as a ``<testsuites>`` document; ``fail_on`` as for the CLI's ``--fail-on``."""
    if isinstance(reports, Report):
        reports = [reports]
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {FAIL_ON}, not {fail_on!r}")
    root = ET.Element("testsuites", {"name": "regadvisor"})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in reports:
        for key, n in _suite(root, report, fail_on).items():
            totals[key] += n
    for key, n in totals.items():
        root.set(key, str(n))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
