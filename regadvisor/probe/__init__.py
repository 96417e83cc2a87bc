"""``regadvisor probe``: a short, instrumented training of the user's own script.

Public API::

    from regadvisor.probe import run_probe, ProbeResult, ProbeProgress
    result = run_probe("train.py", train_epochs=100, depth="default", device="auto", seed=0,
                       knobs={"dropout": 0.3}, progress=callback)
    result.run        # regadvisor.model.Run, format "probe": curves + facts
    result.diverged, result.interrupted, result.stop_reason, result.steps, result.seconds

Modules: :mod:`.discover` (import the script, call it safely), :mod:`.hooks` (instruments),
:mod:`.inspect` (static facts, each ``Run.facts`` key documented there), :mod:`.knobs`
(applying knobs by standard means), :mod:`.runner` (the loop, budgets), :mod:`.verify` (paired
trials, statistics in :mod:`.paired_stats`). Importing this package imports torch; nothing else in regadvisor
imports it eagerly.
"""

from __future__ import annotations

from .runner import (
    DEFAULT_EPOCHS,
    EvaluationPoint,
    ProbePlan,
    ProbeProgress,
    ProbeResult,
    run_probe,
)

__all__ = ["DEFAULT_EPOCHS", "EvaluationPoint", "ProbePlan", "ProbeProgress", "ProbeResult", "run_probe"]
