"""examples/ci: the tiny training passes and fails the example's gates as it should, and the
workflow and pre-commit definitions parse and name commands, options and files that exist."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, run_cli

CI = ROOT / "examples" / "ci"


def _train(out, *extra):
    done = subprocess.run([sys.executable, str(CI / "train_tiny.py"), "--out", str(out), *extra], check=False, cwd=CI,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "metrics.jsonl").is_file() and (out / "hparams.yaml").is_file()
    return out / "metrics.jsonl"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    pytest.importorskip("torch")
    tmp = tmp_path_factory.mktemp("ci")
    return _train(tmp / "healthy"), _train(tmp / "overfit", "--overfit")


def test_check_passes_the_healthy_run(logs):
    healthy, _ = logs
    done = run_cli("check", str(healthy), cwd=CI)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "regadvisor check: PASSED" in done.stdout
    assert "max-acc-gap" in done.stdout and "max-val-loss-rise" in done.stdout


def test_check_fails_the_overfitting_run(logs):
    _, overfit = logs
    done = run_cli("check", str(overfit), cwd=CI)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "regadvisor check: FAILED" in done.stdout
    assert "OVERFITTING" in done.stdout


def test_check_writes_sarif_for_the_upload_step(logs, tmp_path):
    _, overfit = logs
    sarif = tmp_path / "regadvisor.sarif"
    done = run_cli("check", str(overfit), "--format", "sarif", "-o", str(sarif), cwd=CI)
    assert done.returncode == 1, done.stderr
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert {"CI001", "CI002"} <= {r["ruleId"] for r in results}


def test_hparams_are_yaml(logs):
    healthy, _ = logs
    facts = yaml.safe_load((healthy.parent / "hparams.yaml").read_text())
    assert facts["optimizer"] == "adamw" and facts["weight_decay"] == 0.01 and facts["dropout"] == 0.1


# --- the definitions ---------------------------------------------------------------------------

def _check_command():
    import typer

    from regadvisor.cli import app

    group = typer.main.get_command(app)
    return group.commands["check"]


def _assert_regadvisor_command(line: str) -> list[str]:
    """``regadvisor check ...``: the sub-command exists and every option is one it accepts."""
    words = shlex.split(line)
    assert words[:2] == ["regadvisor", "check"], line
    known = {opt for param in _check_command().params for opt in (*param.opts, *param.secondary_opts)}
    for word in words[2:]:
        if word.startswith("-"):
            assert word.split("=", 1)[0] in known, f"{word} is not an option of regadvisor check"
    return words


def test_workflow_parses_and_names_what_exists():
    workflow = yaml.safe_load((CI / "regadvisor.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    job = workflow["jobs"]["train-and-check"]
    workdir = ROOT / job["defaults"]["run"]["working-directory"]
    assert workdir == CI
    steps = job["steps"]
    runs = [line.strip() for s in steps for line in s.get("run", "").splitlines() if line.strip()]

    train = next(shlex.split(line) for line in runs if "train_tiny.py" in line)
    assert (workdir / train[1]).is_file()
    out = train[train.index("--out") + 1]

    checks = [_assert_regadvisor_command(line) for line in runs if line.startswith("regadvisor check")]
    assert len(checks) == 2
    for words in checks:  # each check reads the log the training step wrote
        assert words[2] == f"{out}/metrics.jsonl"
    sarif_check = next(w for w in checks if "sarif" in w)
    written = sarif_check[sarif_check.index("-o") + 1]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert ROOT / upload["with"]["sarif_file"] == workdir / written

    install = next(line for line in runs if "pip install ../.." in line)
    assert (workdir / "../.." / "pyproject.toml").resolve() == ROOT / "pyproject.toml", install
    assert any("download.pytorch.org/whl/cpu" in line for line in runs)
    assert (workdir / ".regadvisor.yaml").is_file()


def test_gate_config_loads():
    from regadvisor.config import load_settings
    from regadvisor.gates import compile_gates

    settings = load_settings(CI / ".regadvisor.yaml")
    rules, required = compile_gates(settings.check, settings.source)
    assert {r.id for r in rules} >= {"CI001", "CI002", "CI006"} and required == {"CI001", "CI002"}


def test_pre_commit_hook_definition():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "regadvisor-check")
    _assert_regadvisor_command(hook["entry"])
    assert hook["language"] == "python"
    files = re.compile(hook["files"])
    for path in ("metrics.csv", "lightning_logs/version_0/metrics.csv", "out/checkpoint-500/trainer_state.json",
                 "runs/a/metrics.jsonl", "history.jsonl"):
        assert files.search(path), path
    for path in ("train.py", "runs/a/hparams.yaml", "metrics.csv.bak", "notes/metrics.md"):
        assert not files.search(path), path

    user = yaml.safe_load((CI / "pre-commit-config.yaml").read_text())
    used = [h for repo in user["repos"] for h in repo["hooks"]]
    assert {h["id"] for h in used} <= {h["id"] for h in hooks}
    narrowed = re.compile(used[0]["files"])
    assert narrowed.search("runs/tiny/metrics.jsonl") and not narrowed.search("data/train.jsonl")
