"""The compute budget of ``--verify``, in the user's units.

A budget is counted in *full trainings*: optimizer steps trained, over the steps of one training
of the real length. ``6x`` (the default) allows six full trainings, the probe included. That
unit does not depend on the machine, so the same command gives the same advice on a slow laptop
and a fast workstation, and it says what the advice cost in terms a user plans with ("5.1 full
trainings of 150 epochs"). Seconds (``120``, ``5m``) and trial counts (``30t``) are accepted as
well; a time budget makes the result depend on the machine's speed and load.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..numbers import is_number

DEFAULT_BUDGET = "6x"
"""Six full trainings: what six random configurations trained at full length cost, the
strongest simple alternative a user has (random search, Bergstra & Bengio 2012)."""

_BUDGET = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(x|s|sec|m|min|t|trials?)?\s*")


@dataclass(frozen=True)
class Budget:
    """A parsed ``--budget``: at most one of full trainings, seconds or trials is set."""

    trainings: float | None = None
    seconds: float | None = None
    trials: int | None = None

    def describe(self) -> str:
        if self.trainings is not None:
            return f"{self.trainings:g} full trainings"
        if self.seconds is not None:
            return f"{self.seconds:g} s"
        return f"{self.trials} trials"


def parse_budget(text: str | float | None) -> Budget:
    """``"6x"`` → 6 full trainings, ``"120"``/``"120s"``/``"2m"`` → seconds, ``"30t"`` → trials.

    ``None`` is the default budget (:data:`DEFAULT_BUDGET`); a bare number means seconds.
    """
    if text is None:
        text = DEFAULT_BUDGET
    if is_number(text):
        if not (math.isfinite(text) and text > 0):
            raise ConfigError(f"--budget must be positive, not {text!r}", source="--budget")
        return Budget(seconds=float(text))
    m = _BUDGET.fullmatch(str(text))
    if not m or not float(m.group(1)) > 0:
        raise ConfigError(f"--budget {text!r} is not a number of full trainings, seconds or trials",
                          source="--budget",
                          hint="e.g. --budget 6x (full trainings), --budget 120 (seconds), --budget 30t (trials)")
    n, unit = float(m.group(1)), (m.group(2) or "s")
    if unit == "x":
        return Budget(trainings=n)
    if unit.startswith("t"):
        if n != int(n):
            raise ConfigError(f"--budget {text!r}: trials must be a whole number", source="--budget")
        return Budget(trials=int(n))
    return Budget(seconds=n * 60 if unit.startswith("m") else n)


@dataclass
class Ledger:
    """What verification has spent: optimizer steps, trials and seconds, against a :class:`Budget`.

    ``full_steps`` is the length of one full training in optimizer steps. Costs are charged as
    trials finish; :meth:`affords` answers whether ``steps`` more would still fit.
    """

    budget: Budget
    full_steps: int
    steps: int = 0
    trials: int = 0
    t0: float = field(default_factory=time.perf_counter)

    def charge(self, steps: int) -> None:
        """Record one finished trial of ``steps`` optimizer steps."""
        self.steps += steps
        self.trials += 1

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    @property
    def trainings(self) -> float:
        """Full trainings spent so far."""
        return self.steps / self.full_steps

    def affords(self, steps: float, trials: int = 1) -> bool:
        """Whether ``trials`` more trials of ``steps`` steps in all fit what is left."""
        b = self.budget
        if b.trainings is not None:
            return self.steps + steps <= b.trainings * self.full_steps + 1e-9
        if b.trials is not None:
            return self.trials + trials <= b.trials
        if b.seconds is not None:
            per_step = self.seconds / self.steps if self.steps else 0.0
            return self.seconds + per_step * steps <= b.seconds
        return True

    def left_steps(self) -> float:
        """Steps still affordable (inf for a trial budget, estimated from speed for seconds)."""
        b = self.budget
        if b.trainings is not None:
            return b.trainings * self.full_steps - self.steps
        if b.seconds is not None and self.steps:
            return max(0.0, (b.seconds - self.seconds) * self.steps / self.seconds)
        return math.inf
