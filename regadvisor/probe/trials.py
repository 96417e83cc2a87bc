"""One verification trial: a configuration trained on one seed, and what its curve is worth.

A trial is an ordinary probe run (:func:`~regadvisor.probe.run_probe`) of the real length with
the configuration's knobs, ending sooner when validation is clearly past its best, when early
stopping (the knob) stops it, or when the scheduler prunes it. Its *score* is oriented so that
higher is better: validation accuracy in points for classification, minus the validation loss
otherwise.

Early stopping costs no training to evaluate: every recorded curve is replayed with the
reference :class:`~regadvisor.reference.EarlyStopping` at each candidate patience
(:func:`simulate_early_stopping`), which restores the evaluation with the lowest validation loss
as the knob does. A replay is exact where the stopper stops before the curve ends; on a curve
cut short (past its best, pruned) a patience that had not run out is unknown, not guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..reference.early_stopping import EarlyStopping
from .program import run_script
from .results import EvaluationPoint, ProbeResult

COMPLETE = ("epochs", "steps")
"""Stop reasons of a run that trained its whole length."""


@dataclass(frozen=True)
class StopPoint:
    """Where a simulated early stopper ends: the evaluation it stops at and the one it restores."""

    stop_index: int
    best_index: int
    stopped: bool


def simulate_early_stopping(val_loss: Sequence[float], patience: int) -> StopPoint:
    """Replay the reference early stopper (restore best) on a recorded validation-loss curve.

    It stops once ``patience`` evaluations pass without a lower validation loss and restores the
    best evaluation; without a stop the best evaluation of the whole curve is restored (a best
    checkpoint), as the probe's knob does at the end of training.
    """
    stopper = EarlyStopping(patience=patience, restore_best=False, stop_on_nonfinite=False)
    for i, v in enumerate(val_loss):
        if stopper.step(v):
            return StopPoint(i, (stopper.best_step or i + 1) - 1, True)
    last = len(val_loss) - 1
    return StopPoint(last, (stopper.best_step or last + 1) - 1, False)


@dataclass
class Curve:
    """The validation curves of one trained configuration on one seed."""

    config: dict[str, Any]
    seed: int
    val_loss: list[float]
    score: list[float]
    eval_steps: list[int]
    steps: int
    stop_reason: str
    not_applied: dict[str, str] = field(default_factory=dict)
    diverged: bool = False

    @property
    def complete(self) -> bool:
        """Trained the whole real length (so its last score is what the user would end with)."""
        return self.stop_reason in COMPLETE

    def value(self, patience: int | None) -> float | None:
        """The score the user would get: at the end without early stopping, at the restored
        evaluation with ``patience``; ``None`` where this curve cannot tell."""
        if self.diverged or not self.score:
            return None
        if patience is None:
            return self.score[-1] if self.complete else None
        stop = simulate_early_stopping(self.val_loss, patience)
        if not (stop.stopped or self.complete or self.stop_reason == "early-stopping"):
            return None
        return self.score[stop.best_index]

    def stop_steps(self, patience: int | None) -> int:
        """Optimizer steps a run of this configuration trains before it ends with ``patience``."""
        if patience is None or not self.val_loss:
            return self.steps
        stop = simulate_early_stopping(self.val_loss, patience)
        return self.eval_steps[stop.stop_index] if stop.stopped else self.steps

    def best_variant(self, patiences: Sequence[int | None]) -> tuple[float, int | None] | None:
        """The best (score, patience) over the early-stopping variants this curve can value.

        At equal scores no stopper wins, then the longest patience: on this seed's curve they
        restore the same evaluation, but on another seed's noisier curve a short patience stops
        on the first plateau (the bench's examples kept patience 3 where 10 or 20 scored better).
        """
        known = [(v, p) for p in patiences if (v := self.value(p)) is not None]
        return max(known, key=lambda vp: (vp[0], vp[1] is None, vp[1] or 0)) if known else None

    def score_so_far(self) -> float:
        """The score at the lowest validation loss so far: what an early stopper would restore now."""
        if not self.val_loss:
            return -math.inf
        finite = [i for i, v in enumerate(self.val_loss) if math.isfinite(v)]
        return self.score[min(finite, key=self.val_loss.__getitem__)] if finite else -math.inf


def score_of(result: ProbeResult, classification: bool) -> tuple[list[float], list[float], list[int]]:
    """(validation losses, scores, steps) of each evaluation of a probe run."""
    run = result.run
    vl = run.get("val_loss")
    losses = list(vl.values) if vl is not None else []
    steps = [int(s) for s in vl.steps] if vl is not None else []
    if classification:
        acc = run.get("val_acc")
        scores = [100.0 * v for v in acc.values] if acc is not None else []
    else:
        scores = [-v if math.isfinite(v) else -math.inf for v in losses]
    return losses, scores, steps


def curve_of(result: ProbeResult, config: dict[str, Any], seed: int, classification: bool) -> Curve:
    """The :class:`Curve` of a finished probe run."""
    losses, scores, steps = score_of(result, classification)
    not_applied = {k: v for k, v in (result.run.facts.get("knobs_not_applied") or {}).items() if k in config}
    diverged = result.diverged or not losses or not all(math.isfinite(s) for s in scores[-1:])
    return Curve(dict(config), seed, losses, scores, steps, result.steps, result.stop_reason, not_applied, diverged)


@dataclass
class TrialRunner:
    """Runs trials of one script: fixed base knobs and length, a configuration and seed each.

    ``program`` is the report's ``facts["program"]`` for a script run as a program (its
    ``args``, and ``trial_output``, the file its output goes to): each trial is then a fresh run
    of it in a child process (:func:`~.program.run_script`), its :class:`Curve` read from the
    measurements that come back. ``None`` for a contract script, trained in this process.
    """

    script: Path
    base_knobs: dict[str, Any]
    length: dict[str, int]
    device: str
    classification: bool
    program: dict[str, Any] | None = None

    def run(self, config: dict[str, Any], seed: int, *, patience: int | None = None,
            on_evaluation: Callable[[EvaluationPoint], bool] | None = None, steps: int | None = None,
            stop_past_best: bool = True) -> Curve:
        """Train ``config`` on ``seed`` for the real length (``steps`` to cut it shorter).

        With ``patience`` early stopping is applied for real. ``stop_past_best=False`` trains
        to the end (or the stopper), so that the score is what the user would get.
        """
        knobs = {**self.base_knobs, **config}
        if patience is not None:
            knobs["early_stopping_patience"] = patience
        length: dict[str, Any]
        if steps is not None:
            length = {"steps": steps}
        elif "steps" in self.length:
            length = {"steps": self.length["steps"]}
        else:
            length = {"epochs": self.length["epochs"]}
        program = self.program or {}
        output = program.get("trial_output")
        result = run_script(self.script, args=program.get("args"), output=Path(output) if output else None,
                            **length, device=self.device, seed=seed, knobs=knobs, on_evaluation=on_evaluation,
                            stop_past_best=stop_past_best)
        return curve_of(result, config, seed, self.classification)
