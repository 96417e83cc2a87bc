"""The Hugging Face trainer_state.json reader and the generic JSON/JSONL readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regadvisor.logs.read import read_log

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REAL = FIXTURES / "real-logs"
GEN = FIXTURES / "logs"


def test_real_trainer_state_with_six_eval_sets():
    run = read_log(REAL / "hf" / "trainer_state_multi_eval.json")
    assert run.format == "hf"
    val = run.series["val_loss"]
    assert val.original_name == "eval_g0_loss" and len(val) == 31
    assert min(val.values) == pytest.approx(1.113750696182251)
    assert val.values[-1] == pytest.approx(2.75, abs=0.01)
    train = run.series["train_loss"]
    assert len(train) == 30 and train.values[0] == pytest.approx(1.1074) and train.values[-1] == pytest.approx(0.0549)
    assert train.steps[0] == 401 and train.epochs[-1] == 30
    assert len(run.series["grad_norm"]) == 30 and len(run.series["learning_rate"]) == 30
    assert any("eval_g0_loss as val_loss" in w for w in run.warnings)
    assert not any(k.endswith(("runtime", "per_second")) for k in run.series)
    assert run.facts["train_batch_size"] == 4 and run.facts["batch_size"] == 4
    assert run.facts["num_train_epochs"] == 30 and run.facts["max_epochs"] == 30
    assert "best_metric" in run.facts and "log_history" not in run.facts


def _state(tmp_path: Path, history: list, **top) -> Path:
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": history, "train_batch_size": 8, **top}))
    return path


def test_training_summary_is_a_fact_not_a_point(tmp_path):
    path = _state(tmp_path, [
        {"loss": 2.0, "grad_norm": 1.5, "learning_rate": 5e-5, "epoch": 0.5, "step": 10},
        {"eval_loss": 1.9, "eval_accuracy": 0.4, "eval_runtime": 1.0, "epoch": 0.5, "step": 10},
        {"loss": 1.5, "learning_rate": 4e-5, "epoch": 1.0},  # no step: HF sometimes omits it
        {"train_runtime": 12.0, "train_samples_per_second": 9.0, "train_steps_per_second": 1.0,
         "total_flos": 1e12, "train_loss": 1.75, "epoch": 1.0, "step": 20},
    ], best_metric=1.9)
    run = read_log(path)
    assert list(run.series["train_loss"].values) == [2.0, 1.5]
    assert run.series["train_loss"].steps[0] == 10 and run.series["train_loss"].epochs[1] == 1.0
    assert str(run.series["train_loss"].steps[1]) == "nan"
    assert list(run.series["val_loss"].values) == [1.9] and list(run.series["val_acc"].values) == [0.4]
    assert run.facts["train_summary"]["train_loss"] == 1.75
    assert run.facts["best_metric"] == 1.9 and run.facts["batch_size"] == 8


def test_model_config_beside_the_state_gives_dropout(tmp_path):
    path = _state(tmp_path, [{"loss": 2.0, "step": 1, "epoch": 0.1}, {"eval_loss": 2.1, "step": 1, "epoch": 0.1}])
    (tmp_path / "config.json").write_text(json.dumps({"hidden_dropout_prob": 0.1, "num_labels": 5, "vocab_size": 9}))
    run = read_log(path)
    assert run.facts["dropout"] == 0.1 and run.facts["num_classes"] == 5 and "vocab_size" not in run.facts


@pytest.mark.parametrize("config, classes", [
    ({"architectures": ["BertForSequenceClassification"], "id2label": {"0": "LABEL_0", "1": "LABEL_1"}}, 2),
    ({"id2label": {str(i): name for i, name in enumerate(["neg", "neu", "pos"])}}, 3),
    ({"architectures": ["GPT2LMHeadModel"], "id2label": {"0": "LABEL_0", "1": "LABEL_1"}}, None),  # the default
])
def test_class_count_from_id2label(tmp_path, config, classes):
    path = _state(tmp_path, [{"loss": 2.0, "step": 1, "epoch": 0.1}])
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert read_log(path).facts.get("num_classes") == classes


def test_state_without_log_history_is_an_error(tmp_path):
    from regadvisor.errors import LogReadError

    path = tmp_path / "trainer_state.json"
    path.write_text('{"global_step": 3}')
    with pytest.raises(LogReadError, match="log_history"):
        read_log(path)


def test_jsonl_with_nested_names():
    run = read_log(GEN / "generic" / "metrics.jsonl")
    assert run.format == "jsonl"
    assert run.series["train_loss"].original_name == "train/loss" and len(run.series["train_loss"]) == 30
    assert list(run.series["val_loss"].steps) == [0, 50, 100, 150, 200, 250]
    assert "step" not in run.series


def test_jsonl_truncated_last_line_is_skipped(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n{"step": 3, "lo')
    run = read_log(path)
    assert list(run.series["train_loss"].values) == [1.0, 0.9]
    assert any("still be writing" in w for w in run.warnings)


def test_jsonl_nan_values_are_kept(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": NaN}\n')
    run = read_log(path)
    assert len(run.series["train_loss"]) == 2 and any("NaN/inf" in w for w in run.warnings)


def test_json_list_of_records(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"history": [{"epoch": 0, "loss": 1.0, "val_loss": 1.1},
                                            {"epoch": 1, "loss": 0.8, "val_loss": 1.0}]}))
    run = read_log(path)
    assert run.format == "json" and list(run.series["val_loss"].epochs) == [0, 1]


def test_accuracy_of_the_chosen_eval_set_is_the_validation_accuracy():
    run = read_log(REAL / "hf" / "trainer_state_multi_eval.json")
    assert run.series["val_acc"].original_name == "eval_g0_accuracy"
    assert run.series["val_acc"] is run.series["val_g0_accuracy"]
    assert any("eval_g0_accuracy as val_acc" in w for w in run.warnings)
