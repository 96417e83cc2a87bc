"""Early stopping with best-weights restore.

Training error keeps falling while validation error, past some point, rises: the model starts
to fit the noise of its training set. Early stopping watches a validation metric, remembers the
best value and the weights that produced it, stops once ``patience`` evaluations pass without an
improvement larger than ``min_delta``, and puts the best weights back. Prechelt ("Early
Stopping — But When?", in *Neural Networks: Tricks of the Trade*, Springer 1998) compares
stopping criteria; Goodfellow, Bengio & Courville (*Deep Learning*, 2016, Section 7.8) show
that for a quadratic loss and gradient descent early stopping acts like L2 regularization with
strength about ``1 / (steps * lr)``.

Typical settings: ``patience`` 5 to 10 evaluations for epoch-level validation (Keras and
Lightning default to 0 and 3; both are aggressive for noisy curves), 10 to 20 when evaluation is
frequent or the curve is noisy; ``min_delta`` of the order of the metric's evaluation noise
(e.g. 1e-4 for a loss, 0.001 to 0.005 for an accuracy in [0, 1]).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop after ``patience`` evaluations without an improvement larger than ``min_delta``.

    ``mode="min"`` for losses and errors, ``"max"`` for accuracies and scores. An evaluation
    improves when ``value < best - min_delta`` (``"min"``) or ``value > best + min_delta``
    (``"max"``); the first evaluation always does. :meth:`step` returns ``True`` once training
    should stop, and keeps returning ``True`` afterwards.

    With ``restore_best=True`` and a ``model`` passed to :meth:`step`, a copy of the model's
    ``state_dict`` is kept at every improvement (tensors are cloned, so later training does not
    change it) and loaded back into the model when stopping. :meth:`restore` does the same on
    demand, e.g. after the last epoch when patience never ran out.

    A non-finite value (NaN or infinity) stops at once when ``stop_on_nonfinite`` (the
    default): a diverged run will not recover by waiting. Otherwise NaN never counts as an
    improvement. ``patience=0`` stops at the first evaluation without improvement, as in
    Keras.

    ``reason`` says why training stopped (empty while it has not).
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0, mode: str = "min",
                 restore_best: bool = True, stop_on_nonfinite: bool = True):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0 (it is a margin, the direction comes from mode), got {min_delta}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = mode
        self.restore_best = restore_best
        self.stop_on_nonfinite = stop_on_nonfinite
        self.best: float | None = None
        self.best_step: int | None = None
        self.num_steps = 0
        self.bad_steps = 0
        self.stopped = False
        self.stopped_step: int | None = None
        self.reason = ""
        self.best_state: dict | None = None

    def is_improvement(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float | torch.Tensor, model: nn.Module | None = None) -> bool:
        """Record one evaluation; return ``True`` when training should stop."""
        if self.stopped:
            return True
        value = float(value.item() if isinstance(value, torch.Tensor) else value)
        self.num_steps += 1
        if self.stop_on_nonfinite and not math.isfinite(value):
            self._stop(f"monitored value is {value} at evaluation {self.num_steps}", model)
            return True
        if self.is_improvement(value):
            self.best = value
            self.best_step = self.num_steps
            self.bad_steps = 0
            if model is not None and self.restore_best:
                self.best_state = _snapshot(model)
            return False
        self.bad_steps += 1
        if self.bad_steps >= max(self.patience, 1):
            word = "decrease" if self.mode == "min" else "increase"
            self._stop(
                f"no {word} of more than {self.min_delta:g} for {self.bad_steps} evaluation"
                f"{'s' if self.bad_steps != 1 else ''} (patience {self.patience}); best {self.best:.6g} "
                f"at evaluation {self.best_step} of {self.num_steps}",
                model,
            )
            return True
        return False

    def _stop(self, reason: str, model: nn.Module | None) -> None:
        self.stopped = True
        self.stopped_step = self.num_steps
        self.reason = reason
        if model is not None and self.restore_best and self.best_state is not None:
            self.restore(model)
            self.reason += "; restored the best weights"

    def restore(self, model: nn.Module) -> bool:
        """Load the best weights seen into ``model``; ``False`` if none were recorded."""
        if self.best_state is None:
            return False
        model.load_state_dict(self.best_state)
        return True

    def state_dict(self) -> dict:
        """The stopper's counters and best value (not the weights), for checkpointing."""
        return {key: getattr(self, key) for key in (
            "patience", "min_delta", "mode", "best", "best_step", "num_steps", "bad_steps",
            "stopped", "stopped_step", "reason")}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def _snapshot(model: nn.Module) -> dict:
    return {key: value.detach().clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)
            for key, value in model.state_dict().items()}
