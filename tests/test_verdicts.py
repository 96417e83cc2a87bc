"""`regadvisor diagnose` on every real public log gives the verdict its MANIFEST describes.

The MANIFEST (tests/fixtures/real-logs/MANIFEST.md) says what each run's curves do, read from
the file itself; these tests pin the verdict, its confidence where the MANIFEST asks for one,
and the best evaluation.
"""

from __future__ import annotations

import pytest

from regadvisor.api import diagnose
from tests.conftest import REAL_LOGS

CASES = [
    # file, verdict, best step, best epoch, best value (approx)
    ("hf/trainer_state_multi_eval.json", "overfitting", 401, 1, 1.11),
    ("lightning/mnist_cnn_metrics.csv", "healthy", None, 4, 0.039),
    ("tensorboard/mnist_cnn_version_0", "overfitting", 6875, None, 0.048),
    ("text/modded_nanogpt_adamw.log", "healthy", 9536, None, 3.276),
    ("text/modded_nanogpt_muon.txt", "healthy", 6200, None, 3.2785),
]


@pytest.mark.parametrize(("name", "verdict", "step", "epoch", "best"), CASES, ids=[c[0] for c in CASES])
def test_real_log_verdict(name, verdict, step, epoch, best):
    report = diagnose(REAL_LOGS / name)
    s = report.signals
    assert report.verdict == verdict, [f.rule_id for f in report.fired()]
    assert s["best_value"] == pytest.approx(best, abs=0.005)
    if step is not None:
        assert s["best_step"] == step
    if epoch is not None:
        assert s["best_epoch"] == epoch


def test_hf_overfitting_is_severe_and_uses_losses():
    report = diagnose(REAL_LOGS / "hf/trainer_state_multi_eval.json")
    fired = {f.rule_id for f in report.fired()}
    assert "OF002" in fired  # validation loss more than doubled: severe
    assert report.signals["gap_basis"] == "loss"  # HF logs carry no training accuracy
    assert report.verdict_confidence == "high"
    knobs = {r.knob: r for r in report.recommendations}
    assert knobs["dropout"].value == 0.3 and knobs["weight_decay"].value == 0.05
    assert knobs["early_stopping_patience"].unit == "epochs"


def test_tensorboard_early_overfitting_has_low_confidence():
    report = diagnose(REAL_LOGS / "tensorboard/mnist_cnn_version_0")
    assert report.verdict == "overfitting"
    assert report.verdict_confidence == "low"  # five evaluations cannot support more
    assert report.signals["val_worsening_rel"] == pytest.approx(0.19, abs=0.01)


def test_lightning_post_fit_validation_is_not_training():
    report = diagnose(REAL_LOGS / "lightning/mnist_cnn_metrics.csv")
    assert report.signals["n_evaluations"] == 5
    assert report.signals["final_value"] == pytest.approx(0.039, abs=0.001)
    assert any("after training ended" in w for w in report.run.warnings)
    assert report.recommendations == []
