"""Logs that can be read but not judged get an insufficient-data report that says what is missing
(exit 0; ``check --require`` fails them), and the validation metric is whatever the run held out."""

from __future__ import annotations

import pytest

from regadvisor import api
from regadvisor.config import Settings
from regadvisor.model import Run, Series

SETTINGS = Settings()


def _diagnose(path):
    return api.diagnose(path, settings=SETTINGS)


@pytest.mark.parametrize("name, content, missing", [
    ("metrics.csv", "epoch,step,train_loss,val_loss\n", "the log names train_loss, val_loss but holds no values yet"),
    ("progress.csv", "episode,reward,length\n1,10.0,200\n2,20.0,180\n3,35.0,160\n4,50,150\n",
     "no loss or accuracy metric regadvisor knows; the log holds length, reward"),
    ("train.log", "Loading data\nTraining done.\nTest accuracy: 0.9123\n", "only a final test result (Test accuracy 0.9123)"),
    ("train.log", "epoch 1 loss 0.9\nepoch 2 loss 0.7\nepoch 3 loss 0.6\n", "no validation metric; the log holds only loss"),
])
def test_readable_but_not_enough_is_an_insufficient_data_report(tmp_path, name, content, missing):
    path = tmp_path / name
    path.write_text(content)
    report = _diagnose(path)
    assert report.verdict == "insufficient-data"
    assert missing in report.signals["missing_data"]
    da002 = next(f for f in report.findings if f.rule_id == "DA002")
    assert da002.status == "fired" and missing in da002.message
    assert api.diagnose_runs([path], settings=SETTINGS).exit_code == 0
    required = api.check([path], settings=SETTINGS, require=True)
    assert required.exit_code == 1
    assert next(f for f in required.reports[0].findings if f.rule_id == "DA002").severity == "error"
    assert api.check([path], settings=SETTINGS).exit_code == 0


def test_too_few_evaluations_fail_check_require(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.8,1.0\n")
    assert api.check([path], settings=SETTINGS).exit_code == 0
    outcome = api.check([path], settings=SETTINGS, require=True)
    assert outcome.exit_code == 1 and [f.rule_id for f in outcome.failures(outcome.reports[0])] == ["DA001"]


def test_pytorch_mnist_example_test_set_is_its_validation(tmp_path):
    path = tmp_path / "mnist.log"
    lines = []
    for epoch, (train, test, correct) in enumerate([(0.30, 0.0505, 9840), (0.12, 0.0402, 9868), (0.08, 0.0345, 9889),
                                                    (0.06, 0.0321, 9899), (0.05, 0.0300, 9905)], 1):
        lines += [f"Train Epoch: {epoch} [0/60000 (0%)]\tLoss: {train * 2:.6f}",
                  f"Train Epoch: {epoch} [59520/60000 (99%)]\tLoss: {train:.6f}", "",
                  f"Test set: Average loss: {test:.4f}, Accuracy: {correct}/10000 ({correct // 100}%)", ""]
    path.write_text("\n".join(lines) + "\n")
    report = _diagnose(path)
    assert report.signals["monitor"] == "val_loss" and report.signals["n_evaluations"] == 5
    assert report.run.series["val_acc"].values[-1] == pytest.approx(0.9905)
    assert any("judged as validation" in w for w in report.run.warnings)
    assert report.verdict == "healthy"


def test_a_single_final_test_point_stays_a_test_result(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("epoch 1 loss 0.9 val_loss 1.0\nepoch 2 loss 0.7 val_loss 0.9\nTest set: Average loss: 0.8\n")
    run = api.read(path)
    assert run.series["val_loss"].original_name == "val_loss" and len(run.series["test_loss"]) == 1


@pytest.mark.parametrize("monitor", ["val_map", "val_r2"])
def test_scores_are_judged_higher_is_better(monitor):
    run = Run("generated", "test")
    values = [0.2, 0.35, 0.5, 0.58, 0.61, 0.6, 0.59]
    run.series[monitor] = Series.from_points(monitor, values, epochs=range(len(values)))
    report = api.analyze(run, api.load_ruleset())
    assert report.signals["monitor"] == monitor
    assert report.signals["best_index"] == 4 and report.signals["best_value"] == 0.61
    assert report.signals["val_worsening_rel"] == pytest.approx((0.61 - 0.595) / 0.61)  # median after the best


def test_losses_only_run_at_chance_is_not_learning(tmp_path):
    """A Trainer run with losses only, falling 13% (2.45 → 2.13, more than flatness allows) to 92%
    of chance (ln 10 = 2.303): only the class count in config.json shows it learned nothing."""
    import json
    import random

    rng = random.Random(0)
    history = []
    for step in range(1, 201):
        history.append({"loss": 2.45 - 0.32 * step / 200 + rng.gauss(0, 0.01), "step": step, "epoch": step / 20})
        if step % 20 == 0:
            history.append({"eval_loss": 2.40 - 0.25 * step / 200, "step": step, "epoch": step / 20})
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["ViTForImageClassification"],
                                                      "id2label": {str(i): f"digit {i}" for i in range(10)}}))
    report = _diagnose(tmp_path / "trainer_state.json")
    assert report.signals["chance_loss"] == pytest.approx(2.302585)
    assert report.verdict == "not-learning"
    assert "NL004" in {f.rule_id for f in report.fired()}
    (tmp_path / "config.json").unlink()
    assert _diagnose(tmp_path / "trainer_state.json").verdict == "healthy"  # without K: nothing to compare to
