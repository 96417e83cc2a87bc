"""``regadvisor probe``: a short, instrumented training of the user's own script.

Public API::

    from regadvisor.probe import run_probe, ProbeResult, ProbeProgress
    result = run_probe("train.py", train_epochs=100, depth="default", device="auto", seed=0,
                       knobs={"dropout": 0.3}, progress=callback)
    result.run        # regadvisor.model.Run, format "probe": curves + facts
    result.diverged, result.interrupted, result.stop_reason, result.steps, result.seconds

Modules: :mod:`.discover` (read or import the script, call it safely), :mod:`.hooks`
(instruments), :mod:`.inspect` (static facts, each ``Run.facts`` key documented there),
:mod:`.knobs` (applying knobs by standard means), :mod:`.runner` (the loop, budgets, stop rules),
:mod:`.results` (result data); a script run as a program: :mod:`.program` (this process's side,
:func:`~.program.run_script` for any script), :mod:`.child`, :mod:`.capture`, :mod:`.wrappers`,
:mod:`.frameworks`, :mod:`.collect` (the script's process); :mod:`.verify` (paired trials,
statistics in :mod:`.paired_stats`).

Importing this package does not import torch: the names above load :mod:`.runner` (and torch)
on first use, so a script run as a program is probed from a process that never imports torch
itself; the script's own process does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_EPOCHS", "EvaluationPoint", "ProbePlan", "ProbeProgress", "ProbeResult", "run_probe"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
