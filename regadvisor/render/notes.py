"""The words for a report's notes (:class:`regadvisor.model.Note`): one sentence per kind.

Every format that shows notes (terminal, Markdown, the JSON ``notes`` strings) takes its words
from :func:`note_text`, so a note reads the same everywhere; JSON also keeps the note's data
(``structured_notes``) for programs.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ..model import Note
from ._common import plural

STOPPED_BY = {
    "steps": "stopped by the steps budget", "epochs": "stopped by the epochs budget",
    "seconds": "stopped by the seconds budget (how far that gets depends on the machine; "
               "--steps or --epochs make a probe reproducible)",
    "early-stopping": "stopped early: validation stopped improving", "diverged": "stopped: the loss diverged",
    "interrupted": "interrupted", "past-best": "stopped: validation was clearly past its best",
    "pruned": "stopped by the scheduler", "length": "its whole training length",
}


def _num(value: Any) -> str:
    """Settings as a person writes them: 0.3, 1e-05, True → true."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _epochs(epochs: float) -> str:
    """``6 epochs``, ``0.35 epochs``, ``under 0.01 epochs`` (never ``0.00 epochs``)."""
    if 0 < epochs < 0.005:
        return "under 0.01 epochs"
    rounded = round(epochs, 2)
    return plural(int(rounded), "epoch") if float(rounded).is_integer() else f"{rounded:g} epochs"


def _training(v: dict[str, Any]) -> str:
    return (f"{plural(int(v['steps']), 'step')} ({_epochs(float(v['epochs']))}) in {float(v['seconds']):.1f} s "
            f"on {v['device']}")


def _effect(e: dict[str, Any]) -> str:
    """``+4.1 ± 1.2 points val acc over 3 seeds`` / ``−0.031 ± 0.02 val_loss over 3 seeds``."""
    if not math.isfinite(e["difference"]):
        return "training diverged"
    if e["metric"] == "val_acc points":
        text = f"{e['difference']:+.1f} ± {e['uncertainty']:.1f} points val acc"
    else:
        text = f"{e['difference']:+.2g} ± {e['uncertainty']:.2g} {e['metric']}"
    text = text.replace("-", "−", 1) + f" over {plural(int(e['trials']), 'seed')}"
    return text


def _changes(v: dict[str, Any]) -> str:
    current = v.get("current", {})
    return " + ".join(f"{k} {_num(current.get(k))} → {_num(x)}" for k, x in v["changes"].items())


def _length(n: float, unit: str) -> str:
    return plural(int(round(n)), unit[:-1] if unit.endswith("s") else unit)


def _past_best(note: Note) -> str:
    v = note.values
    return (f"stopped at {_length(v['done'], v['unit'])} of {v['length']}: validation last improved at "
            f"{v['improved_unit']} {_num(v['improved_at'])} and had clearly passed its best")


def _cut_short(note: Note) -> str:
    v = note.values
    return (f"probed {_length(v['done'], v['unit'])} of the real {v['length']} (the --{v['budget']} budget): "
            "what happens later in training, overfitting included, is not seen")


def _verified(note: Note) -> str:
    v = note.values
    length = _length(v["length"], v["unit"]) + ("" if v["length_known"] else
                                                  " (the length probed: the real length is unknown)")
    screened = (f"{plural(v['screened'], 'configuration')} screened on seed {v['seeds'][0]} ({v['pruned']} pruned), "
                if v["screened"] else "")
    workers = f" on {plural(v['workers'], 'worker')}" if v.get("workers", 1) > 1 else ""
    if len(v["seeds"]) < 2:
        paired = f"none beat the current settings on seed {v['seeds'][0]}, so none was paired, metric {v['metric']}"
    else:
        paired = (f"the best paired over {plural(len(v['seeds']), 'seed')} (same initial weights and data order), "
                  f"metric {v['metric']}, 95% t-interval")
    return (f"verified at {length}: {v['trainings']:.1f} full trainings (probe included), "
            f"{plural(v['trials'], 'trial')}, {float(v['seconds']):.0f} s{workers}; {screened}{paired}")


def _verify_effect(note: Note) -> str:
    v = note.values
    verdict = "not kept: not better beyond noise"
    if v["kept"]:
        verdict = "kept: better on every seed" if v["effect"].get("every_seed") else "kept"
    return f"{_changes(v) or 'no change'}: {_effect(v['effect'])} ({verdict})"


def _over_stopping(note: Note) -> str:
    v = note.values
    verdict = "preferred: better on average" if v["beyond"] else "not kept: early stopping alone does as well"
    return f"{_changes(v)}, against early stopping alone: {_effect(v['effect'])} ({verdict})"


def _not_kept(note: Note) -> str:
    v = note.values
    why = "not part of the best measured configuration" if v["measured"] else "nothing measured helped beyond noise"
    return f"{note.knob} {_num(v['current'])} → {_num(v['value'])}: {why}"


WORDS: dict[str, Callable[[Note], str]] = {
    "probe-ran": lambda n: (f"probe ran {_training(n.values)}, "
                           f"{STOPPED_BY.get(n.values['stopped_by'], n.values['stopped_by'])}"),
    "probe-interrupted": lambda n: f"interrupted after {_training(n.values)}: this is a partial report",
    "probe-length-unknown": lambda n: (f"training length unknown: this advice holds for the "
                                       f"{_epochs(n.values['epochs'])} probed "
                                       "(set EPOCHS in the script, or pass --train-epochs / --train-steps)"),
    "probe-past-best": _past_best,
    "probe-cut-short": _cut_short,
    "verify-skipped": lambda n: f"not verified: {n.values['reason']}",
    "search-space-written": lambda n: f"search space for further tuning written to {n.values['path']}",
    "script-output": lambda n: f"the script's own output is in {n.values['path']}",
    "trial-output": lambda n: f"the verification trials' output is in {n.values['path']}",
    "verified": _verified,
    "verify-effect": _verify_effect,
    "verify-over-stopping": _over_stopping,
    "not-verified": lambda n: f"{n.knob}: not verified ({n.values['reason']})",
    "not-kept": _not_kept,
    "text": lambda n: str(n.values["text"]),
}


def note_text(note: Note | str) -> str:
    """The sentence for ``note`` (a plain string is passed through as it is)."""
    if isinstance(note, str):
        return note
    words = WORDS.get(note.kind)
    return words(note) if words else f"{note.kind}: {note.knob or ''} {note.values}".replace("  ", " ")


def note_data(note: Note | str) -> dict[str, Any]:
    """The note as JSON data (a plain string becomes a ``text`` note)."""
    return (Note.text(note) if isinstance(note, str) else note).to_dict()
