"""`diagnose` on every run of the labelled real-log corpus gives its label (tests/fixtures/real-logs).

``labels.csv`` holds each run's label, written from the file's numbers by the definitions in
``MANIFEST.md``. A run regadvisor still gets wrong is listed in ``KNOWN_MISSES`` with the reason,
so the test fails on any regression and also when a miss is fixed (then it comes off the list).
``benchmarks/bench_verdicts.py`` prints the same score beside trainproof's.
"""

from __future__ import annotations

import csv

import pytest

from regadvisor.api import diagnose
from regadvisor.errors import UserError
from tests.conftest import REAL_LOGS

KNOWN_MISSES = {
    # run: (what regadvisor says, why)
    "text/dlwp_conv1d_imdb.txt": (
        "healthy", "val_loss rises 0.404 -> 0.430 (+6%) over the last four of ten epochs: on ten points the noise "
                   "estimate is too coarse to call a 6% rise more than noise (z = 2.2 < 3)"),
    "text/homl_cifar10_dnn_bn.txt": (
        "healthy", "val_loss +7% over 16 epochs with training loss also rising 9% at the end (the last, partial "
                   "epoch line); OF001 refuses to call a rise with rising training loss overfitting"),
}


def _runs() -> list[tuple[str, str]]:
    with open(REAL_LOGS / "labels.csv", newline="", encoding="utf-8") as f:
        return [(row["run"], row["label"]) for row in csv.DictReader(f)]


def _verdict(run: str) -> str:
    try:
        return diagnose(REAL_LOGS / run).verdict
    except UserError:
        return "refused"


RUNS = _runs()


def test_corpus_is_large_and_labelled():
    assert len(RUNS) >= 100
    assert {label for _, label in RUNS} >= {"healthy", "overfitting", "unstable", "not-learning", "insufficient-data"}
    assert set(KNOWN_MISSES) <= {run for run, _ in RUNS}


@pytest.mark.parametrize(("run", "label"), RUNS, ids=[r for r, _ in RUNS])
def test_corpus_verdict(run, label):
    got = _verdict(run)
    if run in KNOWN_MISSES:
        assert got == KNOWN_MISSES[run][0], f"known miss changed: now {got} (labelled {label}); update KNOWN_MISSES"
    else:
        assert got == label


def test_corpus_score_and_no_healthy_run_called_overfitting():
    verdicts = {run: _verdict(run) for run, _ in RUNS}
    right = sum(verdicts[run] == label for run, label in RUNS)
    assert right / len(RUNS) >= 0.95
    assert not [run for run, label in RUNS if label == "healthy" and verdicts[run] == "overfitting"]


def test_no_recommendation_is_surer_than_its_verdict():
    from regadvisor.model import CONFIDENCES

    for run, _ in RUNS:
        try:
            report = diagnose(REAL_LOGS / run)
        except UserError:
            continue
        ceiling = CONFIDENCES.index(report.verdict_confidence)
        assert all(CONFIDENCES.index(r.confidence) <= ceiling for r in report.recommendations), run


def test_train_mode_regularization_is_not_underfitting():
    """Alpha dropout on: training accuracy (taken in train mode) ends 3.4 points below validation."""
    report = diagnose(REAL_LOGS / "text/homl_fashion_alpha_dropout.txt")
    status = {f.rule_id: f.status for f in report.findings}
    assert status["DA003"] == "fired" and status["UF001"] == "not-applicable" and report.verdict == "healthy"


def test_epoch_averaged_training_accuracy_lagging_early_is_still_underfitting():
    """Keras averages training accuracy over each epoch: 6.9 points below validation at epoch 4 of a
    fast-learning run, 2.3 at the end. That lag is not noisy labels; the run underfits."""
    report = diagnose(REAL_LOGS / "text/homl_fashion_relu_100_layers_sgd.txt")
    status = {f.rule_id: f.status for f in report.findings}
    assert status["DA003"] == "passed" and status["UF001"] == "fired"


def test_a_file_of_two_runs_is_judged_run_by_run():
    from regadvisor.api import diagnose_runs

    path = REAL_LOGS / "text/homl3_stacked_autoencoder_two_runs.txt"
    reports = diagnose_runs([path]).reports
    assert [r.source for r in reports] == [f"{path}#1", f"{path}#2"]
    assert [len(r.run.series["val_loss"]) for r in reports] == [10, 10]
    assert reports[0].run.series["train_loss"].values[0] == 0.0202  # the first model
    assert reports[1].run.series["train_loss"].values[0] == 0.1377  # a new one: its loss starts over


def test_training_accuracy_below_validation_throughout_is_healthy_not_underfitting():
    """A graph network whose training accuracy stays 3 points under validation to the end (DA003)."""
    report = diagnose(REAL_LOGS / "text/dlm_gnn_basic_mnist.txt")
    status = {f.rule_id: f.status for f in report.findings}
    assert status["DA003"] == "fired" and report.verdict == "healthy"
