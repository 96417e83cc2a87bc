"""`regadvisor check`: the rules gate by default; CI gates from options or project config, judged /
not judged / required, in every report format; exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from regadvisor.gates import GATE_KINDS
from tests.conftest import REAL_LOGS

HF = str(REAL_LOGS / "hf/trainer_state_multi_eval.json")
LIGHTNING = str(REAL_LOGS / "lightning/mnist_cnn_metrics.csv")


@pytest.fixture
def project(tmp_path):
    def write(body: str, name: str = "pyproject.toml"):
        (tmp_path / name).write_text(body)
        return tmp_path
    return write


def test_without_any_configuration_the_rules_gate_at_error(cli, tmp_path):
    bad = cli("check", HF, cwd=tmp_path)  # no pyproject.toml anywhere above tmp_path
    assert bad.returncode == 1, bad.stderr
    assert "rule OF002 (error) fired" in bad.stdout and "regadvisor check: FAILED" in bad.stdout
    ok = cli("check", LIGHTNING, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "regadvisor check: PASSED  (fail-on error)" in ok.stdout and "Gates ·" not in ok.stdout
    assert cli("check", HF, "--fail-on", "never", cwd=tmp_path).returncode == 0


def test_gate_passes_fails_and_is_not_judged_without_data(cli, project):
    cwd = project("[tool.regadvisor.check]\nmax-val-loss-rise = 0.5\nmax-acc-gap = 0.05\nno-divergence = true\n")
    ok = cli("check", LIGHTNING, cwd=cwd)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "max-acc-gap" in ok.stdout and "not judged — lacks acc_gap_end" in ok.stdout
    assert "regadvisor check: PASSED" in ok.stdout
    bad = cli("check", HF, "--fail-on", "never", cwd=cwd)
    assert bad.returncode == 1  # a broken gate fails whatever --fail-on says
    assert "FAILED" in bad.stdout and "128.9%" in bad.stdout  # the measured rise, in the gate's unit


def test_gate_limits_and_measures_are_in_the_gates_unit(cli, tmp_path):
    result = cli("check", HF, "--max-val-loss-rise", "0.5", "--max-evals-since-best", "3", "--fail-on", "never",
                 cwd=tmp_path)
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(" max-")}
    assert rows["max-val-loss-rise"].split()[1:3] == ["50.0%", "128.9%"]
    assert "3 evaluations" in rows["max-evals-since-best"] and "29 evaluations" in rows["max-evals-since-best"]


def test_gate_options_need_no_config_and_add_to_it(cli, project, tmp_path):
    assert cli("check", HF, "--fail-on", "never", "--max-loss-gap-ratio", "2", cwd=tmp_path).returncode == 1
    assert cli("check", HF, "--fail-on", "never", "--max-loss-gap-ratio", "60", cwd=tmp_path).returncode == 0
    cwd = project("[tool.regadvisor.check]\nmax-val-loss-rise = 5.0\n")
    result = cli("check", HF, "--fail-on", "never", "--max-val-loss-rise", "0.5", "--no-divergence", cwd=cwd)
    assert result.returncode == 1
    assert "max-val-loss-rise" in result.stdout and "no-divergence" in result.stdout


def test_every_gate_has_an_option(cli):
    text = cli("check", "--help").stdout
    for name in GATE_KINDS:
        assert f"--{name}" in text, name


def test_config_option_reads_the_named_file(cli, tmp_path):
    config = tmp_path / "ci" / "gates.yaml"
    config.parent.mkdir()
    config.write_text("fail-on: never\ncheck:\n  max-loss-gap-ratio: 2.0\n")
    result = cli("check", HF, "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1 and "max-loss-gap-ratio" in result.stdout
    missing = cli("check", HF, "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert missing.returncode == 2 and "nope.toml: no such settings file" in missing.stderr
    empty = tmp_path / "pyproject.toml"
    empty.write_text("[project]\nname = 'x'\n")
    result = cli("diagnose", HF, "--config", str(empty), cwd=tmp_path)
    assert result.returncode == 2 and "has no [tool.regadvisor] table" in result.stderr


def test_require_turns_not_judged_into_failure(cli, project):
    cwd = project("[tool.regadvisor.check]\nmax-acc-gap = 0.05\n")
    assert cli("check", LIGHTNING, "--fail-on", "never", cwd=cwd).returncode == 0
    result = cli("check", LIGHTNING, "--require", cwd=cwd)
    assert result.returncode == 1 and "FAILED: required, not judged — lacks acc_gap_end" in result.stdout
    cwd = project("[tool.regadvisor.check]\nmax-acc-gap = 0.05\nrequire = ['max-acc-gap']\n")
    assert cli("check", LIGHTNING, cwd=cwd).returncode == 1


def _required_gate_failed(fmt: str, out: str) -> bool:
    if fmt == "json":
        gate = next(f for f in json.loads(out)["findings"] if f["rule"] == "CI001")
        return gate["status"] == "fired" and "could not be judged" in gate["message"]
    if fmt == "junit":
        root = ET.fromstring(out.encode())
        case = next(c for c in root.iter("testcase") if c.get("name") == "CI001 max-acc-gap")
        return case.find("failure") is not None and root.get("failures") == "1"
    if fmt == "github":
        return any(line.startswith("::error ") and "CI001" in line for line in out.splitlines())
    if fmt == "markdown":
        return any(line.startswith("| `CI001` | error |") for line in out.splitlines())
    run = json.loads(out)["runs"][0]
    return [(r["ruleId"], r["level"]) for r in run["results"]] == [("CI001", "error")]


@pytest.mark.parametrize("fmt", ["json", "junit", "github", "markdown", "sarif"])
def test_a_required_gate_that_cannot_be_judged_fails_in_every_format(cli, tmp_path, fmt):
    result = cli("check", LIGHTNING, "--max-acc-gap", "0.05", "--require", "--format", fmt, cwd=tmp_path,
                 env={"GITHUB_STEP_SUMMARY": ""})
    assert result.returncode == 1, result.stderr
    assert _required_gate_failed(fmt, result.stdout), result.stdout


def test_check_sarif_keeps_rule_names_and_descriptions(cli, tmp_path):
    result = cli("check", HF, "--max-val-loss-rise", "0.5", "-f", "sarif", cwd=tmp_path)
    rules = {r["id"]: r for r in json.loads(result.stdout)["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["OF002"]["name"] == "val-loss-severe"
    assert rules["OF002"]["fullDescription"]["text"].startswith("Validation loss has risen")
    assert rules["CI002"]["name"] == "max-val-loss-rise"


def test_yaml_config_and_json_output(cli, project):
    cwd = project("check:\n  max-loss-gap-ratio: 2.0\nfail-on: never\n", name=".regadvisor.yaml")
    result = cli("check", HF, "--format", "json", cwd=cwd)
    assert result.returncode == 1  # val/train = 50 at the end
    report = json.loads(result.stdout)
    gate = next(f for f in report["findings"] if f["rule"] == "CI003")
    assert gate["status"] == "fired" and "exceeds the limit 2.00" in gate["message"]


@pytest.mark.parametrize("body,message", [
    ("[tool.regadvisor.check]\nmax-acc-gapp = 0.05\n", "unknown check gate(s): max-acc-gapp"),
    ("[tool.regadvisor.check]\nmax-acc-gap = 'five'\n", "check.max-acc-gap must be a number"),
    ("[tool.regadvisor.check\n", "invalid TOML"),
])
def test_bad_gate_config_exits_2(cli, project, body, message):
    result = cli("check", LIGHTNING, cwd=project(body))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_no_divergence_gate_shares_dv002s_condition_and_parameters(cli, tmp_path):
    log = tmp_path / "blowup.csv"
    rows = ["step,train_loss,val_loss"]
    for step in range(1, 101):
        loss = 2.0 * 0.97 ** step if step <= 60 else 0.4 * 1.08 ** (step - 60)  # learns, then blows up
        rows.append(f"{step},{loss:.5f},{(loss * 1.1 if step % 10 == 0 else ''):}")
    log.write_text("\n".join(rows) + "\n")
    fired = cli("check", str(log), "--no-divergence", "--fail-on", "never", "-f", "json", cwd=tmp_path)
    gate = next(f for f in json.loads(fired.stdout)["findings"] if f["rule"] == "CI006")
    assert fired.returncode == 1 and gate["status"] == "fired", fired.stdout[-400:]
    relaxed = cli("check", str(log), "--no-divergence", "--fail-on", "never", "-f", "json",
                  "--param", "DV002.min_ratio=1000", cwd=tmp_path)
    gate = next(f for f in json.loads(relaxed.stdout)["findings"] if f["rule"] == "CI006")
    assert relaxed.returncode == 0 and gate["status"] == "passed"
