"""The alias table: regression errors stand in for the loss, R² and mAP are scores, and which
spelling wins when several mean the same metric."""

from __future__ import annotations

import pytest

from regadvisor.logs.aliases import canonical_name
from regadvisor.logs.read import read_log


@pytest.mark.parametrize("raw, canonical, stand_in", [
    ("mse", "train_loss", True),
    ("val_mae", "val_loss", True),
    ("val_root_mean_squared_error", "val_loss", True),
    ("test/rmse", "test_loss", True),
    ("loss", "train_loss", False),
    ("r2", "train_r2", False),
    ("val_r2_score", "val_r2", False),
    ("metrics/mAP50-95(B)", "val_map", False),
    ("metrics/precision(B)", "val_precision", False),
])
def test_names(raw, canonical, stand_in):
    name = canonical_name(raw)
    assert (name.canonical, name.stand_in) == (canonical, stand_in)


def test_a_name_that_says_loss_wins_over_a_regression_error(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,mae,loss,val_mae,val_loss\n0,0.9,1.2,0.95,1.3\n1,0.7,0.8,0.8,0.9\n")
    run = read_log(path)
    assert run.series["train_loss"].original_name == "loss" and run.series["val_loss"].original_name == "val_loss"
    assert run.series["train_loss_mae"].original_name == "mae"


def test_a_regression_log_without_a_loss_column_is_judged_on_its_error(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,mse,val_mse,r2,val_r2\n0,1.0,1.1,0.1,0.05\n1,0.5,0.6,0.5,0.45\n")
    run = read_log(path)
    assert run.series["val_loss"].original_name == "val_mse"
    assert list(run.series["val_r2"].values) == [0.05, 0.45]
