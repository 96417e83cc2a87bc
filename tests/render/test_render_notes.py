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
    (Note("probe-ran", values={**RAN, "steps": 96, "epochs": 2.78125, "stopped_by": "seconds"}),
     "probe ran 96 steps (2.78 epochs) in 0.4 s on cpu, stopped by the seconds budget (how far that gets depends "
     "on the machine; --steps or --epochs make a probe reproducible)"),
    (Note("probe-interrupted", values={**RAN, "epochs": 3.0}),
     "interrupted after 5 steps (3 epochs) in 0.4 s on cpu: this is a partial report"),
    (Note("verify-skipped", values={"reason": "the probe was interrupted"}), "not verified: the probe was interrupted"),
    (Note("search-space-written", values={"path": "space.py"}), "search space for further tuning written to space.py"),
    (Note("verified", values={"trials": 16, "epochs": 6, "seconds": 41.6, "metric": "val_acc points"}),
     "verified: 16 trials of 6 epochs in 42 s, paired by seed (same initial weights and data order), "
     "metric val_acc points, 95% t-intervals"),
    (Note("nothing-to-verify"), "verify: nothing to measure (no recommendation the probe can apply)"),
    (Note("not-verified", "weight_decay", {"reason": "left out to fit the budget"}),
     "weight_decay: not verified (left out to fit the budget)"),
    (Note("not-recommended", "weight_decay", {"changes": {"weight_decay": 0.01}, "current": {"weight_decay": 0},
                                              "effect": {**EFFECT, "difference": -0.5}, "abandoned": None}),
     "weight_decay 0 → 0.01: −0.5 ± 1.2 points val acc over 3 seeds: not recommended"),
    (Note("together", values={"changes": {"dropout": 0.3, "early_stopping_patience": 3}, "current": {"dropout": 0.0},
                              "effect": {**EFFECT, "metric": "val_loss", "difference": -0.031, "uncertainty": 0.02},
                              "best": "early_stopping_patience", "kept": False, "abandoned": None}),
     "together (dropout 0 → 0.3 + early_stopping_patience — → 3) vs early_stopping_patience alone: "
     "−0.031 ± 0.02 val_loss over 3 seeds: not better than early_stopping_patience alone beyond noise: "
     "start with early_stopping_patience"),
    (Note("together-not-measured", values={"best": "dropout"}),
     "together: not measured within the budget; each change helps alone: start with dropout"),
    (Note.text("a sentence of its own"), "a sentence of its own"),
])
def test_each_kind_has_its_words(note, words):
    assert note_text(note) == words


def test_every_documented_kind_has_words():
    documented = {line.split("``")[1] for line in Note.__doc__.splitlines() if line.strip().startswith("- ``")}
    documented |= {"probe-interrupted", "together"}
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
