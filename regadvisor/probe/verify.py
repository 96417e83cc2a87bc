"""``regadvisor probe --verify``: measure, at the real training length, what the advice buys.

Rules of thumb (the lesson's decision table, architecture defaults) are right on average and
often wrong for a given model, and a short trial cannot tell: overfitting, and what early
stopping, dropout and weight decay buy against it, often show only after the first 10-20
epochs. So every measurement here is taken at the user's real training length (the script's
``EPOCHS``, ``--train-epochs``/``--train-steps``; where unknown, the length probed, and the
report says so).

How it measures (the choices a reader of the numbers needs to know):

* **Baseline.** The probe's own run is the baseline on the first seed; runs end early once
  validation is clearly past its best (the probe's ``past-best`` stop), and a baseline is then
  scored where it stopped. Training on would only lower it further, so this favours the
  baseline: measured gains are, if anything, understated.
* **Candidates and schedule.** Joint configurations of the recommended knobs within the
  rules' ranges, screened on the first seed by successive halving on Optuna (:mod:`.search`),
  each curve valued with and without early stopping at several patiences (:mod:`.trials`).
* **Decision.** The best screened configuration (the *leader*) trains on ``seeds - 1`` more
  seeds, paired with baseline runs on the same seeds (same initial weights and data order:
  ``runner._pin_shuffle``), and its early-stopping patience is applied for real. The decision
  is the 95% Student-t interval of the paired differences over all seeds, the screening seed
  included (:func:`~.paired_stats.paired_interval`): the leader is kept only when the whole
  interval lies on the better side of zero. Picking the best of N candidates on the first
  seed inflates that seed's difference (by about 1.5 σ for N ≈ 10); over 3 pairs the mean
  moves by 0.5 σ against a half-width of 4.30 × √2 σ / √3 ≈ 3.5 σ, so the test stays
  conservative. The same luck can carry knobs that buy nothing beyond early stopping: early
  stopping alone is replayed on the same seeds' baseline curves, and the leader's other knobs
  are kept only where they buy :data:`MIN_GAIN` more than it on the mean
  (:meth:`_Verifier._choose`).
* **Second look.** A leader the first look leaves undecided with a better mean gets as many
  seeds again where the budget allows; two looks at 95% each allow at most 5% false "helps"
  (union bound).
* **Budget.** In full trainings of the real length, the probe included (:mod:`.budget`,
  default ``6x``); the screen stops while the decision for its current leader still fits.
* **Keep what is right.** "No change" when nothing helps beyond noise; a value that measured
  worse is never recommended.

:func:`verify` edits the report in place: the kept configuration's knobs get the measured
value and a ``verified`` block (the joint effect); recommendations the leader does not use are
removed and listed in ``report.notes``; what could not be measured stays, unverified.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model import Note, Recommendation, Report
from .budget import Budget, Ledger, parse_budget
from .paired_stats import Interval, paired_differences, paired_interval
from .parallel import Job, TrialPool
from .runner import EvaluationPoint
from .search import (
    TRAINED_KNOBS,
    Screened,
    Screening,
    first_rung,
    prefetch_sampler,
    rule_bounds,
    search_space,
    verdict_knobs,
)
from .trials import Curve, TrialRunner

SIMULATED_KNOBS = ("early_stopping_patience",)
ADVISORY_KNOBS = ("data_augmentation",)
PATIENCES = (3, 5, 10, 20)
"""Early-stopping patiences (evaluations) every curve is valued at: the 5-20 practitioners use,
and 3 for short trainings; only those below a third of the training length are tried."""
MAX_SCREENED = 40
"""Candidates screened at most, however cheap they are."""
DECISION_MARGIN = 1.15
MIN_GAIN = {True: 0.5, False: 0.01}
"""Smallest mean gain worth a change: 0.5 points of accuracy, or 1% of the validation loss."""


def least_gain(higher_is_better: bool, level: float) -> float:
    """:data:`MIN_GAIN` in the metric's units: points of accuracy, or a share of the loss ``level``."""
    return MIN_GAIN[True] if higher_is_better else MIN_GAIN[False] * abs(level)

