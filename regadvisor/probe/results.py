"""What a probe run takes and hands back, as plain data: no torch here, so that a script run as a program
(:mod:`regadvisor.probe.program`) is probed from a process that never imports it."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..model import Run


def check_lengths(*, steps: int | None, epochs: int | None, seconds: float | None, train_epochs: int | None,
                  train_steps: int | None) -> None:
    """The probe's budget and the real length, checked before anything trains (a
    :class:`ConfigError` naming the option otherwise)."""
    for name, val in (("steps", steps), ("epochs", epochs), ("train_epochs", train_epochs),
                      ("train_steps", train_steps)):
        if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
            raise ConfigError(f"{name} must be a positive integer, not {val!r}", source=name)
    if train_epochs is not None and train_steps is not None:
        raise ConfigError("give the training length in epochs or in steps, not both", source="train_steps")
    if seconds is not None and (not isinstance(seconds, (int, float)) or not seconds > 0):
        raise ConfigError(f"seconds must be positive, not {seconds!r}", source="seconds")


PAST_BEST_FRACTION = 0.25
"""Share of the real length without a new best after which the probe may stop as past its best
(:func:`~.runner.past_best_patience`); verify's trials wait as long. Measured with a tenth for
the trials (``benchmarks/bench_verify.py``): a baseline trial then ends almost at its best, which
hides what early stopping buys (gru_series: "no change", where patience 20 had gained 4 test
points), and a screening curve can value only patiences up to 5 (small_transformer lost 0.09 of
its share)."""


@dataclass
class ProbeProgress:
    """Where the probe is, passed to the ``progress`` callback after every step and evaluation.

    ``loss`` is the most recent training loss already on the host (on CUDA it may lag a few
    steps, to avoid a synchronisation per step). ``total_steps``/``total_seconds``/
    ``total_epochs`` echo the budget, ``None`` where not limited.
    """

    step: int
    epoch: float
    seconds: float
    loss: float | None
    phase: str
    total_steps: int | None
    total_epochs: int | None
    total_seconds: float | None


@dataclass
class ProbeResult:
    """The outcome of :func:`run_probe`.

    ``run`` is a :class:`~regadvisor.model.Run` with ``format="probe"``; ``stop_reason`` is one
    of ``steps``, ``epochs``, ``seconds``, ``early-stopping``, ``diverged``, ``interrupted``.
    ``epochs`` is fractional progress in epochs; ``device`` the torch device used.
    """

    run: Run
    interrupted: bool
    diverged: bool
    seconds: float
    steps: int
    epochs: float
    stop_reason: str
    device: str


@dataclass(frozen=True)
class EvaluationPoint:
    """One evaluation, passed to ``on_evaluation``: where, and the validation metrics there."""

    step: int
    epoch: float
    val_loss: float
    val_acc: float | None
