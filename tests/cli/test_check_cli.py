"""`regadvisor check`: CI gates from project config, judged / not judged / required, exit codes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REAL_LOGS

HF = str(REAL_LOGS / "hf/trainer_state_multi_eval.json")
LIGHTNING = str(REAL_LOGS / "lightning/mnist_cnn_metrics.csv")


@pytest.fixture
def project(tmp_path):
    def write(body: str, name: str = "pyproject.toml"):
        (tmp_path / name).write_text(body)
        return tmp_path
    return write


def test_gate_passes_fails_and_is_not_judged_without_data(cli, project):
    cwd = project("[tool.regadvisor.check]\nmax-val-loss-rise = 0.5\nmax-acc-gap = 0.05\nno-divergence = true\n")
    ok = cli("check", LIGHTNING, cwd=cwd)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "max-acc-gap" in ok.stdout and "not judged — lacks acc_gap_end" in ok.stdout
    assert "regadvisor check: PASSED" in ok.stdout
    bad = cli("check", HF, cwd=cwd)
    assert bad.returncode == 1
    assert "FAILED" in bad.stdout and "1.289" in bad.stdout  # the measured rise is shown


def test_require_turns_not_judged_into_failure(cli, project):
    cwd = project("[tool.regadvisor.check]\nmax-acc-gap = 0.05\n")
    assert cli("check", LIGHTNING, "--fail-on", "never", cwd=cwd).returncode == 0
    result = cli("check", LIGHTNING, "--require", cwd=cwd)
    assert result.returncode == 1 and "not judged (required)" in result.stdout
    cwd = project("[tool.regadvisor.check]\nmax-acc-gap = 0.05\nrequire = ['max-acc-gap']\n")
    assert cli("check", LIGHTNING, cwd=cwd).returncode == 1


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
    ("[tool.regadvisor]\nfail-on = 'warning'\n", "no gates configured"),
    ("[tool.regadvisor.check\n", "invalid TOML"),
])
def test_bad_gate_config_exits_2(cli, project, body, message):
    result = cli("check", LIGHTNING, cwd=project(body))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
