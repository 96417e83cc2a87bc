"""``regadvisor probe --verify``: measure that a recommendation helps *this* model before giving it.

Rules of thumb (the lesson's decision table, architecture defaults) are right on average and
often wrong for a given model. This module turns each recommendation of a report into short
A/B trials of the user's own script and keeps only what measurably helps.

How it measures (the choices a reader of the numbers needs to know):

* **Candidates.** Each recommendation whose knob the probe can apply becomes a few candidate
  values: the rule's suggested value and values around it, so that the verified value can differ
  from the table's (:func:`candidate_values`: weight decay and learning rate one decade / a
  factor 3 either side, dropout ±0.2 within [0, 0.7], label smoothing ×½ and ×2, gradient
  clipping ×0.3 and ×3, patience ×½ and ×2; categorical knobs only their suggested value).
  ``data_augmentation`` is advisory: it stays in the report, marked unverified. A knob the probe
  could not apply to this script (``facts["knobs_not_applied"]``, e.g. ``residual`` when
  ``build_model`` does not accept it) is dropped after its first trial and stays unverified.
* **Paired trials.** Baseline and candidate run with the same ``seed`` passed to
  :func:`~regadvisor.probe.run_probe`, which seeds python/torch/numpy before ``build_model`` and
  ``build_data``: same initial weights. A shuffling ``DataLoader`` draws each epoch's order from
  the *global* torch RNG, which dropout also consumes, so after the first epoch a dropout change
  would also change the data order; the runner therefore gives every ``RandomSampler`` without
  a generator its own one seeded with ``seed`` (``runner._pin_shuffle``): the same data order in
  baseline and candidate, epoch after epoch. Seeds ``seed, seed+1, ...`` repeat
  the pair.
* **Metric.** Validation accuracy in points (classification) at the end of the trial, higher
  is better; otherwise validation loss at the end, lower is better. A trial has a fixed length
  (``trial_epochs``/``trial_steps``, never a time limit, so both sides of a pair train equally
  long).
* **Statistics.** Per candidate the mean paired difference (with − baseline) and the half-width
  of its two-sided 95% Student-t interval, ``t(0.975, n−1) · sd / √n`` over the ``n`` seeds
  (:func:`paired_interval`, t from a table: no scipy). A change *helps* when the whole interval
  lies on the better side of zero. With 3 seeds t = 4.30, so only effects about 2.5 standard
  deviations of the paired differences clear the bar: few seeds make the test conservative,
  not lenient.
* **Second look.** A candidate the first look leaves undecided (interval straddling zero, mean
  better than the baseline) gets as many seeds again (3 → 6), with its baseline pairs, in whole
  rounds as far as the budget allows (after keeping room for the combination trials when two
  knobs already help); the decision is then read once more on all pairs. Two looks at a two-sided 95% interval each allow
  at most 2.5% + 2.5% = 5% false "helps" for a change that does nothing (union bound over the
  looks), the one-sided level of a single 90% interval. Without it a real 5-point gain with a
  paired sd of 4 points is missed at 3 seeds (t = 4.30 gives ±9.9) and found at 6 (t = 2.57
  gives ±4.2): dropout on ``examples/models/small_transformer.py`` is such a case.
* **Early abandonment.** After 2 seeds a candidate whose interval lies entirely on the worse
  side of zero, or whose every difference is worse and whose mean is worse by more than
  ``min_effect`` (1 point of accuracy, 2% of the loss), gets no more trials.
* **Early stopping** costs no training: each seed's baseline validation curve is the paired data,
  and the stopper is simulated on it (:func:`simulate_early_stopping`: stop after ``patience``
  epochs without a lower ``val_loss``, restore the best evaluation, read the metric there).
  Selecting the checkpoint on the same validation set that scores it is mildly optimistic, as
  it is for a user who early-stops on their validation set.
* **Together.** The helpful changes (best value per knob) are tried together on the same seeds
  and the combination is kept only when it beats the best single change, paired and beyond noise.
* **Budget.** Seconds or trials; a trial's cost is estimated from the first baseline run, the
  plan is trimmed to fit (fewer values around the suggestion, then fewer knobs, then fewer
  seeds; at least 2 seeds where at all possible), and a trial starts only while the budget is
  not spent, so the budget is exceeded by at most one trial.

:func:`verify` edits the report in place: each helpful recommendation gets ``value`` = the best
verified value and a ``verified`` block; changes that do not help are removed and listed in
``report.notes``; what could not be measured stays, unverified.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model import Recommendation, Report
from .paired_stats import Interval, abandon_reason, paired_interval

TRAINED_KNOBS = ("dropout", "weight_decay", "normalization", "residual", "grad_clip_norm", "label_smoothing",
                 "learning_rate", "optimizer")
SIMULATED_KNOBS = ("early_stopping_patience",)
ADVISORY_KNOBS = ("data_augmentation",)
DROPOUT_MAX = 0.7
ACC_MIN_EFFECT = 1.0
"""Points of validation accuracy that count as 'clearly worse' for early abandonment."""
LOSS_MIN_EFFECT = 0.02
"""Fraction of the baseline validation loss that counts as 'clearly worse'."""


# ---------------------------------------------------------------------------------------------
# early stopping, simulated


@dataclass(frozen=True)
class StopPoint:
    """Where a simulated early stopper ends: the evaluation it stops at and the one it restores."""

    stop_index: int
    best_index: int
    stopped: bool


def simulate_early_stopping(val_loss: Sequence[float], patience: float,
                            epochs: Sequence[float] | None = None) -> StopPoint:
    """Replay an early stopper with restore-best on a recorded validation-loss curve.

    The stopper watches ``val_loss`` (as the probe's own early stopping does): it stops once the
    loss has not reached a new minimum for ``patience`` epochs (measured on ``epochs`` when given,
    else counted in evaluations), and restores the weights of the best evaluation. Without
    a stop, the best evaluation of the whole curve is restored (a best checkpoint).
    """
    best_i, best = -1, math.inf
    for i, v in enumerate(val_loss):
        if math.isfinite(v) and v < best:
            best_i, best = i, v
            continue
        if best_i < 0:
            continue
        waited = (epochs[i] - epochs[best_i]) if epochs is not None and math.isfinite(epochs[i]) \
            and math.isfinite(epochs[best_i]) else (i - best_i)
        if waited >= patience - 1e-9:
            return StopPoint(i, best_i, True)
    last = len(val_loss) - 1
    return StopPoint(last, best_i if best_i >= 0 else last, False)


# ---------------------------------------------------------------------------------------------
# candidates


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _round(v: float) -> float:
    return float(f"{v:.3g}")


def candidate_values(knob: str, suggested: Any, current: Any = None) -> list[Any]:
    """The values to try for one recommendation: the suggestion first, then values around it.

    Values equal to ``current`` (no change) are left out; out-of-range values are clipped or
    dropped.
    """
    s = _num(suggested)
    if knob in ("normalization", "optimizer", "residual"):
        values: list[Any] = [suggested]
    elif s is None:
        values = [suggested]
    elif knob == "dropout":
        values = [min(max(_round(s), 0.0), DROPOUT_MAX)]
        values += [_round(x) for x in (s - 0.2, s + 0.2) if 0.0 <= x <= DROPOUT_MAX + 1e-9]
    elif knob == "weight_decay":
        values = [_round(s)] + ([_round(s / 10), _round(s * 10)] if s > 0 else [1e-4, 1e-3])
    elif knob == "learning_rate":
        values = [_round(s), _round(s / 3), _round(s * 3)] if s > 0 else []
    elif knob == "label_smoothing":
        values = [_round(x) for x in (s, s / 2, min(2 * s, 0.3)) if 0 < x < 1]
    elif knob == "grad_clip_norm":
        values = [_round(s), _round(s * 0.3), _round(s * 3)] if s > 0 else []
    elif knob == "early_stopping_patience":
        p = max(1, round(s))
        values = [p, max(1, p // 2), 2 * p]
    else:
        values = [suggested]
    out: list[Any] = []
    cur = _num(current) if knob not in ("normalization", "optimizer", "residual") else None
    for v in values:
        if v in out:
            continue
        if current is not None and (v == current or (cur is not None and _num(v) is not None
                                                       and abs(_num(v) - cur) <= 1e-12)):
            continue
        out.append(v)
    return out


# ---------------------------------------------------------------------------------------------
# budget


def parse_budget(text: str | float | None) -> tuple[float | None, int | None]:
    """``"120"``/``"120s"``/``"2m"`` → seconds, ``"30t"`` → trials; ``None`` → no limit."""
    if text is None:
        return None, None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not text > 0:
            raise ConfigError(f"--budget must be positive, not {text!r}", source="--budget")
        return float(text), None
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(s|sec|m|min|t|trials?)?\s*", str(text))
    if not m or not float(m.group(1)) > 0:
        raise ConfigError(f"--budget {text!r} is not a number of seconds or trials", source="--budget",
                          hint="e.g. --budget 120 (seconds), --budget 5m, --budget 30t (trials)")
    n, unit = float(m.group(1)), (m.group(2) or "s")
    if unit.startswith("t"):
        if n != int(n):
            raise ConfigError(f"--budget {text!r}: trials must be a whole number", source="--budget")
        return None, int(n)
    return (n * 60 if unit.startswith("m") else n), None


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class Trial:
    """One short training: its configuration, seed, metric at the end and curves."""

    changes: dict[str, Any]
    seed: int
    value: float
    seconds: float
    val_loss: list[float]
    metric_curve: list[float]
    epochs: list[float]
    not_applied: dict[str, str] = field(default_factory=dict)
    diverged: bool = False


@dataclass
class Effect:
    """The measured effect of one change (or combination) against its paired reference.

    ``difference`` is ``with_change - baseline`` in the metric's own units (points of accuracy
    or loss); ``helps`` means the 95% interval lies on the better side of zero.
    """

    changes: dict[str, Any]
    metric: str
    baseline: list[float]
    with_change: list[float]
    seeds: list[int]
    higher_is_better: bool
    abandoned: str | None = None
    simulated: bool = False

    @property
    def interval(self) -> Interval:
        return paired_interval(self.with_change, self.baseline)

    @property
    def trials(self) -> int:
        return len(self.with_change)

    @property
    def gain(self) -> float:
        """Mean improvement (positive is better, whatever the metric's direction)."""
        m = self.interval.mean
        return m if self.higher_is_better else -m

    @property
    def helps(self) -> bool:
        iv = self.interval
        if iv.n < 2 or not math.isfinite(iv.half_width):
            return False
        return iv.low > 0 if self.higher_is_better else iv.high < 0

    @property
    def measured(self) -> bool:
        return self.trials >= 2

    @property
    def undecided(self) -> bool:
        """Measured, not abandoned, not (yet) helping, but better on average: worth a second look."""
        return self.measured and not self.abandoned and not self.helps and self.gain > 0

    def block(self) -> dict[str, Any]:
        """The ``verified`` block of a recommendation (report.schema.json)."""
        iv = self.interval
        return {
            "metric": self.metric,
            "baseline": round(sum(self.baseline) / len(self.baseline), 6),
            "with_change": round(sum(self.with_change) / len(self.with_change), 6),
            "difference": round(iv.mean, 6),
            "uncertainty": round(iv.half_width, 6),
            "trials": self.trials,
            "helps": self.helps,
        }


@dataclass
class VerifyProgress:
    """Passed to the ``progress`` callback before each trial and once at the end (``label`` "done")."""

    trials_done: int
    trials_planned: int
    seconds: float
    budget_seconds: float | None
    budget_trials: int | None
    label: str


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`.

    ``effects`` holds every measured candidate (one per knob value); ``kept`` the knob values
    that helped and are recommended (best value per knob); ``combination`` the effect of the
    helpful changes together against the best single change (``None`` when fewer than two
    helped); ``unverified`` knob → why it was not measured.
    """

    report: Report
    metric: str
    higher_is_better: bool
    seeds: list[int]
    baseline: dict[int, float]
    effects: list[Effect]
    kept: dict[str, Any]
    best_single: Effect | None
    combination: Effect | None
    combination_kept: bool
    unverified: dict[str, str]
    trials: int
    seconds: float
    trial_length: dict[str, int | None]
    current: dict[str, Any]

    def best(self, knob: str) -> Effect | None:
        """The most helpful measured effect of ``knob`` (or its best measured one if none helps)."""
        mine = [e for e in self.effects if list(e.changes) == [knob] and e.measured]
        if not mine:
            return None
        helpful = [e for e in mine if e.helps]
        return max(helpful or mine, key=lambda e: e.gain)


# ---------------------------------------------------------------------------------------------
# data order


# ---------------------------------------------------------------------------------------------
# the verifier


def _label(knob: str, current: Any, value: Any) -> str:
    def f(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    return f"{knob} {f(current)} → {f(value)}"


def effect_text(iv: Interval, metric: str) -> str:
    """``+4.1 ± 1.2 points val acc`` / ``−0.031 ± 0.02 val_loss`` (a true minus sign)."""
    if not math.isfinite(iv.mean):
        return "training diverged"
    if metric == "val_acc points":
        diff, unc, unit = f"{iv.mean:+.1f}", f"{iv.half_width:.1f}", "points val acc"
    else:
        diff, unc, unit = f"{iv.mean:+.2g}", f"{iv.half_width:.2g}", "val_loss"
    return f"{diff.replace('-', '−', 1)} ± {unc} {unit}"


def describe(effect: Effect, current: dict[str, Any]) -> str:
    """``dropout 0 → 0.3: +4.1 ± 1.2 points val acc over 4 seeds`` (``helps`` is the caller's to add)."""
    what = " + ".join(_label(k, current.get(k), v) for k, v in effect.changes.items())
    extra = " (simulated on the baseline curves)" if effect.simulated else ""
    return f"{what}: {effect_text(effect.interval, effect.metric)} over {effect.trials} seeds{extra}"


class _Verifier:
    def __init__(self, script: str | Path, report: Report, *, budget_seconds: float | None,
                 budget_trials: int | None, seeds: int, seed: int, trial_epochs: int | None,
                 trial_steps: int | None, device: str, knobs: dict[str, Any] | None,
                 progress: Callable[[VerifyProgress], None] | None):
        if seeds < 2:
            raise ConfigError("verification needs at least 2 seeds (a paired t-interval needs two pairs)",
                              source="seeds")
        if budget_trials is not None and budget_trials < 1:
            raise ConfigError("the trial budget must be at least 1", source="--budget")
        if budget_seconds is not None and not budget_seconds > 0:
            raise ConfigError("the time budget must be positive", source="--budget")
        self.script, self.report = Path(script), report
        self.budget_seconds, self.budget_trials = budget_seconds, budget_trials
        self.seeds = [seed + i for i in range(seeds)]
        self.device, self.progress = device, progress
        facts = report.run.facts
        base = dict(facts.get("knobs_requested") or {}) if knobs is None else dict(knobs)
        self.base_patience = base.pop("early_stopping_patience", None)
        base.pop("data_augmentation", None)
        self.base_knobs = base
        if trial_epochs is None and trial_steps is None:
            budget = facts.get("probe_budget") or {}
            if facts.get("stop_reason") == "steps" and budget.get("steps"):
                trial_steps = int(budget["steps"])
            else:
                trial_epochs = max(1, math.ceil((facts.get("probe_epochs") or 10) - 1e-6))
        self.trial_epochs, self.trial_steps = trial_epochs, trial_steps
        self.t0 = time.perf_counter()
        self.trials = 0
        self.cost: float | None = None
        self.planned = 0
        self.metric = "val_loss"
        self.higher = False

    # -- budget ------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def can_start(self) -> bool:
        if self.budget_trials is not None and self.trials >= self.budget_trials:
            return False
        if self.budget_seconds is not None:
            est = self.cost or 0.0
            if self.elapsed() + 0.5 * est > self.budget_seconds:
                return False
        return True

    def capacity(self) -> float:
        """Trials still affordable (inf without a budget)."""
        cap = math.inf
        if self.budget_trials is not None:
            cap = self.budget_trials - self.trials
        if self.budget_seconds is not None and self.cost:
            cap = min(cap, (self.budget_seconds - self.elapsed()) / self.cost + 0.5)
        return cap

    def tick(self, label: str) -> None:
        if self.progress is not None:
            self.progress(VerifyProgress(self.trials, max(self.planned, self.trials), self.elapsed(),
                                         self.budget_seconds, self.budget_trials, label))

    # -- one trial ---------------------------------------------------------------------------
    def run_trial(self, changes: dict[str, Any], seed: int, label: str) -> Trial:
        from .runner import run_probe

        self.tick(f"{label}, seed {seed}")
        knobs = {**self.base_knobs, **{k: v for k, v in changes.items() if k not in SIMULATED_KNOBS}}
        t = time.perf_counter()
        res = run_probe(self.script, steps=self.trial_steps, epochs=self.trial_epochs, device=self.device,
                        seed=seed, knobs=knobs)
        seconds = time.perf_counter() - t
        self.trials += 1
        if self.cost is None:
            self.cost = seconds
        else:
            self.cost = 0.7 * self.cost + 0.3 * seconds
        run = res.run
        if self.trials == 1:
            acc = run.get("val_acc")
            self.higher = acc is not None
            self.metric = "val_acc points" if self.higher else "val_loss"
        vl = run.get("val_loss")
        loss = list(vl.values) if vl is not None else []
        epochs = list(vl.epochs) if vl is not None else []
        if self.higher:
            s = run.get("val_acc")
            curve = [100.0 * v for v in s.values] if s is not None else []
        else:
            curve = list(loss)
        patience = changes.get("early_stopping_patience", self.base_patience)
        value = self._final(loss, curve, epochs, patience)
        not_applied = {k: v for k, v in (run.facts.get("knobs_not_applied") or {}).items() if k in changes}
        return Trial(dict(changes), seed, value, seconds, loss, curve, epochs, not_applied, res.diverged)

    @staticmethod
    def _final(loss: list[float], curve: list[float], epochs: list[float], patience: Any) -> float:
        if not curve:
            return math.nan
        if patience is None:
            return curve[-1]
        stop = simulate_early_stopping(loss, float(patience), epochs if len(epochs) == len(loss) else None)
        return curve[stop.best_index] if stop.best_index < len(curve) else curve[-1]

    # -- the plan ----------------------------------------------------------------------------
    def candidates(self) -> tuple[list[tuple[str, list[Any]]], dict[str, str]]:
        out: list[tuple[str, list[Any]]] = []
        skipped: dict[str, str] = {}
        for rec in self.report.recommendations:
            if rec.knob in ADVISORY_KNOBS:
                skipped[rec.knob] = "advisory only: the probe cannot apply it"
                continue
            if rec.knob not in TRAINED_KNOBS + SIMULATED_KNOBS:
                skipped[rec.knob] = "the probe cannot apply this knob"
                continue
            current = rec.current
            if rec.knob in self.base_knobs:
                current = self.base_knobs[rec.knob]
            values = candidate_values(rec.knob, rec.value, current)
            if rec.knob == "early_stopping_patience" and self.base_patience is not None:
                values = [v for v in values if v != self.base_patience]
            if not values:
                skipped[rec.knob] = "no value to try differs from the current setting"
                continue
            out.append((rec.knob, values))
        return out, skipped

    @staticmethod
    def plan_cost(plan: list[tuple[str, list[Any]]], rounds: int) -> int:
        """Trials for ``rounds`` seeds of baseline, every trained candidate and one combination."""
        trained = sum(len(v) for k, v in plan if k not in SIMULATED_KNOBS)
        return rounds * (1 + trained + (1 if len(plan) > 1 else 0))

    def trim(self, plan: list[tuple[str, list[Any]]], rounds: int) -> list[tuple[str, list[Any]]]:
        """Fewer values around the suggestion, then fewer knobs (last = weakest evidence first),
        until ``rounds`` seeds of baseline + candidates (+ one combination per seed) fit."""
        cap = self.capacity() + 1  # the first baseline already ran

        def cost(p: list[tuple[str, list[Any]]]) -> int:
            return self.plan_cost(p, rounds)

        plan = [(k, list(v)) for k, v in plan]
        for i in reversed(range(len(plan))):
            while cost(plan) > cap and len(plan[i][1]) > 1 and plan[i][0] not in SIMULATED_KNOBS:
                plan[i][1].pop()
        while cost(plan) > cap and sum(1 for k, _ in plan if k not in SIMULATED_KNOBS) > 1:
            idx = max(i for i, (k, _) in enumerate(plan) if k not in SIMULATED_KNOBS)
            del plan[idx]
        return plan

    # -- run ---------------------------------------------------------------------------------
    def run(self) -> VerifyResult:
        plan, unverified = self.candidates()
        current = {rec.knob: (self.base_knobs.get(rec.knob, rec.current)) for rec in self.report.recommendations}
        if self.base_patience is not None:
            current["early_stopping_patience"] = self.base_patience
        effects: dict[tuple[str, Any], Effect] = {}
        baseline: dict[int, Trial] = {}
        dropped: dict[str, str] = {}
        trained = [(k, v) for k, vs in plan for v in vs if k not in SIMULATED_KNOBS]
        self.planned = len(self.seeds) * (1 + len(trained) + (1 if len(plan) > 1 else 0))
        if plan and self.can_start():
            baseline[self.seeds[0]] = self.run_trial({}, self.seeds[0], "baseline")
            rounds = len(self.seeds)
            full = rounds * (1 + len(trained) + (len(plan) > 1))
            if self.capacity() + 1 < full:
                # keep 3 seeds (t = 4.30) while trimming candidates; 2 seeds (t = 12.7) only as a last resort
                rounds = min(rounds, 3)
                trimmed = self.trim(plan, rounds)
                if rounds > 2 and self.capacity() + 1 < self.plan_cost(trimmed, rounds):
                    rounds = 2
                    trimmed = self.trim(plan, rounds)
                plan = trimmed
            trained_plan = [(k, v) for k, vs in plan for v in vs if k not in SIMULATED_KNOBS]
            self.planned = rounds * (1 + len(trained_plan) + (1 if len(plan) > 1 else 0))
            kept_knobs = {k for k, _ in plan}
            for k, _ in self._all_candidates():
                if k not in kept_knobs and k not in unverified:
                    unverified[k] = "left out to fit the budget"
            for k, vs in plan:
                for v in vs:
                    effects[(k, v)] = Effect({k: v}, self.metric, [], [], [], self.higher,
                                             simulated=k in SIMULATED_KNOBS)
            self._rounds(plan, self.seeds[:rounds], baseline, effects, dropped)
            self._second_look(plan, rounds, baseline, effects, dropped)
        for k, why in dropped.items():
            unverified[k] = why
        measured = [e for e in effects.values() if e.measured and next(iter(e.changes)) not in dropped]
        for (k, _), e in effects.items():
            if k in dropped or k in unverified or any(next(iter(m.changes)) == k for m in measured):
                continue
            diverged = any(x.abandoned == "training diverged" for (kk, _), x in effects.items() if kk == k)
            unverified[k] = "training diverged with it" if diverged else "the budget allowed fewer than 2 paired trials"
        best_per_knob: dict[str, Effect] = {}
        for e in measured:
            k = next(iter(e.changes))
            if e.helps and (k not in best_per_knob or e.gain > best_per_knob[k].gain):
                best_per_knob[k] = e
        kept = {k: e.changes[k] for k, e in best_per_knob.items()}
        best_single = max(best_per_knob.values(), key=lambda e: e.gain) if best_per_knob else None
        combination, combination_kept = None, False
        if len(best_per_knob) > 1 and best_single is not None:
            combination = self._combination(kept, best_single, baseline)
            combination_kept = combination is not None and combination.helps
        result = VerifyResult(
            report=self.report, metric=self.metric, higher_is_better=self.higher, seeds=sorted(baseline),
            baseline={s: t.value for s, t in sorted(baseline.items())}, effects=measured, kept=kept,
            best_single=best_single, combination=combination, combination_kept=combination_kept,
            unverified=unverified, trials=self.trials, seconds=self.elapsed(),
            trial_length={"epochs": self.trial_epochs, "steps": self.trial_steps}, current=current,
        )
        self.tick("done")
        apply_to_report(result)
        return result

    def _all_candidates(self) -> list[tuple[str, list[Any]]]:
        return self.candidates()[0]

    def _second_look(self, plan: list[tuple[str, list[Any]]], rounds: int, baseline: dict[int, Trial],
                     effects: dict[tuple[str, Any], Effect], dropped: dict[str, str]) -> None:
        """As many seeds again for the candidates the first look left undecided with a positive mean."""
        undecided = [(k, [v for v in vs if effects[(k, v)].undecided]) for k, vs in plan if k not in dropped]
        undecided = [(k, vs) for k, vs in undecided if vs]
        if not undecided or rounds < 2:
            return
        trained = sum(len(vs) for k, vs in undecided if k not in SIMULATED_KNOBS)
        # leave room for the combination trials (one per seed of the first look) when two knobs
        # already help: that comparison will run whatever the second look finds
        helping = {k for (k, _), e in effects.items() if k not in dropped and e.helps}
        reserve = rounds if len(helping) > 1 else 0
        capacity = self.capacity()
        affordable = rounds if math.isinf(capacity) else int(max(0.0, capacity - reserve) // (1 + trained))
        extra = [self.seeds[0] + i for i in range(rounds, rounds + min(rounds, affordable))]
        if not extra:
            return
        self.seeds += [s for s in extra if s not in self.seeds]
        self.planned += len(extra) * (1 + trained)
        self._rounds(undecided, extra, baseline, effects, dropped)

    def _rounds(self, plan: list[tuple[str, list[Any]]], seeds: list[int], baseline: dict[int, Trial],
                effects: dict[tuple[str, Any], Effect], dropped: dict[str, str]) -> None:
        min_effect = ACC_MIN_EFFECT
        for seed in seeds:
            if not any(not effects[(k, v)].abandoned and k not in dropped for k, vs in plan for v in vs):
                return
            if seed not in baseline:
                if not self.can_start():
                    return
                baseline[seed] = self.run_trial({}, seed, "baseline")
            base = baseline[seed]
            if not math.isfinite(base.value):
                continue
            if not self.higher:
                min_effect = LOSS_MIN_EFFECT * abs(base.value)
            for k, vs in plan:
                for v in vs:
                    e = effects[(k, v)]
                    if e.abandoned or k in dropped:
                        continue
                    if k in SIMULATED_KNOBS:
                        value = self._final(base.val_loss, base.metric_curve, base.epochs, v)
                    else:
                        if not self.can_start():
                            return
                        t = self.run_trial({k: v}, seed, _label(k, None, v).replace("— → ", "= "))
                        if t.not_applied:
                            dropped[k] = f"not measured: {t.not_applied[k]}"
                            continue
                        value = t.value
                        if not math.isfinite(value) or t.diverged:
                            e.abandoned = "training diverged"
                            e.baseline.append(base.value)
                            e.with_change.append(-math.inf if self.higher else math.inf)
                            e.seeds.append(seed)
                            continue
                    e.baseline.append(base.value)
                    e.with_change.append(value)
                    e.seeds.append(seed)
                    if e.trials >= 2:
                        gains = [(w - b) if self.higher else (b - w) for w, b in zip(e.with_change, e.baseline)]
                        e.abandoned = abandon_reason(gains, min_effect)

    def _combination(self, kept: dict[str, Any], best: Effect, baseline: dict[int, Trial]) -> Effect | None:
        """All helpful changes together vs the best single change, on the best change's seeds."""
        eff = Effect(dict(kept), self.metric, [], [], [], self.higher)
        ref = dict(zip(best.seeds, best.with_change))
        trained = {k: v for k, v in kept.items() if k not in SIMULATED_KNOBS}
        for seed in best.seeds:
            if not trained:
                break
            if not self.can_start():
                break
            t = self.run_trial(kept, seed, "together")
            if not math.isfinite(t.value):
                continue
            eff.baseline.append(ref[seed])
            eff.with_change.append(t.value)
            eff.seeds.append(seed)
        return eff if eff.trials else None


def verify(
    script: str | Path,
    report: Report,
    *,
    budget_seconds: float | None = None,
    budget_trials: int | None = None,
    seeds: int = 3,
    seed: int = 0,
    trial_epochs: int | None = None,
    trial_steps: int | None = None,
    device: str = "auto",
    knobs: dict[str, Any] | None = None,
    progress: Callable[[VerifyProgress], None] | None = None,
) -> VerifyResult:
    """Measure each recommendation of ``report`` on ``script`` in paired short trials; edit the report.

    ``budget_seconds``/``budget_trials`` bound the verification (not the probe that produced the
    report); with neither, the full plan runs (``seeds`` seeds of baseline and every candidate).
    Trials last ``trial_epochs`` epochs (or ``trial_steps`` steps); by default as long as the
    probe behind ``report`` ran. ``knobs`` are the settings every trial starts from (default:
    those the report's probe was given). See the module docstring for the statistics.
    """
    return _Verifier(script, report, budget_seconds=budget_seconds, budget_trials=budget_trials, seeds=seeds,
                     seed=seed, trial_epochs=trial_epochs, trial_steps=trial_steps, device=device, knobs=knobs,
                     progress=progress).run()


# ---------------------------------------------------------------------------------------------
# the report


def apply_to_report(result: VerifyResult) -> None:
    """Edit ``result.report``: verified values and blocks, unhelpful changes moved to the notes."""
    report = result.report
    keep: list[Recommendation] = []
    notes: list[str] = []
    for rec in report.recommendations:
        if rec.knob in result.unverified:
            keep.append(rec)
            notes.append(f"{rec.knob}: not verified ({result.unverified[rec.knob]})")
            continue
        best = result.best(rec.knob)
        if best is None:
            keep.append(rec)
            continue
        if not best.helps:
            tail = f" (stopped early: {best.abandoned})" if best.abandoned else ""
            notes.append(f"{describe(best, result.current)}{tail}: not recommended")
            continue
        value = best.changes[rec.knob]
        rec.set_value(value)
        rec.verified = best.block()
        helpful = sorted((e.changes[rec.knob] for e in result.effects
                          if list(e.changes) == [rec.knob] and e.helps), key=lambda v: (_num(v) is None, _num(v) or 0))
        if len(helpful) > 1 and all(_num(v) is not None for v in helpful):
            rec.range = [helpful[0], helpful[-1]]
        elif rec.range and _num(value) is not None and all(_num(x) is not None for x in rec.range) \
                and not (min(rec.range) <= value <= max(rec.range)):
            rec.range = None
        keep.append(rec)
    helpful_recs = [r for r in keep if r.verified and r.verified.get("helps")]
    if result.combination is None and result.best_single is not None and len(helpful_recs) > 1:
        best_knob = next(iter(result.best_single.changes))
        notes.append(f"together: not measured within the budget; each change helps alone: "
                     f"start with {best_knob}")
    if result.combination is not None and result.best_single is not None:
        combo = result.combination
        best_knob = next(iter(result.best_single.changes))
        verdict = "kept: apply them together" if result.combination_kept else \
            f"not better than {best_knob} alone beyond noise: start with {best_knob}"
        what = " + ".join(_label(k, result.current.get(k), v) for k, v in combo.changes.items())
        notes.append(f"together ({what}) vs {best_knob} alone: {effect_text(combo.interval, combo.metric)} "
                     f"over {combo.trials} seeds: {verdict}")
        if not result.combination_kept:
            for r in helpful_recs:
                if r.knob != best_knob:
                    r.note = ((r.note + " ") if r.note else "") + \
                        f"Helps alone; together with {best_knob} not measurably better than {best_knob} alone."
    # strongest measured effect first, then the unverified ones in their original order
    order = {id(r): i for i, r in enumerate(keep)}
    gain = {r.knob: e.gain for r in helpful_recs if (e := result.best(r.knob)) is not None}
    keep.sort(key=lambda r: (0, -gain[r.knob], order[id(r)]) if r.knob in gain else (1, 0, order[id(r)]))
    report.recommendations = keep
    length = f"{result.trial_length['epochs']} epochs" if result.trial_length.get("epochs") else \
        f"{result.trial_length.get('steps')} steps"
    if result.trials:
        notes.insert(0, f"verified: {result.trials} trials of {length} in {result.seconds:.0f} s, paired by seed "
                        f"(same initial weights and data order), metric {result.metric}, 95% t-intervals")
    else:
        notes.insert(0, "verify: nothing to measure (no recommendation the probe can apply)")
    report.notes.extend(notes)
