"""`regadvisor probe` on three real training scripts, unmodified (examples/scripts/):
pytorch/examples' mnist/main.py (its dataset swapped for bundled digits), a Lightning
LightningModule + Trainer.fit script and a Hugging Face Trainer script with a tiny BERT built
from a config. Each report must carry per-layer gradient statistics, the validation curve the
script itself reported, the facts (optimizer, dropout, norms) and recommendations; --verify must
measure the advice on the first two. Each probe is one real run of the script in a child process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regadvisor import api
from tests.conftest import ROOT, run_cli

SCRIPTS = ROOT / "examples" / "scripts"


def _probe(tmp: Path, script: str, *args: str) -> tuple[dict, str]:
    result = run_cli("probe", str(SCRIPTS / script), "-f", "json", *args, cwd=tmp)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return json.loads(result.stdout), result.stderr


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    return _probe(tmp_path_factory.mktemp("mnist"), "mnist_main.py", "--", "--epochs", "3")


@pytest.fixture(scope="module")
def lightning(tmp_path_factory):
    pytest.importorskip("lightning")
    return _probe(tmp_path_factory.mktemp("lightning"), "lightning_digits.py", "--", "--epochs", "8")


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    pytest.importorskip("transformers")
    return _probe(tmp_path_factory.mktemp("hf"), "hf_trainer_tiny.py", "--quiet")


def _layers(report: dict) -> list[str]:
    stats = report["run"]["facts"]["layer_stats"]
    assert all(g is not None and g > 0 for s in stats if s["kind"] != "embedding" for g in s["grad_norm"])
    return [s["name"] for s in stats]


def _knobs(report: dict) -> dict[str, dict]:
    return {r["knob"]: r for r in report["recommendations"]}


def test_mnist_example_reports_from_its_own_test_lines(mnist):
    report, stderr = mnist
    assert "Test set: Average loss:" in stderr  # the script's own output passed through
    facts = report["run"]["facts"]
    assert _layers(report) == ["conv1", "conv2", "fc1", "fc2"]
    assert report["run"]["metrics"]["val_loss"] == {"points": 3, "original_name": "test loss"}
    assert report["run"]["metrics"]["val_acc"]["points"] == 3
    assert facts["program"]["curves_from"] == "the script's output (regadvisor's text-log reader)"
    assert facts["optimizer"] == "adadelta" and facts["dropout"] == 0.5 and facts["normalization"] == "none"
    assert facts["train_length"] == {"epochs": 3} and facts["steps_per_epoch"] == 23
    assert facts["num_train_examples"] == 1437 and facts["batch_size"] == 64 and facts["num_classes"] == 10
    assert _knobs(report)["dropout"]["current"] == 0.5  # UF003: strong dropout holds it back


def test_lightning_example_reports_from_its_logged_metrics(lightning):
    report, stderr = lightning
    facts = report["run"]["facts"]
    assert _layers(report) == ["net.0", "net.3", "net.6"]
    metrics = report["run"]["metrics"]
    assert metrics["val_loss"]["points"] == 8 and metrics["val_acc"]["points"] == 8 and "train_acc" in metrics
    assert facts["program"]["framework"] == "lightning" and facts["framework"] == "lightning"
    assert facts["train_length"] == {"epochs": 8} and facts["train_length_source"] == "Trainer(max_epochs=8)"
    assert facts["optimizer"] == "adam" and facts["adam_coupled_weight_decay"] is True and facts["dropout"] == 0.1
    assert _knobs(report)["optimizer"]["value"] == "adamw"  # OPT001: Adam's weight_decay is coupled L2
    assert "max_epochs=8" in stderr  # Lightning's own output


def test_hf_example_overfits_and_is_stopped_past_its_best(hf):
    report, _ = hf
    facts = report["run"]["facts"]
    layers = _layers(report)
    assert layers[0] == "bert.embeddings.word_embeddings" and layers[-1] == "classifier"
    assert report["run"]["metrics"]["val_loss"]["original_name"] == "eval_loss"
    assert report["run"]["metrics"]["val_acc"]["original_name"] == "eval_accuracy"
    assert facts["program"]["framework"] == "transformers"
    assert facts["train_length"] == {"epochs": 40} and facts["stop_reason"] == "past-best" and facts["probe_epochs"] < 40
    assert facts["optimizer"] == "adamw" and facts["dropout"] == 0.1 and facts["normalization"] == "layernorm"
    assert facts["has_residual"] is True and facts["grad_clip_norm"] == 1.0  # BertLayer; the Trainer's max_grad_norm
    assert report["verdict"] == "overfitting"
    assert {"dropout", "weight_decay", "early_stopping_patience"} <= set(_knobs(report))
    assert any(n.startswith("the script's own output is in ") for n in report["notes"])


def _verified(tmp: Path, script: str, *args: str):
    log = tmp / "script.log"
    # one worker: the log then holds exactly the trials (more workers also run speculative ones)
    report = api.probe(SCRIPTS / script, args=list(args), verify=True, budget="4x", verify_seeds=2, script_log=log,
                       workers=1)
    summary = next(n for n in report.notes if getattr(n, "kind", None) == "verified")
    return report, summary.values, log.read_text()


def _measured(report, knob: str) -> bool:
    """Trained in the trials: kept with a verified block, or dropped as not better ("not-kept")."""
    kinds = {n.kind for n in report.notes if getattr(n, "knob", None) == knob}
    return "not-verified" not in kinds and (
        "not-kept" in kinds or any(r.knob == knob and r.verified for r in report.recommendations))


def test_verify_measures_the_advice_on_the_mnist_example(tmp_path):
    report, summary, log = _verified(tmp_path, "mnist_main.py", "--epochs", "2")
    assert summary["screened"] >= 1 and summary["trials"] >= 2 and summary["length"] == 2
    # every trial a fresh run of the script, and one more: the one-step check of which knobs apply
    assert log.count("Train Epoch: 1 [0/1437") == summary["trials"] + 1
    assert _measured(report, "dropout")


def test_verify_measures_the_advice_on_the_lightning_example(tmp_path):
    pytest.importorskip("lightning")
    report, summary, log = _verified(tmp_path, "lightning_digits.py", "--epochs", "8")
    assert summary["screened"] >= 1 and summary["trials"] >= 2
    assert log.count("`Trainer.fit` stopped") == summary["trials"]
    assert _measured(report, "optimizer") and _measured(report, "weight_decay")