EVERY_SEED_MIN = 3
"""Paired seeds a change must win on, every one, to be kept when the t-interval still spans zero.
With three seeds the 95% t-interval needs t = 4.30 standard errors: a change 26, 18 and 2 points
better on its three seeds (small_transformer in ``benchmarks/bench_verify.py``) is not "clear",
yet a change with no effect wins all three only 1 time in 8 and a harmful one almost never."""


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class Effect:
    """The measured effect of a configuration against its paired baseline.

    ``difference`` is ``with_change - baseline`` in the metric's own units (points of accuracy,
    or validation loss); ``helps`` means the mean gain is at least :data:`MIN_GAIN` and either
    the 95% interval lies on the better side of zero or the change is better on every one of at
    least :data:`EVERY_SEED_MIN` paired seeds.
    """

    changes: dict[str, Any]
    metric: str
    higher_is_better: bool
    baseline: list[float] = field(default_factory=list)
    with_change: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

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
        clear = iv.low > 0 if self.higher_is_better else iv.high < 0
        return (clear or self.better_on_every_seed) and self.gain >= least_gain(self.higher_is_better,
                                                                                 _mean(self.baseline))

    @property
    def better_on_every_seed(self) -> bool:
        """Better than the baseline on each of at least :data:`EVERY_SEED_MIN` paired seeds."""
        diffs = paired_differences(self.with_change, self.baseline)
        sign = 1.0 if self.higher_is_better else -1.0
        return len(diffs) >= EVERY_SEED_MIN and all(sign * d > 0 for d in diffs)

    @property
    def undecided(self) -> bool:
        """Measured, not (yet) helping, but better on average: worth a second look."""
        return self.trials >= 2 and not self.helps and self.gain > 0

    def block(self) -> dict[str, Any]:
        """The ``verified`` block of a recommendation (report.schema.json)."""
        iv = self.interval
        return {
            "metric": self.metric,
            "baseline": round(_mean(self.baseline), 6),
            "with_change": round(_mean(self.with_change), 6),
            "difference": round(iv.mean, 6),
            "uncertainty": round(iv.half_width, 6),
            "trials": self.trials,
            "helps": self.helps,
            "better_on_every_seed": self.better_on_every_seed,
        }


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


