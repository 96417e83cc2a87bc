"""The CLI through its real entry point: exit codes, formats, output files, error lines."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from regadvisor.model import KNOBS
from regadvisor.render.json import SCHEMA_PATH
from tests.conftest import REAL_LOGS

HF = str(REAL_LOGS / "hf/trainer_state_multi_eval.json")
LIGHTNING = str(REAL_LOGS / "lightning/mnist_cnn_metrics.csv")


def test_overfitting_run_exits_1_and_healthy_run_exits_0(cli):
    assert cli("diagnose", HF).returncode == 1  # OF002 is an error-severity finding
    assert cli("diagnose", LIGHTNING).returncode == 0


def test_fail_on_moves_the_threshold(cli):
    assert cli("diagnose", HF, "--fail-on", "never").returncode == 0
    tb = str(REAL_LOGS / "tensorboard/mnist_cnn_version_0")
    assert cli("diagnose", tb).returncode == 0  # only a warning fired
    assert cli("diagnose", tb, "--fail-on", "warning").returncode == 1


def test_json_report_validates_against_the_published_schema(cli):
    result = cli("diagnose", HF, "--format", "json")
    report = json.loads(result.stdout)
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    assert report["verdict"] == "overfitting"
    assert report["recommendations"], "an overfitting run gets recommendations"
    for rec in report["recommendations"]:
        assert rec["knob"] in KNOBS
        assert rec["value"] is not None and not isinstance(rec["value"], dict)
    statuses = {f["status"] for f in report["findings"]}
    assert {"fired", "passed", "skipped"} <= statuses


def test_json_output_is_deterministic(cli):
    assert cli("diagnose", HF, "-f", "json").stdout == cli("diagnose", HF, "-f", "json").stdout


def test_output_file_is_written_and_stdout_is_empty(cli, tmp_path):
    out = tmp_path / "report.json"
    result = cli("diagnose", LIGHTNING, "--format", "json", "--output", str(out))
    assert result.returncode == 0 and result.stdout == ""
    assert json.loads(out.read_text())["verdict"] == "healthy"


def test_failed_run_leaves_an_existing_output_file_untouched(cli, tmp_path):
    out = tmp_path / "report.json"
    out.write_text("previous report")
    result = cli("diagnose", str(tmp_path / "missing.csv"), "--output", str(out))
    assert result.returncode == 2
    assert out.read_text() == "previous report"


@pytest.mark.parametrize("args", [
    ["diagnose", "does/not/exist.csv"],
    ["diagnose", LIGHTNING, "--metric", "nonsense"],
    ["diagnose", LIGHTNING, "--param", "OF003.no_such_param=1"],
    ["diagnose", LIGHTNING, "--select", "XX999"],
    ["diagnose", LIGHTNING, "--rules", "/nonexistent/rules"],
])
def test_user_errors_exit_2_with_one_line_and_no_traceback(cli, args):
    result = cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("regadvisor: error: ")


def test_terminal_report_has_verdict_curve_and_recommendations(cli):
    text = cli("diagnose", HF).stdout
    assert "verdict: OVERFITTING" in text
    assert "▲ best: epoch 1 (step 401)" in text
    assert "dropout" in text and "0.3" in text
    assert "\x1b[" not in text  # NO_COLOR and not a TTY: no escape codes


def test_metric_override_picks_another_eval_set(cli):
    result = cli("diagnose", HF, "--metric", "val_loss=eval_g3_loss", "-f", "json")
    report = json.loads(result.stdout)
    assert report["run"]["metrics"]["val_loss"]["original_name"] == "eval_g3_loss"


def test_param_override_changes_the_outcome(cli):
    tb = str(REAL_LOGS / "tensorboard/mnist_cnn_version_0")
    # The rise is 19%; demanding 25% on short curves turns the verdict back to healthy.
    report = json.loads(cli("diagnose", tb, "-f", "json", "--param", "OF001.min_worsening_short=0.25").stdout)
    assert report["verdict"] == "healthy"


def test_pyproject_settings_apply_and_typos_are_errors(cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.regadvisor]\nfail-on = "never"\n')
    assert cli("diagnose", HF, cwd=tmp_path).returncode == 0
    (tmp_path / "pyproject.toml").write_text('[tool.regadvisor]\nfail_on = "never"\n')
    result = cli("diagnose", HF, cwd=tmp_path)
    assert result.returncode == 2 and "unknown key(s) in [tool.regadvisor]: fail_on" in result.stderr


def test_version_and_help(cli):
    assert cli("--version").stdout.startswith("regadvisor ")
    assert "diagnose" in cli("--help").stdout


def test_rules_list_show_and_signals(cli):
    listing = cli("rules", "list").stdout
    assert "OF001" in listing and "DV001" in listing
    shown = cli("rules", "show", "acc-gap-heavy").stdout
    assert "OF003" in shown and "Srivastava" in shown and "min_gap = 0.1" in shown
    assert "val_worsening_rel" in cli("rules", "signals").stdout


def test_rules_check_runs_test_cases_and_reports_broken_files(cli, tmp_path):
    bundled = Path(__file__).resolve().parents[2] / "rules"
    ok = cli("rules", "check", str(bundled))
    assert ok.returncode == 0 and "test case(s) pass" in ok.stdout
    broken = tmp_path / "broken.yaml"
    text = (bundled / "overfitting/OF003-acc-gap-heavy.yaml").read_text().replace("op: gt", "op: greater")
    broken.write_text(text)
    result = cli("rules", "check", str(tmp_path))
    assert result.returncode == 2
    assert "broken.yaml" in result.stderr and "when.op" in result.stderr and "greater" in result.stderr


def test_rules_check_fails_a_case_whose_message_or_value_is_wrong(cli, tmp_path):
    bundled = Path(__file__).resolve().parents[2] / "rules"
    text = (bundled / "overfitting/OF003-acc-gap-heavy.yaml").read_text()
    text = text.replace("id: OF003", "id: TEAM003").replace("name: acc-gap-heavy", "name: team-gap")
    text = text.replace('message: "15.0 points above', 'message: "15.5 points above', 1)
    text = text.replace("recommend: {dropout: 0.6, weight_decay: null}", "recommend: {dropout: 0.5, weight_decay: null}")
    (tmp_path / "TEAM003.yaml").write_text(text)
    result = cli("rules", "check", str(tmp_path))
    assert result.returncode == 1
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 2 and "does not contain '15.5 points above" in fails[0]
    assert "dropout: expected 0.5, got 0.6" in fails[1]
    assert "1 rule(s), 5 of 7 test case(s) pass" in result.stdout


def test_folder_without_logs_is_an_error_not_an_empty_report(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to see\n")
    result = cli("diagnose", str(tmp_path))
    assert result.returncode == 2 and "holds no training log" in result.stderr and result.stdout == ""


def test_unrecognised_file_points_at_the_log_format_option(cli, tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 8)
    result = cli("diagnose", str(garbage))
    assert result.returncode == 2 and "--log-format" in result.stderr


def test_quoted_glob_diagnoses_every_match(cli):
    pattern = str(REAL_LOGS / "text" / "modded_nanogpt_*")
    result = cli("diagnose", pattern, "--format", "json")
    reports = json.loads(result.stdout)
    assert result.returncode == 0 and len(reports) == 4
    assert {r["verdict"] for r in reports} == {"healthy"}
    assert cli("diagnose", str(REAL_LOGS / "nothing_*.csv")).returncode == 2


def test_project_param_overrides_survive_a_narrower_selection(cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.regadvisor.params]\nOF003 = { min_gap = 0.12 }\n")
    result = cli("diagnose", LIGHTNING, "--select", "stability", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.regadvisor.params]\nOF003 = { min_gapp = 0.12 }\n")
    result = cli("diagnose", LIGHTNING, "--select", "stability", cwd=tmp_path)
    assert result.returncode == 2 and "rule OF003 has no parameter 'min_gapp'" in result.stderr


@pytest.mark.parametrize("args,expected", [
    (["--format", "jsno"], "--format: 'jsno' is not a valid choice (did you mean 'json'? choose one of terminal,"),
    (["--fail-on", "warn"], "--fail-on: 'warn' is not a valid choice (did you mean 'warning'?"),
])
def test_a_bad_choice_is_one_friendly_line(cli, args, expected):
    result = cli("diagnose", LIGHTNING, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"regadvisor: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert expected in result.stderr and "Value error" not in result.stderr


def test_choices_forgive_letter_case(cli):
    assert json.loads(cli("diagnose", LIGHTNING, "--format", "JSON").stdout)["verdict"] == "healthy"


@pytest.mark.parametrize("command", ["diagnose", "check", "probe", "explain", "rules show", "rules check"])
def test_help_shows_plain_metavars(cli, command):
    text = cli(*command.split(), "--help").stdout
    assert "<list" not in text and "<str>" not in text and "<path>" not in text and "<int>" not in text
    assert "...}..." not in text and "DESIGN" not in text


def test_shell_completion_is_offered(cli):
    assert "--install-completion" in cli("--help").stdout
    # what --install-completion writes for bash (asked for directly: shell detection depends on the parent process)
    script = cli(env={"_REGADVISOR_COMPLETE": "source_bash"})
    assert "_REGADVISOR_COMPLETE=complete_bash" in script.stdout and "complete -o default -F" in script.stdout
    completed = cli(env={"_REGADVISOR_COMPLETE": "complete_bash", "COMP_WORDS": "regadvisor diagnose --format js",
                         "COMP_CWORD": "3"})
    assert completed.stdout.split() == ["json"]
