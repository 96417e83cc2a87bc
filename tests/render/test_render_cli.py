"""The new formats and --plot through the real entry point (``python -m regadvisor``)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from tests.render.conftest import HF, LIGHTNING

SCHEMA = json.loads(Path(__file__).with_name("sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
NOT_IN_ACTIONS = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""}


def test_sarif_format_validates_and_keeps_the_exit_code(cli):
    result = cli("diagnose", HF, "--format", "sarif", env=NOT_IN_ACTIONS)
    assert result.returncode == 1, result.stderr
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert next(r for r in rules if r["id"] == "OF002")["name"] == "val-loss-severe"  # from the ruleset
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == HF


def test_junit_format_fails_at_the_fail_on_threshold(cli):
    result = cli("diagnose", HF, "-f", "junit", "--fail-on", "warning", env=NOT_IN_ACTIONS)
    assert result.returncode == 1
    root = ET.fromstring(result.stdout.encode())
    assert root.get("failures") == "3"


def test_markdown_format(cli):
    result = cli("diagnose", LIGHTNING, "--format", "markdown", env=NOT_IN_ACTIONS)
    assert result.returncode == 0
    assert result.stdout.startswith("## regadvisor · `") and "**Verdict: HEALTHY**" in result.stdout


def test_github_actions_selects_github_output_and_writes_the_job_summary(cli, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = cli("diagnose", HF, env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"::error file={HF},title=OF002 ")
    assert lines[-1].startswith("::notice title=regadvisor verdict::")
    text = summary.read_text()
    assert text.startswith("earlier step\n\n## regadvisor · ") and "**Verdict: OVERFITTING**" in text


def test_explicit_format_wins_over_github_actions(cli, tmp_path):
    summary = tmp_path / "summary.md"
    result = cli("diagnose", HF, "--format", "terminal",
                 env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert "::error" not in result.stdout and "verdict: OVERFITTING" in result.stdout
    assert not summary.exists()


def test_terminal_is_the_default_outside_actions(cli):
    result = cli("diagnose", LIGHTNING, env=NOT_IN_ACTIONS)
    assert "verdict: HEALTHY" in result.stdout and "::" not in result.stdout


def test_plot_option_writes_a_png(cli, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "curves.png"
    result = cli("diagnose", HF, "--plot", str(out), "-f", "json", env=NOT_IN_ACTIONS)
    assert result.returncode == 1, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads(result.stdout)["verdict"] == "overfitting"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary file left


def test_plot_into_a_missing_folder_is_exit_2(cli, tmp_path):
    pytest.importorskip("matplotlib")
    result = cli("diagnose", LIGHTNING, "--plot", str(tmp_path / "nope" / "c.png"), env=NOT_IN_ACTIONS)
    assert result.returncode == 2
    assert "cannot write the plot" in result.stderr and "Traceback" not in result.stderr