@dataclass
class VerifyProgress:
    """Passed to the ``progress`` callback before each trial and once at the end (``label`` "done")."""

    trials_done: int
    trials_planned: int
    seconds: float
    budget_seconds: float | None
    budget_trials: int | None
    label: str
    trainings_done: float = 0.0
    budget_trainings: float | None = None


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`.

    ``screened`` holds every screened candidate (seed-0 curves, pruned or valued); ``leader``
    the best of them; ``effect`` its paired comparison with the baseline over ``seeds``;
    ``kept`` the knob values recommended (empty when nothing helped beyond noise);
    ``unverified`` knob → why it was not measured. ``trainings`` is the compute spent, probe
    included, in full trainings of ``length``; ``workers`` ran the trials, and
    ``speculative_trainings`` is the extra work they did ahead of the one-process schedule
    (never charged, never deciding anything: :mod:`.parallel`). ``over_stopping`` compares a
    leader with knobs to early stopping alone on the first look's seeds (``baseline`` there is
    the stopper alone); ``leader`` is the one of the two :meth:`_Verifier._choose` picked.
    """

    report: Report
    metric: str
    higher_is_better: bool
    seeds: list[int]
    baseline: dict[int, float]
    screened: list[Screened]
    leader: Screened | None
    effect: Effect | None
    kept: dict[str, Any]
    unverified: dict[str, str]
    trials: int
    seconds: float
    trainings: float
    length: dict[str, int]
    length_known: bool
    current: dict[str, Any]
    workers: int = 1
    speculative_trainings: float = 0.0
    over_stopping: Effect | None = None


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
    """``dropout 0 → 0.3 + weight_decay 0 → 0.05: +4.1 ± 1.2 points val acc over 3 seeds``."""
    what = " + ".join(_label(k, current.get(k), v) for k, v in effect.changes.items()) or "no change"
    return f"{what}: {effect_text(effect.interval, effect.metric)} over {effect.trials} seeds"


def baseline_curve(report: Report, seed: int, classification: bool) -> Curve | None:
    """The probe's own run as the first baseline trial, when it trained the real length (or
    stopped past its best); ``None`` when it was cut short by a budget and must be rerun."""
    facts, run = report.run.facts, report.run
    if facts.get("stop_reason") not in ("epochs", "steps", "past-best", "early-stopping"):
        return None
    length, budget = facts.get("train_length"), facts.get("probe_budget") or {}
    asked = (budget.get("epochs"), budget.get("steps"))
    if length is not None and asked != (length.get("epochs"), length.get("steps")):
        return None
    vl = run.get("val_loss")
    if vl is None or not len(vl):
        return None
    if classification:
        acc = run.get("val_acc")
        score = [100.0 * v for v in acc.values] if acc is not None else []
    else:
        score = [-v for v in vl.values]
    return Curve({}, seed, list(vl.values), score, [int(s) for s in vl.steps], int(facts.get("probe_steps") or 0),
                 str(facts.get("stop_reason")), diverged=bool(facts.get("diverged")))


def baseline_value(curve: Curve, patience: int | None) -> float:
    """What a configuration scores on one seed: at the stopper's restore point with ``patience``,
    else where its run ended (past its best, that favours it: training on would lower it); a
    diverged run counts as its worst evaluation."""
    if patience is not None and (v := curve.value(patience)) is not None:
        return v
    finite = [s for s in curve.score if math.isfinite(s)]
    if not finite:
        return -math.inf
    return min(finite) if curve.diverged else curve.score[-1]


class _Verifier:
    def __init__(self, script: str | Path, report: Report, *, budget: Budget, seeds: int, seed: int,
                 device: str, knobs: dict[str, Any] | None, progress: Callable[[VerifyProgress], None] | None,
                 max_trials: int = MAX_SCREENED, workers: int | None = None, executor: str = "local",
                 pool: TrialPool | None = None):
        if seeds < 2:
            raise ConfigError("verification needs at least 2 seeds (a paired t-interval needs two pairs)",
                              source="seeds")
        facts = report.run.facts
        self.report, self.progress, self.max_trials = report, progress, max_trials
        self.workers, self.executor, self.given_pool = workers, executor, pool
        self.seeds = [seed + i for i in range(seeds)]
        base = dict(facts.get("knobs_requested") or {}) if knobs is None else dict(knobs)
        self.base_patience: int | None = base.pop("early_stopping_patience", None)
        base.pop("data_augmentation", None)
        self.base_knobs = base
        self.classification = report.run.get("val_acc") is not None
        self.metric = "val_acc points" if self.classification else "val_loss"
        self.length_known = facts.get("train_length") is not None
        spe = int(facts.get("steps_per_epoch") or 1)
        self.length: dict[str, int] = dict(facts.get("train_length") or {
            "epochs": max(1, math.ceil((facts.get("probe_epochs") or 1) - 1e-6))})
        full_steps = self.length["steps"] if "steps" in self.length else self.length["epochs"] * spe
        self.evaluations = max(1, full_steps // spe) if "epochs" in self.length else \
            max(1, len(report.run.get("val_loss") or []))
        self.ledger = Ledger(budget, max(1, full_steps))
        self.runner = TrialRunner(Path(script), base, self.length, device, self.classification,
                                  program=facts.get("program"))
        self.planned = 0
        self.label_current = self._current()

    def _current(self) -> dict[str, Any]:
        current = {rec.knob: self.base_knobs.get(rec.knob, rec.current) for rec in self.report.recommendations}
        current["early_stopping_patience"] = self.base_patience
        return current

    def patiences(self) -> list[int | None]:
        """No early stopping, and each of :data:`PATIENCES` below a third of the length."""
        cap = max(3, self.evaluations // 3)
        extra = [] if self.base_patience is None else [self.base_patience]
        return [None] + sorted({p for p in (*PATIENCES, *extra) if p <= cap})

    # -- progress and trials -----------------------------------------------------------------
    def tick(self, label: str) -> None:
        if self.progress is not None:
            b = self.ledger.budget
            self.progress(VerifyProgress(self.ledger.trials, max(self.planned, self.ledger.trials),
                                         self.ledger.seconds, b.seconds, b.trials, label,
                                         self.ledger.trainings, b.trainings))

    def train(self, config: dict[str, Any], seed: int, label: str, *, patience: int | None = None,
              on_evaluation: Any = None, stop_past_best: bool = True) -> Curve:
        self.tick(f"{label}, seed {seed}")
        curve = self.runner.run(config, seed, patience=patience, on_evaluation=on_evaluation,
                                stop_past_best=stop_past_best)
        self.ledger.charge(curve.steps)
        return curve

    # -- the plan ----------------------------------------------------------------------------
    def unverifiable(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for rec in self.report.recommendations:
            if rec.knob in ADVISORY_KNOBS:
                out[rec.knob] = "advisory only: the probe cannot apply it"
            elif rec.knob not in TRAINED_KNOBS + SIMULATED_KNOBS:
                out[rec.knob] = "the probe cannot apply this knob"
        return out

    def run(self) -> VerifyResult:
        unverified = self.unverifiable()
        space = search_space([r for r in self.report.recommendations if r.knob not in unverified],
                             self.label_current, rule_bounds(self.report.findings),
                             verdict_knobs(self.report.findings, self.report.verdict))
        base0 = baseline_curve(self.report, self.seeds[0], self.classification)
        if base0 is None:
            base0 = self.train({}, self.seeds[0], "baseline")
        else:
            self.ledger.charge(base0.steps)
        baseline = {self.seeds[0]: base0}
        # a pool of its own starts its workers (torch imported, about 2 s each) while the
        # one-step check runs here; one given was started sooner, and its owner closes it
        with contextlib.nullcontext(self.given_pool) if self.given_pool is not None else \
                TrialPool(self.runner, self.workers, self.executor) as self.pool:
            self.pool.bind(self.runner)
            unverified.update(self.not_applicable({d.knob: d.suggested for d in space}))
            space = [d for d in space if d.knob not in unverified]
            if space:  # whatever the screen finds, the decision pairs it with these baseline seeds
                self.pool.ahead([self._baseline_job(s) for s in self.seeds[1:]])
            screening = self._screen(space, base0, unverified) if space else None
            leader = self._leader(screening, base0)
            leader, effect, over_stopping = self._decide(leader, baseline) if leader is not None else (None, None, None)
        speculative = self.pool.speculative_steps
        kept = self._kept(leader, effect)
        screened = screening.results if screening is not None else []
        result = VerifyResult(
            report=self.report, metric=self.metric, higher_is_better=self.classification, seeds=sorted(baseline),
            baseline={s: baseline_value(c, self.base_patience) for s, c in sorted(baseline.items())},
            screened=screened, leader=leader, effect=effect, kept=kept, unverified=unverified,
            trials=self.ledger.trials, seconds=self.ledger.seconds, trainings=self.ledger.trainings,
            length=self.length, length_known=self.length_known, current=self.label_current,
            workers=self.pool.workers, speculative_trainings=speculative / self.ledger.full_steps,
            over_stopping=over_stopping)
        self.tick("done")
        apply_to_report(result)
        return result

    def _leader_steps(self, leader: Screened) -> float:
        """What one decision trial of ``leader`` trains: to its stopper (with a margin of
        :data:`DECISION_MARGIN` for seeds that stop later), else the whole length."""
        if not leader.config:
            return 0.0
        if leader.patience is None:
            return self.ledger.full_steps
        return min(self.ledger.full_steps, DECISION_MARGIN * leader.curve.stop_steps(leader.patience))

    def _decision_cost(self, base: Curve, leader_steps: float) -> float:
        """Steps the decision needs: ``seeds - 1`` new pairs of baseline and leader."""
        base_steps = min(self.ledger.full_steps, DECISION_MARGIN * base.steps)
        return (len(self.seeds) - 1) * (base_steps + leader_steps)

    def _screen(self, space: list[Any], base0: Curve, unverified: dict[str, str]) -> Screening:
        """Successive halving on the first seed while the decision for the leader still fits.

        A trial may start, and go on, while the budget holds its own steps and the decision for
        whichever of it and the current leader would lead (its own at the steps trained so far,
        re-checked at every evaluation). The pool runs the trials as one process would decide
        them (:meth:`.parallel.TrialPool.sequence`), on as many workers as it has.
        """
        rung = first_rung(base0, self.ledger.full_steps)
        screening = Screening(space, self.patiences(), seed=self.seeds[0], min_resource=rung,
                              max_trials=self.max_trials)
        if not self.pool.in_process and screening.planned() > len(screening.queue):
            prefetch_sampler()
        self.planned = self.ledger.trials + screening.planned() + 2 * (len(self.seeds) - 1)

        def can_continue(steps: int, pending: int = 0) -> bool:
            lead = self._leader(screening, base0)   # as the decision would pick it now, stopper alone included
            reserve = self._decision_cost(base0, self._leader_steps(lead)) if lead else 0.0
            own = self._decision_cost(base0, min(self.ledger.full_steps, DECISION_MARGIN * steps))
            return self.ledger.affords(pending + steps + max(reserve, own), trials=1)

        asked: dict[int, tuple[Any, dict[str, Any]]] = {}   # trial number → (Optuna trial, configuration)
        full = self.ledger.full_steps  # a trial still training is forecast to train the whole length

        def jobs() -> Iterator[tuple[int, Job, Callable[[EvaluationPoint], bool] | None]]:
            for trial, cfg in screening.configs():   # repeats are skipped there
                asked[trial.number] = (trial, cfg)
                yield trial.number, Job(cfg, self.seeds[0]), screening.reporter(
                    trial, cfg, self.classification, can_continue, self.ledger.full_steps)

        admitted: list[dict[str, Any]] = []

        def admit(number: int) -> bool:
            cfg = asked[number][1]
            if not can_continue(rung):
                self._unaffordable(cfg, admitted, unverified)
                return False
            admitted.append(cfg)
            self.tick(" + ".join(_label(k, self.label_current.get(k), v) for k, v in cfg.items()))
            return True

        def finish(number: int, curve: Curve) -> bool:
            self.ledger.charge(curve.steps)
            screening.finish(asked[number][0], curve)
            lead = self._leader(screening, base0)  # its decision trials, should it stay the leader
            self.pool.guess([self._leader_job(lead, s) for s in self.seeds[1:]] if lead and lead.config else [])
            return True

        self.pool.sequence(jobs(), admit, finish, drop=lambda number: screening.skip(asked[number][0]),
                           may_admit=lambda before: can_continue(rung, sum(full if s is None else s for s in before)))
        return screening

    def _unaffordable(self, cfg: dict[str, Any], trained: list[dict[str, Any]], unverified: dict[str, str]) -> None:
        """Knobs of ``cfg`` that no trial trained before the budget ran out stay unverified: saying
        that nothing measured helped would claim a measurement that was never made."""
        why = (f"not measured: the budget ({self.ledger.budget.describe()}) does not hold one screening trial "
               f"and the decision on {len(self.seeds)} seeds; raise --budget")
        for knob in cfg:
            if not any(knob in done for done in trained):
                unverified.setdefault(knob, why)

    def not_applicable(self, knobs: dict[str, Any]) -> dict[str, str]:
        """Knobs the probe cannot apply to this script: a one-step run with all of them set.

        One optimizer step is not a training, and it is left out of the budget: charging it
        would leave the common plan (the probe, one full candidate and a three-seed decision:
        exactly six trainings when nothing stops early) one step short.
        """
        if not knobs:
            return {}
        not_applied = self.runner.run(knobs, self.seeds[0], steps=1).not_applied
        return {k: f"not measured: {why}" for k, why in not_applied.items()}

    def _stopper_alone(self, base0: Curve) -> Screened | None:
        """The baseline with early stopping alone, at its best patience on the screening seed:
        free to measure on every seed, since it replays the baseline's own curves."""
        stopped = base0.best_variant([p for p in self.patiences() if p is not None])
        return Screened({}, base0, False, stopped[0], stopped[1]) if stopped is not None else None

    def _leader(self, screening: Screening | None, base0: Curve) -> Screened | None:
        """The best candidate on the screening seed, including the baseline with early stopping
        (free to measure on the baseline's own curves); ``None`` when nothing beats the baseline.

        Of the options within :data:`MIN_GAIN` of the best, the simplest leads: a knob that buys
        less than that on one seed is as likely noise as effect, and every knob kept is one more
        to apply. A leader with knobs is still compared with early stopping alone on every seed
        of the decision (:meth:`_choose`).
        """
        options = [(s.value, s) for s in (screening.results if screening else []) if s.value is not None]
        stopped = self._stopper_alone(base0)
        if stopped is not None and stopped.value is not None:
            options.append((stopped.value, stopped))
        if not options:
            return None
        top = max(value for value, _ in options)
        tol = least_gain(self.classification, top)
        value, best = min(((v, s) for v, s in options if v >= top - tol), key=lambda vs: (len(vs[1].config), -vs[0]))
        return best if value > baseline_value(base0, self.base_patience) else None

    def _decide(self, leader: Screened, baseline: dict[int, Curve]) -> tuple[Screened, Effect, Effect | None]:
        """Paired trials of the leader against the baseline, then a second look if undecided;
        the leader kept, its effect, and the comparison with early stopping alone (if made).

        The seeds to run are planned from cost estimates (not from what earlier seeds cost), so
        that the pairs are the same whether they run one after another or side by side. The
        leader's knobs are kept over early stopping alone only where they buy at least
        :data:`MIN_GAIN` more on the mean of the same seeds (:meth:`_choose`).
        """
        effect = self._effect(leader)
        self._pair(effect, leader, baseline[self.seeds[0]], leader.curve, self.seeds[0])
        self._pairs(effect, leader, baseline, self.seeds[1:])
        leader, effect, over_stopping = self._choose(leader, effect, baseline)
        if effect.undecided:
            more = list(range(self.seeds[-1] + 1, self.seeds[-1] + 1 + len(self.seeds)))
            self.seeds += self._pairs(effect, leader, baseline, more)
        return leader, effect, over_stopping

    def _effect(self, leader: Screened) -> Effect:
        changes = dict(leader.config)
        if leader.patience is not None and leader.patience != self.base_patience:
            changes["early_stopping_patience"] = leader.patience
        return Effect(changes, self.metric, self.classification)

    def _choose(self, leader: Screened, effect: Effect,
                baseline: dict[int, Curve]) -> tuple[Screened, Effect, Effect | None]:
        """The leader, or early stopping alone where the leader's other knobs buy less than
        :data:`MIN_GAIN` over it on the decision's seeds; with the leader's effect against
        early stopping alone (``None`` when the leader is early stopping alone).

        The leader won on the screening seed, where it was picked as the best of several: part of
        its lead there is that seed's luck (see the module docstring). Early stopping alone
        costs nothing more to measure on the decision's other seeds (it replays their baseline
        curves), so the knobs are kept only where the mean over all seeds says they buy
        something beyond it. On ``cnn_digits`` in ``benchmarks/bench_verify.py`` dropout 0.1 with
        decay 0.01 led the stopper alone by 0.7 points on the screening seed and by 0.1 on the
        mean of three; on the test split it scored 86.1 against 86.6.
        """
        alone = self._stopper_alone(baseline[self.seeds[0]])
        if not leader.config or alone is None:
            return leader, effect, None
        plain = self._effect(alone)
        for seed in effect.seeds:
            self._pair(plain, alone, baseline[seed], None, seed)
        versus = Effect(effect.changes, self.metric, self.classification, seeds=list(effect.seeds),
                        baseline=list(plain.with_change), with_change=list(effect.with_change))
        if effect.gain >= plain.gain + least_gain(self.classification, _mean(effect.baseline)):
            return leader, effect, versus
        return alone, plain, versus

    def _pairs(self, effect: Effect, leader: Screened, baseline: dict[int, Curve], seeds: list[int]) -> list[int]:
        """Run new pairs on as many of ``seeds`` as the budget allows; the seeds run."""
        base_steps = min(self.ledger.full_steps, DECISION_MARGIN * baseline[self.seeds[0]].steps)
        per_seed = base_steps + self._leader_steps(leader)
        trials = 1 + bool(leader.config)
        n = 0
        while n < len(seeds) and self.ledger.affords((n + 1) * per_seed, trials=(n + 1) * trials):
            n += 1
        run = seeds[:n]
        # the leader's trials first: they train on to their stopper where the baseline's stop
        # once past their best, so on several workers the longest start first
        jobs = [self._leader_job(leader, s) for s in run] if leader.config else []
        jobs += [self._baseline_job(s) for s in run]
        self.tick(f"{len(jobs)} paired trials on seeds {', '.join(map(str, run))}")
        curves = self.pool.map(jobs)
        for c in curves:
            self.ledger.charge(c.steps)
        leaders, bases = curves[:len(jobs) - len(run)], curves[len(jobs) - len(run):]
        for i, s in enumerate(run):
            baseline[s] = bases[i]
            self._pair(effect, leader, bases[i], leaders[i] if leader.config else None, s)
        return run

    @staticmethod
    def _leader_job(leader: Screened, seed: int) -> Job:
        """The decision's trial of ``leader`` on ``seed``: its patience applied for real, trained
        on to its stopper (guessed ahead during the screen: :meth:`.parallel.TrialPool.guess`)."""
        return Job(leader.config, seed, patience=leader.patience, stop_past_best=False)

    @staticmethod
    def _baseline_job(seed: int) -> Job:
        """The decision's baseline trial on ``seed`` (run ahead during the screen where workers
        are free: :meth:`.parallel.TrialPool.ahead`)."""
        return Job({}, seed)

    def _pair(self, effect: Effect, leader: Screened, base: Curve, curve: Curve | None, seed: int) -> None:
        """One pair: the baseline's score on a seed against the leader's (early stopping alone is
        replayed on the baseline's own curve)."""
        value = baseline_value(base if curve is None or not leader.config else curve, leader.patience)
        sign = 1.0 if self.classification else -1.0
        effect.baseline.append(sign * baseline_value(base, self.base_patience))
        effect.with_change.append(sign * value)
        effect.seeds.append(seed)

    def _kept(self, leader: Screened | None, effect: Effect | None) -> dict[str, Any]:
        if leader is None or effect is None or not effect.helps:
            return {}
        return dict(effect.changes)


def verify(
    script: str | Path,
    report: Report,
    *,
    budget: str | float | Budget | None = None,
    seeds: int = 3,
    seed: int = 0,
    device: str = "auto",
    knobs: dict[str, Any] | None = None,
    progress: Callable[[VerifyProgress], None] | None = None,
    max_trials: int = MAX_SCREENED,
    workers: int | None = None,
    executor: str = "local",
    pool: TrialPool | None = None,
) -> VerifyResult:
    """Measure the recommendations of ``report`` on ``script`` at the real training length.

    ``budget`` is ``"6x"`` full trainings by default (probe included), or seconds, or ``"30t"``
    trials (:func:`~.budget.parse_budget`). ``knobs`` are the settings every trial starts from
    (default: those the report's probe was given). ``workers`` trials run side by side (default:
    one per core, one per GPU where there are several); the advice does not depend on it.
    ``executor`` ``"ray"`` runs them as tasks on the Ray cluster at ``RAY_ADDRESS``. ``pool``, a
    :class:`~.parallel.TrialPool` started earlier (during the probe, say), is used instead of
    ``workers`` and ``executor`` and left open. See the module docstring for the method.
    """
    parsed = budget if isinstance(budget, Budget) else parse_budget(budget)
    return _Verifier(script, report, budget=parsed, seeds=seeds, seed=seed, device=device, knobs=knobs,
                     progress=progress, max_trials=max_trials, workers=workers, executor=executor,
                     pool=pool).run()


# ---------------------------------------------------------------------------------------------
# the report


def _recommendation(knob: str, value: Any, result: VerifyResult) -> Recommendation:
    """A recommendation the search found that no rule made (early stopping, chiefly)."""
    unit = "evaluations" if knob == "early_stopping_patience" else None
    return Recommendation(knob=knob, value=value, reason="measured by --verify", rules=["verify"], evidence=[],
                          current=result.current.get(knob), unit=unit, severity="info", confidence="medium")


def apply_to_report(result: VerifyResult) -> None:
    """Edit ``result.report``: kept values with their verified block, the rest to the notes."""
    report = result.report
    kept = result.kept
    effect = result.effect
    keep: list[Recommendation] = []
    notes: list[Note] = []
    for rec in report.recommendations:
        if rec.knob in result.unverified:
            keep.append(rec)
            notes.append(Note("not-verified", rec.knob, {"reason": result.unverified[rec.knob]}))
        elif rec.knob in kept and effect is not None:
            rec.set_value(kept[rec.knob])
            rec.verified = effect.block()
            bounds = rec.range or []
            numeric = bool(bounds) and all(isinstance(x, (int, float)) for x in bounds) \
                and isinstance(rec.value, (int, float))
            if numeric and not min(bounds) <= rec.value <= max(bounds):
                rec.range = None
            others = [k for k in kept if k != rec.knob]
            if others:
                rec.note = ((rec.note + " ") if rec.note else "") + f"Measured together with {', '.join(others)}."
            keep.append(rec)
        else:
            notes.append(Note("not-kept", rec.knob, {"value": rec.value, "current": result.current.get(rec.knob),
                                                     "measured": bool(kept)}))
    present = {r.knob for r in keep}
    for knob, value in kept.items():
        if knob not in present and effect is not None:
            rec = _recommendation(knob, value, result)
            rec.verified = effect.block()
            keep.insert(0, rec)
    keep.sort(key=lambda r: (0 if r.verified else 1))
    report.recommendations = keep
    notes.insert(0, _summary(result))
    if effect is not None:
        notes.insert(1, Note("verify-effect", values={
            "changes": dict(effect.changes), "current": {k: result.current.get(k) for k in effect.changes},
            "effect": {"difference": effect.interval.mean, "uncertainty": effect.interval.half_width,
                       "metric": effect.metric, "trials": effect.trials,
                       "every_seed": effect.better_on_every_seed}, "kept": effect.helps}))
    if result.over_stopping is not None:
        over = result.over_stopping
        notes.insert(2 if effect is not None else 1, Note("verify-over-stopping", values={
            "changes": dict(over.changes), "current": {k: result.current.get(k) for k in over.changes},
            "effect": {"difference": over.interval.mean, "uncertainty": over.interval.half_width,
                       "metric": over.metric, "trials": over.trials},
            "beyond": bool(result.leader is not None and result.leader.config)}))
    report.notes.extend(notes)


def _summary(result: VerifyResult) -> Note:
    unit = next(iter(result.length))
    return Note("verified", values={
        "length": result.length[unit], "unit": unit, "length_known": result.length_known,
        "trainings": round(result.trainings, 3), "trials": result.trials, "seconds": round(result.seconds, 1),
        "screened": len(result.screened), "pruned": sum(1 for s in result.screened if s.pruned),
        "seeds": list(result.seeds), "metric": result.metric, "workers": result.workers})
