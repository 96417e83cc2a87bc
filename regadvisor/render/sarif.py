"""SARIF 2.1.0 (``--format sarif``), for GitHub code scanning and other SARIF viewers.

One SARIF ``run`` whatever the number of reports: ``tool.driver.rules`` lists every selected
rule (with its evidence in ``properties``), ``results`` holds the fired findings, each located
at the log file it was drawn from. SARIF has no severity "info": it maps to ``note``
(SARIF 2.1.0 §3.27.10: ``error``, ``warning``, ``note``, ``none``).

Output is deterministic: no timestamps or absolute paths unless the caller passes them, rules
in the order they were evaluated, results most severe first.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..files import is_uri
from ..model import Finding, Report
from ._common import relative_source, sorted_fired
from .json import json_ready

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/regadvisor/regadvisor"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def _text(value: Any) -> str:
    return " ".join(str(value).split())


def _evidence(evidence: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    return [{"key": key, **{k: str(v) for k, v in sorted(item.items())}} for key, item in evidence.items()]


def _help(finding: Finding, description: str) -> str:
    lines = [description, ""] if description else []
    if finding.evidence:
        lines.append("Evidence:")
        for key, item in finding.evidence.items():
            cite = item.get("citation", key)
            if item.get("locator"):
                cite += f", {item['locator']}"
            lines.append(f"- [{item.get('kind', '?')}] {cite}: {item.get('claim', '')}".rstrip(": "))
        lines.append("")
    lines.append(f"Details: regadvisor rules show {finding.rule_id}")
    return "\n".join(lines)


def _rule(finding: Finding) -> dict[str, Any]:
    description = _text(finding.description) or finding.title
    return {
        "id": finding.rule_id,
        "name": finding.name or finding.rule_id,
        "shortDescription": {"text": finding.title},
        "fullDescription": {"text": description},
        "help": {"text": _help(finding, description)},
        "defaultConfiguration": {"level": LEVELS.get(finding.severity, "warning")},
        "properties": {
            "category": finding.category,
            "severity": finding.severity,
            "confidence": finding.confidence,
            "tags": [finding.category],
            "evidence": _evidence(finding.evidence),
        },
    }


def _artifact(source: str, base: str | Path | None) -> dict[str, Any]:
    if is_uri(source):
        return {"uri": source}
    rel = relative_source(source, base)
    if Path(rel).is_absolute():
        return {"uri": Path(rel).as_uri()}
    return {"uri": quote(rel, safe="/"), "uriBaseId": "%SRCROOT%"}


def _location(report: Report, base: str | Path | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(report.source, base)}
    if not is_uri(report.source) and not os.path.isdir(report.source):
        physical["region"] = {"startLine": 1}
    return {"physicalLocation": physical}


def _fingerprint(rule_id: str, uri: str) -> str:
    return hashlib.sha256(f"{rule_id}\0{uri}".encode()).hexdigest()[:32]


def render(reports: Report | list[Report], *, base_dir: str | Path | None = None,
           start_time: str | None = None, end_time: str | None = None) -> str:
    """The reports as one SARIF 2.1.0 log (a JSON string).

    Each rule's name and description come from its findings. Paths are made relative to ``base_dir``
    (default: the working directory) under ``%SRCROOT%``. ``start_time``/``end_time`` (ISO 8601)
    go into the invocation only when given, so the default output is byte-for-byte repeatable.
    """
    if isinstance(reports, Report):
        reports = [reports]
    driver_rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for report in reports:
        for finding in report.findings:
            if finding.rule_id not in index:
                index[finding.rule_id] = len(driver_rules)
                driver_rules.append(_rule(finding))
    results = []
    for report in reports:
        location = _location(report, base_dir)
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        for finding in sorted_fired(report.findings):
            results.append({
                "ruleId": finding.rule_id,
                "ruleIndex": index[finding.rule_id],
                "level": LEVELS.get(finding.severity, "warning"),
                "message": {"text": _text(finding.message or finding.title)},
                "locations": [location],
                "partialFingerprints": {"regadvisorRule/v1": _fingerprint(finding.rule_id, uri)},
                "properties": {
                    "title": finding.title,
                    "category": finding.category,
                    "confidence": finding.confidence,
                    "verdict": report.verdict,
                    "recommendations": [
                        {"knob": r.knob, "value": r.value, "current": r.current, "range": r.range, "unit": r.unit}
                        for r in report.recommendations if finding.rule_id in r.rules
                    ],
                },
            })
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if start_time:
        invocation["startTimeUtc"] = start_time
    if end_time:
        invocation["endTimeUtc"] = end_time
    tool = reports[0].tool if reports else {}
    log = {
        "$schema": SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "regadvisor",
                "version": str(tool.get("version", __version__)),
                "informationUri": INFORMATION_URI,
                "rules": driver_rules,
            }},
            "invocations": [invocation],
            "results": results,
            "properties": {
                "rulesDigest": str(tool.get("rules_digest", "")),
                "reports": [{"source": relative_source(r.source, base_dir), "verdict": r.verdict,
                             "confidence": r.verdict_confidence} for r in reports],
            },
        }],
    }
    return json.dumps(json_ready(log), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
