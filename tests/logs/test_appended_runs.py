"""Several runs in one file are split where the count starts again: each judged, the last by default."""

from __future__ import annotations

import pytest

from regadvisor import api
from regadvisor.config import Settings
from regadvisor.errors import LogReadError
from regadvisor.logs.read import read_log

SETTINGS = Settings()


def _keras_rows(start_loss: float, epochs: int, rise_from: int | None = None) -> list[str]:
    """CSVLogger rows of one fit: loss falls from ``start_loss``; val_loss rises after ``rise_from``."""
    rows = []
    for e in range(epochs):
        loss = start_loss * 0.8 ** e
        val = loss * 1.1 if rise_from is None or e < rise_from else start_loss * 0.8 ** rise_from * 1.1 * 1.12 ** (e - rise_from)
        rows.append(f"{e},{loss:.4f},{val:.4f}\n")
    return rows


def test_keras_csvlogger_append_with_fresh_models_is_several_runs(tmp_path):
    path = tmp_path / "training.log"
    path.write_text("epoch,loss,val_loss\n" + "".join(_keras_rows(1.0, 10) + _keras_rows(1.02, 10)
                                                      + _keras_rows(0.98, 12, rise_from=5)))
    run = read_log(path)
    assert len(run.earlier) == 2 and run.source == f"{path}#3"
    assert [len(r.series["val_loss"]) for r in (*run.earlier, run)] == [10, 10, 12]
    assert list(run.series["val_loss"].epochs) == list(range(12))
    assert any("holds 3 runs one after another" in w and "this is the last, #3" in w for w in run.warnings)
    assert api.diagnose(path, settings=SETTINGS).verdict == "overfitting"  # the last run, by default

    outcome = api.diagnose_runs([path], settings=SETTINGS)
    assert [r.source for r in outcome.reports] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    assert [r.verdict for r in outcome.reports] == ["healthy", "healthy", "overfitting"]
    from regadvisor.render.compare import run_labels
    assert run_labels(outcome.reports) == ["training.log#1", "training.log#2", "training.log#3"]

    first = api.diagnose(f"{path}#1", settings=SETTINGS)
    assert first.verdict == "healthy" and first.run.earlier == [] and len(first.run.series["val_loss"]) == 10
    with pytest.raises(LogReadError, match="holds 3 run.*#4 is not one of them"):
        read_log(f"{path}#4")


def test_concatenated_stdout_of_several_runs(tmp_path):
    lines = []
    for run, (start, rise) in enumerate([(4.0, False), (4.1, False), (3.9, True)]):
        lines.append(f"=== run {run}: lr sweep ===")
        for step in range(0, 2001, 100):
            train = start * 0.999 ** step
            val = train * 1.05 if not rise or step < 1000 else start * 0.999 ** 1000 * 1.05 * (1 + (step - 1000) / 2000)
            lines.append(f"step {step}: train loss {train:.4f}, val loss {val:.4f}")
    path = tmp_path / "sweep.log"
    path.write_text("\n".join(lines) + "\n")
    outcome = api.diagnose_runs([path], settings=SETTINGS)
    assert [r.verdict for r in outcome.reports] == ["healthy", "healthy", "overfitting"]
    assert all(len(r.run.series["val_loss"]) == 21 for r in outcome.reports)


def test_a_loop_of_resumed_fits_is_one_run_with_its_counts_shifted(tmp_path):
    """fit() called twice on the same model (freeze, then fine-tune): the epoch restarts, the loss carries on."""
    path = tmp_path / "training.log"
    rows = [f"{e},{1.0 * 0.9 ** e:.4f},{1.1 * 0.9 ** e:.4f}\n" for e in range(4)]
    rows += [f"{e},{0.6 * 0.9 ** e:.4f},{0.7 * 0.9 ** e:.4f}\n" for e in range(6)]
    path.write_text("epoch,loss,val_loss\n" + "".join(rows))
    run = read_log(path)
    assert run.earlier == [] and list(run.series["val_loss"].epochs) == list(range(10))
    assert any("where the loss carries on: read as one run resumed" in w for w in run.warnings)


def test_fastai_appended_log_repeats_its_header(tmp_path):
    """fastai's CSVLogger(append=True) writes its header again on every fit: two folds, two runs."""
    header = "epoch,train_loss,valid_loss,accuracy,time\n"
    fold = lambda s: "".join(f"{e},{s * 0.8 ** e:.4f},{s * 0.85 ** e:.4f},{0.5 + 0.04 * e:.4f},00:05\n"
                             for e in range(6))
    path = tmp_path / "history.csv"
    path.write_text(header + fold(1.0) + header + fold(1.05))
    run = read_log(path)
    assert run.format == "fastai" and len(run.earlier) == 1
    assert list(run.series["val_loss"].epochs) == list(range(6))
    assert not any("non-numeric" in w for w in run.warnings)


def test_a_resume_from_a_checkpoint_is_not_a_new_run(tmp_path):
    """Steps falling back part of the way (a restart from the step-800 checkpoint) do not split."""
    lines = [f"step {s}: train loss {2 - s / 1000:.3f}, val loss {2.1 - s / 1000:.3f}" for s in range(0, 1001, 100)]
    lines += [f"step {s}: train loss {2 - s / 1000:.3f}, val loss {2.1 - s / 1000:.3f}" for s in range(800, 1501, 100)]
    path = tmp_path / "train.log"
    path.write_text("\n".join(lines) + "\n")
    assert read_log(path).earlier == []
