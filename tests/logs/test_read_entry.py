"""read_log's auto-detection, folder search and find_runs."""

from __future__ import annotations

import csv

import json
import shutil
from pathlib import Path

import pytest

from regadvisor.errors import LogReadError
from regadvisor.logs.read import detect, find_runs, read_log

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REAL = FIXTURES / "real-logs"
GEN = FIXTURES / "logs"


@pytest.mark.parametrize("path, fmt", [
    (REAL / "lightning" / "mnist_cnn_metrics.csv", "lightning"),
    (REAL / "hf" / "trainer_state_multi_eval.json", "hf"),
    (REAL / "text" / "modded_nanogpt_adamw.log", "text"),
    (REAL / "text" / "modded_nanogpt_muon.txt", "text"),
    (GEN / "lightning" / "lightning_logs" / "version_0" / "metrics.csv", "lightning"),
    (GEN / "keras" / "training.log", "keras"),
    (GEN / "keras" / "history_pandas.csv", "keras"),
    (GEN / "keras" / "history.json", "json"),
    (GEN / "fastai" / "history.csv", "fastai"),
    (GEN / "yolo" / "results.csv", "yolo"),
    (GEN / "generic" / "log.csv", "csv"),
    (GEN / "generic" / "metrics.jsonl", "jsonl"),
])
def test_detects_each_format(path, fmt):
    assert detect(path)[1].name == fmt
    assert read_log(path).format == fmt


def test_renamed_trainer_state_is_still_detected(tmp_path):
    path = tmp_path / "state.json"
    shutil.copy(REAL / "hf" / "trainer_state_multi_eval.json", path)
    assert read_log(path).format == "hf"


def test_folder_with_one_run_is_read_as_that_run():
    run = read_log(GEN / "lightning")
    assert run.format == "lightning" and run.facts["batch_size"] == 16


def test_folder_with_several_runs_lists_them():
    with pytest.raises(LogReadError, match=r"holds \d{3} runs") as err:
        read_log(REAL)
    assert "hf/mt5_azerbaijani_news/trainer_state.json" in str(err.value)  # the first ten are shown


def test_find_runs_in_the_real_fixtures():
    runs = [p.relative_to(REAL).as_posix() for p in find_runs(REAL)]
    with open(REAL / "labels.csv", newline="", encoding="utf-8") as f:
        labelled = {row["run"] for row in csv.DictReader(f)}
    assert runs == sorted(runs)
    # The MLflow store lists its run; a two-epoch log and a crash trace are too thin to count as
    # runs in a folder search (they are still read when passed by name).
    assert set(runs) - labelled == {"mlflow/deepcnn_classifier/0/cb0096518b0e4c66a94428555f05420b"}
    assert labelled - set(runs) == {"mlflow/deepcnn_classifier", "text/homl_housing_custom_loss_2ep.txt",
                                    "text/trainproof_fish_lightning_train.log"}


def test_find_runs_of_a_file_is_the_file():
    path = GEN / "yolo" / "results.csv"
    assert find_runs(path) == [path]


def test_find_runs_keeps_the_last_hf_checkpoint(tmp_path):
    for step in (500, 1000, 1500):
        folder = tmp_path / "out" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        history = [{"loss": 1.0 / s, "step": s, "epoch": s / 500} for s in range(500, step + 1, 500)]
        (folder / "trainer_state.json").write_text(json.dumps({"log_history": history}))
        (folder / "config.json").write_text(json.dumps({"hidden_dropout_prob": 0.1}))
    (tmp_path / "other" / "lightning_logs" / "version_0").mkdir(parents=True)
    shutil.copy(REAL / "lightning" / "mnist_cnn_metrics.csv", tmp_path / "other" / "lightning_logs" / "version_0" / "metrics.csv")
    runs = [p.relative_to(tmp_path).as_posix() for p in find_runs(tmp_path)]
    assert runs == ["other/lightning_logs/version_0/metrics.csv", "out/checkpoint-1500/trainer_state.json"]
    run = read_log(tmp_path / "out")
    assert len(run.series["train_loss"]) == 3


def test_find_runs_skips_hidden_and_virtualenv_folders(tmp_path):
    for folder in (".git", ".venv", "node_modules"):
        (tmp_path / folder).mkdir()
        shutil.copy(GEN / "yolo" / "results.csv", tmp_path / folder / "results.csv")
    assert find_runs(tmp_path) == []


def test_forcing_a_file_format_on_a_folder_reads_the_file_inside():
    run = read_log(GEN / "yolo", fmt="yolo")
    assert run.format == "yolo"


def test_find_runs_of_a_missing_path(tmp_path):
    with pytest.raises(LogReadError, match="does not exist"):
        find_runs(tmp_path / "missing")


def test_a_lightning_folder_with_csv_and_event_files_is_one_run(tmp_path):
    version = tmp_path / "lightning_logs" / "version_0"
    shutil.copytree(REAL / "tensorboard" / "mnist_cnn_version_0", version)
    shutil.copy(REAL / "lightning" / "mnist_cnn_metrics.csv", version / "metrics.csv")
    assert find_runs(tmp_path) == [version / "metrics.csv"]
    assert read_log(tmp_path).format == "lightning"
