"""The CSV-family readers on real and library-written logs (see tests/fixtures/*/MANIFEST/PROVENANCE)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from regadvisor.logs.read import read_log
from regadvisor.logs.registry import ReadOptions

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REAL = FIXTURES / "real-logs"
GEN = FIXTURES / "logs"


def test_real_lightning_metrics_csv_sets_post_fit_rows_aside():
    run = read_log(REAL / "lightning" / "mnist_cnn_metrics.csv")
    assert run.format == "lightning"
    val = run.series["val_loss"]
    # Five epochs of training, five validations; the post-fit validate() at step 8595 (0.014) is not one.
    assert list(val.steps) == [1718, 3437, 5156, 6875, 8594]
    assert list(val.epochs) == [0, 1, 2, 3, 4]
    assert val.values[0] == pytest.approx(0.07106363773345947)
    assert val.values[-1] == pytest.approx(0.03915119916200638)
    assert len(run.series["val_acc"]) == 5
    assert len(run.series["train_loss"]) == 171
    assert run.series["train_loss"].steps[0] == 49
    test = run.series["test_loss"]
    assert list(test.values) == [pytest.approx(0.0322248712182045)] and list(test.steps) == [8595]
    assert any("post-fit" in w and "0.01422" in w for w in run.warnings)


def test_lightning_written_by_lightning_reads_hparams_into_facts():
    run = read_log(GEN / "lightning" / "lightning_logs" / "version_0" / "metrics.csv")
    assert run.format == "lightning"
    assert len(run.series["val_loss"]) == 6 and max(run.series["val_loss"].epochs) == 5
    assert len(run.series["test_loss"]) == 1 and len(run.series["test_acc"]) == 1
    assert any("post-fit" in w for w in run.warnings)
    facts = run.facts
    assert facts["learning_rate"] == 0.001 and facts["batch_size"] == 16 and facts["dropout"] == 0.1
    assert facts["optimizer"] == "adam" and facts["weight_decay"] == 0.0 and facts["num_classes"] == 3


def test_lightning_hparams_spellings_are_normalised(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step,train_loss_step,val_loss\n0,9,1.0,\n0,9,,1.2\n")
    (tmp_path / "hparams.yaml").write_text(
        "learning_rate: 3e-4\nbs: 64\nwd: 0.01\nmodel:\n  dropout_rate: 0.2\n  n_classes: 10\noptim: torch.optim.AdamW\n")
    run = read_log(tmp_path / "metrics.csv")
    assert run.facts["learning_rate"] == 3e-4  # YAML 1.1 reads 3e-4 as a string; the fact is a number
    assert run.facts["batch_size"] == 64 and run.facts["weight_decay"] == 0.01
    assert run.facts["dropout"] == 0.2 and run.facts["num_classes"] == 10 and run.facts["optimizer"] == "adamw"
    assert "train_loss" in run.series


def test_broken_hparams_yaml_costs_facts_not_the_run(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step,train_loss,val_loss\n0,9,1.0,\n0,9,,1.2\n")
    (tmp_path / "hparams.yaml").write_text("lr: !!python/object:builtins.dict {}\n")
    run = read_log(tmp_path / "metrics.csv")
    assert run.facts == {} and any("hparams.yaml ignored" in w for w in run.warnings)


@pytest.mark.parametrize("name", ["training.log", "history_pandas.csv"])
def test_keras_csvlogger_and_pandas_history(name):
    run = read_log(GEN / "keras" / name)
    assert run.format == "keras"
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(run.series)
    assert list(run.series["val_loss"].epochs) == list(range(12))
    assert run.series["train_acc"].values[-1] > 0.9 > run.series["train_acc"].values[0]


def test_keras_history_json_matches_its_csv():
    from_json = read_log(GEN / "keras" / "history.json")
    from_csv = read_log(GEN / "keras" / "training.log")
    assert from_json.format == "json"
    for name in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert list(from_json.series[name].values) == pytest.approx(list(from_csv.series[name].values))
        assert list(from_json.series[name].epochs) == list(from_csv.series[name].epochs)


def test_keras_loop_of_one_epoch_fits_is_one_run_continued():
    run = read_log(GEN / "keras" / "appended.csv")  # four fit(epochs=1) calls appended: epoch 0 every row
    assert list(run.series["val_loss"].epochs) == [0, 1, 2, 3] and run.earlier == []
    assert any("starts again 3 times where the loss carries on" in w for w in run.warnings)


def test_keras_history_without_epoch_column(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("loss,accuracy,val_loss,val_accuracy\n1.0,0.5,1.1,0.45\n0.8,0.6,1.0,0.5\n0.6,0.7,1.05,0.52\n")
    run = read_log(path)
    assert run.format == "keras"
    assert list(run.series["train_loss"].epochs) == [0, 1, 2]
    assert run.series["train_acc"].values[-1] == 0.7 and run.series["val_acc"].values[-1] == 0.52


def test_fastai_unprefixed_metrics_are_validation():
    run = read_log(GEN / "fastai" / "history.csv")
    assert run.format == "fastai"
    assert {"train_loss", "val_loss", "val_acc", "val_error_rate"} <= set(run.series)
    assert "train_acc" not in run.series and "time" not in run.series
    assert run.series["val_acc"].original_name == "valid_accuracy"
    assert list(run.series["val_loss"].epochs) == list(range(8))


def test_fastai_na_cells_are_missing_values(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,train_loss,valid_loss,accuracy,time\n0,1.2,#na#,#na#,00:03\n1,1.0,0.9,0.7,00:03\n")
    run = read_log(path)
    assert list(run.series["val_loss"].values) == [0.9] and list(run.series["val_loss"].epochs) == [1]
    assert run.warnings == []


def test_yolo_results_csv_sums_the_training_parts_and_keeps_validation_parts_apart():
    run = read_log(GEN / "yolo" / "results.csv")
    assert run.format == "yolo"
    parts = [run.series[f"train_{p}_loss"].values[0] for p in ("box", "cls", "dfl")]
    assert run.series["train_loss"].values[0] == pytest.approx(sum(parts))
    assert "val_loss" not in run.series
    assert {run.series[f"val_{p}_loss"].part_of for p in ("box", "cls", "dfl")} == {"val_loss"}
    assert len(run.series["val_map"]) == 10 and list(run.series["val_map"].epochs) == list(range(10))
    assert run.series["val_map"].original_name == "metrics/mAP50-95(B)"
    assert run.series["learning_rate"].original_name == "lr/pg0"
    assert run.facts["learning_rate"] == 0.01 and run.facts["batch_size"] == 16 and run.facts["optimizer"] == "sgd"


def test_generic_csv_with_spaced_names_and_iteration_column():
    run = read_log(GEN / "generic" / "log.csv")
    assert run.format == "csv"
    assert len(run.series["train_loss"]) == 30 and len(run.series["val_loss"]) == 6
    assert list(run.series["val_loss"].steps) == [0, 50, 100, 150, 200, 250]
    assert "val_f1" in run.series


def test_user_metric_map_names_an_unknown_column(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,objective,heldout\n1,2.0,2.2\n2,1.5,2.1\n")
    run = read_log(path, options=ReadOptions(metric_map={"train_loss": "objective", "val_loss": "heldout"}))
    assert list(run.series["train_loss"].values) == [2.0, 1.5]
    assert list(run.series["val_loss"].steps) == [1, 2]


def test_nan_and_inf_are_kept_with_a_warning(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss,val_loss\n0,1,1.0,\n0,2,nan,\n0,3,inf,\n0,3,,nan\n")
    run = read_log(path)
    values = list(run.series["train_loss"].values)
    assert values[0] == 1.0 and math.isnan(values[1]) and math.isinf(values[2])
    assert any("NaN/inf" in w for w in run.warnings)


def test_all_nan_file_is_still_a_run(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,loss,val_loss\n1,nan,nan\n2,nan,nan\n")
    run = read_log(path)
    assert len(run.series["train_loss"]) == 2 and all(math.isnan(v) for v in run.series["val_loss"].values)


def test_truncated_last_row_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss,val_loss\n0,1,1.0,\n0,2,0.9,\n0,3,0.")
    run = read_log(path)
    assert list(run.series["train_loss"].values) == [1.0, 0.9]
    assert any("still be writing" in w for w in run.warnings)


def test_non_numeric_cells_are_counted(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,loss,note\n1,1.0,start\n2,oops,\n3,0.8,\n")
    run = read_log(path)
    assert list(run.series["train_loss"].values) == [1.0, 0.8]
    assert any("'loss': 1 non-numeric" in w for w in run.warnings)
    assert any("'note'" in w for w in run.warnings)


def test_post_fit_validation_at_the_last_evaluated_step_is_set_aside(tmp_path):
    # max_steps ended training mid-epoch: validate() repeats step 6 in the same epoch.
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss,val_loss\n0,2,1.0,\n0,2,,1.1\n0,5,0.8,\n0,6,,0.9\n0,6,,0.7\n")
    run = read_log(path)
    assert list(run.series["val_loss"].values) == [1.1, 0.9]
    assert any("val_loss=0.7" in w for w in run.warnings)


def test_validation_only_lightning_log_keeps_every_point(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,val_loss\n0,9,1.2\n1,19,1.1\n2,29,1.0\n")
    run = read_log(path)
    assert list(run.series["val_loss"].values) == [1.2, 1.1, 1.0] and run.warnings == []


def test_excel_style_csv_with_bom_and_crlf(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes("\ufeffepoch,loss,val_loss\r\n0,1.0,1.2\r\n1,0.8,1.1\r\n".encode())
    run = read_log(path)
    assert list(run.series["val_loss"].values) == [1.2, 1.1] and list(run.series["train_loss"].epochs) == [0, 1]
