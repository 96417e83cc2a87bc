"""A CSV that pandas wrote is not labelled as a framework's log it merely resembles."""

from __future__ import annotations

import pytest

from regadvisor.logs.read import read_log

pd = pytest.importorskip("pandas")

HISTORY = {"epoch": [0, 1, 2, 3, 4, 5], "train_loss": [1.0, 0.8, 0.6, 0.5, 0.4, 0.3],
           "valid_loss": [1.0, 0.9, 0.85, 0.84, 0.86, 0.9]}


def test_pandas_to_csv_with_fastai_like_names_is_a_generic_csv(tmp_path):
    path = tmp_path / "history.csv"
    pd.DataFrame(HISTORY).to_csv(path, index=False)
    run = read_log(path)
    assert run.format == "csv"
    assert list(run.get("val_loss").values) == HISTORY["valid_loss"]


def test_fastai_csvlogger_keeps_its_label(tmp_path):
    path = tmp_path / "history.csv"
    pd.DataFrame({**HISTORY, "time": ["00:03"] * 6}).to_csv(path, index=False)
    assert read_log(path).format == "fastai"
