"""Notes are data (kind, knob, values); every format words them through one function."""

from __future__ import annotations

import copy
import json

import pytest

from regadvisor.model import Note
from regadvisor.render import json as render_json
from regadvisor.render import markdown, terminal
from regadvisor.render.notes import WORDS, note_text

RAN = {"steps": 5, "epochs": 0.0031, "seconds": 0.42, "device": "cpu", "stopped_by": "steps"}
EFFECT = {"difference": 4.13, "uncertainty": 1.2, "metric": "val_acc points", "trials": 3}


@pytest.mark.parametrize("note,words", [
    (Note("probe-ran", values=RAN), "probe ran 5 steps (under 0.01 epochs) in 0.4 s on cpu, stopped by the steps budget"),
    (Note("probe-ran", values={**RAN, "steps": 1, "epochs": 1.0, "stopped_by": "epochs"}),
     "probe ran 1 step (1 epoch) in 0.4 s on cpu, stopped by the epochs budget"),
    (Note("probe-ran", values={**RAN, "steps": 40, "epochs": 10.0, "stopped_by": "length"}),
     "probe ran 40 steps (10 epochs) in 0.4 s on cpu, its whole training length"),
    (Note("probe-ran", values={**RAN, "steps": 96, "epochs": 2.78125, "stopped_by": "seconds"}),
     "probe ran 96 steps (2.78 epochs) in 0.4 s on cpu, stopped by the seconds budget (how far that gets depends "
     "on the machine; --steps or --epochs make a probe reproducible)"),
    (Note("probe-interrupted", values={**RAN, "epochs": 3.0}),
     "interrupted after 5 steps (3 epochs) in 0.4 s on cpu: this is a partial report"),
    (Note("verify-skipped", values={"reason": "the probe was interrupted"}), "not verified: the probe was interrupted"),
    (Note("search-space-written", values={"path": "space.py"}), "search space for further tuning written to space.py"),
    (Note("probe-ran", values={**RAN, "steps": 208, "epochs": 13.0, "stopped_by": "past-best"}),
     "probe ran 208 steps (13 epochs) in 0.4 s on cpu, stopped: validation was clearly past its best"),
    (Note("probe-length-unknown", values={"epochs": 30.0}),
     "training length unknown: this advice holds for the 30 epochs probed (set EPOCHS in the script, or pass "
     "--train-epochs / --train-steps)"),
    (Note("probe-past-best", values={"unit": "epochs", "length": 40, "done": 13.0, "improved_at": 3.0,
                                     "improved_unit": "epoch"}),
     "stopped at 13 epochs of 40: validation last improved at epoch 3 and had clearly passed its best"),
    (Note("probe-cut-short", values={"unit": "epochs", "length": 60, "done": 10.0, "budget": "epochs"}),
     "probed 10 epochs of the real 60 (the --epochs budget): what happens later in training, overfitting "
     "included, is not seen"),
    (Note("verified", values={"length": 40, "unit": "epochs", "length_known": True, "trainings": 5.83, "trials": 25,
                              "seconds": 24.0, "screened": 19, "pruned": 12, "seeds": [0, 1, 2],
                              "metric": "val_acc points"}),
     "verified at 40 epochs: 5.8 full trainings (probe included), 25 trials, 24 s; 19 configurations screened on "
     "seed 0 (12 pruned), the best paired over 3 seeds (same initial weights and data order), metric val_acc "
     "points, 95% t-interval"),
    (Note("verified", values={"length": 40, "unit": "epochs", "length_known": True, "trainings": 2.5, "trials": 3,
                              "seconds": 9.0, "screened": 2, "pruned": 1, "seeds": [0], "metric": "val_acc points"}),
     "verified at 40 epochs: 2.5 full trainings (probe included), 3 trials, 9 s; 2 configurations screened on "
     "seed 0 (1 pruned), none beat the current settings on seed 0, so none was paired, metric val_acc points"),
    (Note("verify-effect", values={"changes": {"dropout": 0.3}, "current": {"dropout": 0.0},
                                   "effect": {**EFFECT, "every_seed": True}, "kept": True}),
     "dropout 0 → 0.3: +4.1 ± 1.2 points val acc over 3 seeds (kept: better on every seed)"),
    (Note("verify-effect", values={"changes": {"dropout": 0.45, "early_stopping_patience": 3},
                                   "current": {"dropout": 0.0, "early_stopping_patience": None},
                                   "effect": EFFECT, "kept": True}),
     "dropout 0 → 0.45 + early_stopping_patience — → 3: +4.1 ± 1.2 points val acc over 3 seeds (kept)"),
    (Note("verify-over-stopping", values={"changes": {"dropout": 0.1, "early_stopping_patience": 10},
                                          "current": {"dropout": 0.0, "early_stopping_patience": None},
                                          "effect": {**EFFECT, "difference": 0.14, "uncertainty": 2.3},
                                          "beyond": False}),
     "dropout 0 → 0.1 + early_stopping_patience — → 10, against early stopping alone: +0.1 ± 2.3 points val acc "
     "over 3 seeds (not kept: early stopping alone does as well)"),
    (Note("not-verified", "weight_decay", {"reason": "left out to fit the budget"}),
     "weight_decay: not verified (left out to fit the budget)"),
    (Note("not-kept", "weight_decay", {"value": 0.05, "current": 0.0, "measured": True}),
     "weight_decay 0 → 0.05: not part of the best measured configuration"),
    (Note("not-kept", "dropout", {"value": 0.3, "current": 0.0, "measured": False}),
     "dropout 0 → 0.3: nothing measured helped beyond noise"),
    (Note.text("a sentence of its own"), "a sentence of its own"),
])
def test_each_kind_has_its_words(note, words):
    assert note_text(note) == words


def test_every_documented_kind_has_words():
    documented = {line.split("``")[1] for line in Note.__doc__.splitlines() if line.strip().startswith("- ``")}
    documented |= {"probe-interrupted"}
    assert documented <= set(WORDS)


def test_formats_word_notes_alike_and_json_keeps_the_data(hf_report):
    report = copy.deepcopy(hf_report)
    report.notes = [Note("probe-ran", values=RAN), Note("not-verified", "dropout", {"reason": "the budget ran out"})]
    words = [note_text(n) for n in report.notes]
    text = " ".join(terminal.render(report, width=80).split())
    assert all(f"note: {w}" in text for w in words)
    md = markdown.render(report)
    assert "- dropout: not verified (the budget ran out)" in md
    data = json.loads(render_json.render(report))
    assert data["notes"] == words
    assert data["structured_notes"][1] == {"kind": "not-verified", "knob": "dropout",
                                           "values": {"reason": "the budget ran out"}}


def test_after_verify_the_unverified_advice_is_not_sent_back_to_verify():
    from regadvisor.model import Recommendation, Report
    from regadvisor.render._common import unverified_hint

    report = Report(source="m.py", run=None, verdict="overfitting", verdict_confidence="medium", signals={}, tool={},
                    findings=[], recommendations=[Recommendation("dropout", 0.3, "r", ["OF001"], [])], notes=[])
    assert "--verify` measures them" in unverified_hint(report)
    report.notes.append(Note("verified", values={}))
    assert "could not measure them" in unverified_hint(report)
    report.recommendations[0].verified = {"helps": True}
    assert unverified_hint(report) is None
