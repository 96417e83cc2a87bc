"""What reports say: one unit for an accuracy gap (points) from the header to the findings, counts
with their plurals, rounded epochs, and every line of a terminal report within 80 columns."""

from __future__ import annotations

import re

import pytest

from regadvisor import api
from regadvisor.engine.evaluator import render_message
from regadvisor.model import Run, Series
from regadvisor.render import compare, terminal
from regadvisor.render._common import fmt, plural
from tests.render.conftest import LOG_RULES


def _gap_run() -> Run:
    """Train accuracy climbing to 100% while validation accuracy stalls at 79% and its loss rises:
    a 21-point gap, evaluated every 0.78125 epochs (25 steps of a 32-step epoch)."""
    n = 16
    steps = [25.0 * (i + 1) for i in range(n)]
    epochs = [s / 32 for s in steps]
    run = Run("runs/gap/metrics.csv", "csv")
    run.series["train_acc"] = Series.from_points("train_acc", [min(1.0, 0.6 + 0.03 * i) for i in range(n)], steps, epochs)
    run.series["val_acc"] = Series.from_points("val_acc", [min(0.79, 0.55 + 0.04 * i) for i in range(n)], steps, epochs)
    run.series["train_loss"] = Series.from_points("train_loss", [1.0 * 0.8 ** i for i in range(n)], steps, epochs)
    run.series["val_loss"] = Series.from_points("val_loss", [1.0 - 0.1 * i if i < 4 else 0.6 + 0.06 * (i - 4)
                                                             for i in range(n)], steps, epochs)
    return run


@pytest.fixture(scope="module")
def gap_report():
    return api.analyze(_gap_run(), api.load_ruleset(select_rules=LOG_RULES))


def test_message_specs_for_points_and_counts():
    text = render_message("{a:.1pt}, {b:+.1pt}; {n:n evaluation}, {m:n more evaluation}",
                          {"a": 0.21, "b": 0.408, "n": 1, "m": 3})
    assert text == "21.0 points, +40.8 points; 1 evaluation, 3 more evaluations"
    assert plural(1, "evaluation") == "1 evaluation" and plural(0, "evaluation") == "0 evaluations"


def test_numbers_read_as_a_person_writes_them():
    assert [fmt(v) for v in (0.0003, 7.3e-36, 123456.0, 0.05, 3.0, 0.0, None, True)] == \
        ["0.0003", "7.3e-36", "1.23e+05", "0.05", "3.0", "0", "—", "yes"]


def test_an_accuracy_gap_is_in_points_everywhere(gap_report):
    text = terminal.render(gap_report, width=80)
    assert "accuracy gap    21.0 points at the end (train 100.0%, val 79.0%)" in text
    fired = [f for f in gap_report.findings if f.status == "fired" and f.rule_id.startswith("OF00")]
    gap_findings = [f for f in fired if "accuracy" in f.message]
    assert gap_findings, [f.rule_id for f in fired]
    for f in gap_findings:
        assert "21.0 points above validation accuracy" in f.message
        assert not re.search(r"\d%\s+above validation", f.message)


def test_epochs_are_rounded_and_counts_agree_with_their_nouns(gap_report):
    text = " ".join(terminal.render(gap_report, width=80).split())
    assert "best: epoch 3.91 (step 125)" in text  # 125/32 = 3.90625
    assert "3.906" not in text
    assert not re.search(r"\b1 evaluations\b", text)


def test_every_terminal_line_fits_80_columns_and_no_word_is_split(gap_report, hf_report, lightning_report):
    reports = [gap_report, hf_report, lightning_report]
    text = "".join(terminal.render(r, width=80) for r in reports) + compare.render(reports, width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    words = " ".join(text.split())
    for word in ("early_stopping_patience=3", "lightning/mnist_cnn_metrics.csv", "hf/trainer_state_multi_eval.json",
                 "overfitting", "weight_decay=0.05"):
        assert word in words, word
