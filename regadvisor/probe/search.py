"""The joint search of ``--verify``: candidate configurations, screened by successive halving.

Candidates are joint configurations of the recommended knobs within the rules' ranges
(:func:`search_space`), in this order (:func:`candidates`): the rules' own joint suggestion;
its neighbours (every knob at the strong end of its range together; each knob left at its
current setting, which finds the one rule whose advice hurts this model; every knob at the
weak end; each knob alone at either end); then a scrambled Sobol sample of the whole box
(space-filling, Optuna's ``QMCSampler``). The budget usually ends the list early, so the order
puts first what most often matters. Early stopping is not a
dimension: every curve is valued at each candidate patience without training
(:mod:`.trials`).

The schedule is Optuna's asynchronous successive halving (``SuccessiveHalvingPruner``: ASHA,
Li et al. 2020, after Jamieson & Talwalkar 2016), driven through ask/tell with the candidates
enqueued. Each trial reports, after every evaluation, the score an early stopper would restore
at that point; at each rung (``min_resource`` × 3^k optimizer steps) it goes on only if it is in
the top third of the trials that reached the rung before it (the best one while fewer than
three have), else it is pruned. The first rung sits where the baseline's validation curve had
its best (at least a ninth, at most a third of the real length): before that point every
configuration is still improving and a short trial would favour the least regularized one,
which is exactly the bias that makes short trials blind to overfitting.

The same bias remains at any rung for a candidate that regularizes more than the leader: heavy
dropout and decay learn more slowly and end higher. On ``cnn_digits`` (60 epochs, in
``benchmarks/bench_verify.py``) dropout 0.6 with decay 0.1 scores 89 against the rules' dropout
0.1 with decay 0.01 at 91 at the first rung (epoch 20), and 92 against 83 at epoch 60. So such a
candidate is not pruned at a rung while it is still improving (:func:`still_improving`): the
pruner's verdict on it waits for the next rung, and the budget still bounds what it trains.
"""

from __future__ import annotations

import importlib
import math
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..model import Recommendation
from ..numbers import round_sig
from .parallel import Predecessor
from .runner import EvaluationPoint
from .trials import Curve

TRAINED_KNOBS = ("dropout", "weight_decay", "normalization", "residual", "grad_clip_norm", "label_smoothing",
                 "learning_rate", "optimizer")
CATEGORICAL_KNOBS = ("normalization", "residual", "optimizer")
LOG_KNOBS = ("weight_decay", "learning_rate", "grad_clip_norm")
REGULARIZERS = ("dropout", "weight_decay", "label_smoothing")
DROPOUT_MAX = 0.7
# Spans around a suggestion whose rule gives no range: a factor of 10 for decay (its useful
# values span decades: 1e-4 for SGD CNNs to 0.1 for LLMs), 3 for learning rate and clipping,
# 2 for label smoothing, ±0.2 for dropout.
_DEFAULT_SPAN = {"weight_decay": 10.0, "learning_rate": 3.0, "grad_clip_norm": 3.0, "label_smoothing": 2.0}
REDUCTION_FACTOR = 3
SOBOL_POINTS = 16
"""Space-filling points after the rules' candidates (a power of two keeps Sobol balanced)."""
MAYBE_BETWEEN = 3
"""Trials between the head and a trial judged early whose rung values may or may not count: each
is tried both ways (2^3 verdicts at most), beyond that the trial waits for its turn."""
IMPROVING_SHARE = 0.25
"""A curve whose lowest validation loss is in the last quarter of its evaluations so far (at least
the last two) is still improving; the probe calls a curve past its best after a quarter of the
length without a new one (``PAST_BEST_FRACTION``). On ``cnn_digits`` the strong candidate's loss
at epoch 20 was 0.843 against its best 0.840 at epoch 17, on its way to 0.52."""


@dataclass(frozen=True)
class Dimension:
    """One knob of the search: a range (``log`` for scale knobs) or categorical choices."""

    knob: str
    suggested: Any
    current: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    side: bool = False  # asked for only by rules that do not judge the verdict (see :func:`candidates`)

    @property
    def categorical(self) -> bool:
        return bool(self.choices)

    @property
    def strong(self) -> Any:
        """The end of the range that regularizes more; the suggestion for knobs that do not
        regularize (choices, learning rate, clipping: their ends are not "more" of anything)."""
        return self.high if self.knob in REGULARIZERS and not self.categorical else self.suggested

    @property
    def weak(self) -> Any:
        """The end of the range that regularizes less (the suggestion where that means nothing)."""
        return self.low if self.knob in REGULARIZERS and not self.categorical else self.suggested


def as_number(v: Any) -> float | None:
    """``v`` as a finite float, or ``None`` (booleans and non-numbers included)."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def dimension(rec: Recommendation, current: Any, bounds: tuple[float, ...] = ()) -> Dimension | None:
    """The search dimension of one recommendation (``None`` when nothing differs from current).

    A numeric knob spans the hull of its recommendation's value and range and of ``bounds``
    (the values and ranges every other rule that fired gave for the same knob): each rule's
    range is evidence for where the value can sit, and the merged recommendation keeps only
    the strongest rule's.
    """
    knob = rec.knob
    if knob in CATEGORICAL_KNOBS:
        if rec.value == current:
            return None
        return Dimension(knob, rec.value, current, choices=tuple(dict.fromkeys([rec.value, current])))
    s = as_number(rec.value)
    if s is None:
        return None
    span = [float(b) for b in (*(rec.range or []), *bounds) if as_number(b) is not None] + [s]
    lo, hi = min(span), max(span)
    if lo == hi:
        if knob == "dropout":
            lo, hi = max(0.0, s - 0.2), min(DROPOUT_MAX, s + 0.2)
        elif knob in _DEFAULT_SPAN and s > 0:
            lo, hi = s / _DEFAULT_SPAN[knob], s * _DEFAULT_SPAN[knob]
        else:
            return Dimension(knob, s, current, low=s, high=s)
    if knob == "dropout":
        lo, hi = max(0.0, lo), min(DROPOUT_MAX, hi)
    lo, hi = round_sig(lo), round_sig(hi)  # the values candidates are rounded to stay inside
    log = knob in LOG_KNOBS and lo > 0
    return Dimension(knob, s, current, low=lo, high=hi, log=log)


def rule_bounds(findings: list[Any]) -> dict[str, tuple[float, ...]]:
    """Every numeric value and range bound the fired rules recommend, per knob."""
    out: dict[str, list[float]] = {}
    for finding in findings:
        if finding.status != "fired":
            continue
        for rec in finding.recommendations:
            values = [rec.value, *(rec.range or [])]
            out.setdefault(rec.knob, []).extend(float(v) for v in values if as_number(v) is not None)
    return {k: tuple(v) for k, v in out.items()}


def verdict_knobs(findings: list[Any], verdict: str) -> set[str]:
    """The knobs recommended by a fired rule that judges ``verdict`` (an overfitting rule's
    dropout, say, but not a dead-unit rule's learning rate in an overfitting run)."""
    return {rec.knob for f in findings if f.status == "fired" and f.verdict == verdict for rec in f.recommendations}


def search_space(recommendations: list[Recommendation], current: dict[str, Any],
                 bounds: dict[str, tuple[float, ...]] | None = None,
                 core: set[str] | None = None) -> list[Dimension]:
    """The dimensions of the knobs the probe can train with, in the report's order; a knob not
    in ``core`` (when given, and when some knob is) is a side dimension."""
    out = []
    for rec in recommendations:
        if rec.knob not in TRAINED_KNOBS:
            continue
        d = dimension(rec, current.get(rec.knob, rec.current), (bounds or {}).get(rec.knob, ()))
        if d is not None:
            out.append(d)
    if core is not None and any(d.knob in core for d in out):
        out = [replace(d, side=d.knob not in core) for d in out]
    return out


def _config(space: list[Dimension], **overrides: Any) -> dict[str, Any]:
    cfg = {d.knob: d.suggested for d in space}
    cfg.update(overrides)
    return {k: (round_sig(v) if isinstance(v, float) else v) for k, v in cfg.items()}


def candidates(space: list[Dimension]) -> list[dict[str, Any]]:
    """The rules' joint suggestion, then its neighbours (see the module docstring), no repeats.

    A knob "left at its current setting" is left out of the configuration (the script's own
    value stays); ranges hold only values a rule recommends, so current values outside them
    appear only that way. Side knobs (asked for only by rules that do not judge the verdict: a
    lower learning rate for dead ReLUs in a run that overfits) are left out of the first
    candidate and of the strong and weak ends: in a joint configuration a side knob that hurts
    (a learning rate ten times lower learns too slowly for a rung) would sink every candidate
    it is in. They are tried with the rest in the second candidate and in the single-knob ones.
    """
    core = [d for d in space if not d.side]
    out: list[dict[str, Any]] = [_config(core), _config(space)]
    continuous = [d for d in space if not d.categorical and d.low != d.high]
    graded = [d for d in continuous if d.knob in REGULARIZERS and not d.side]
    if graded:
        out.append(_config(core, **{d.knob: d.strong for d in graded}))
    if len(space) > 1:
        for d in space:
            cfg = _config(space)
            del cfg[d.knob]
            out.append(cfg)
    if graded:
        out.append(_config(core, **{d.knob: d.weak for d in graded}))
    for d in continuous:
        out.append(_config(space, **{d.knob: d.high}))
        out.append(_config(space, **{d.knob: d.low}))
    unique: list[dict[str, Any]] = []
    for cfg in out:
        if cfg not in unique:
            unique.append(cfg)
    return unique


def regularizes_more(config: dict[str, Any], than: dict[str, Any], space: list[Dimension]) -> bool:
    """Whether ``config`` is ``than`` with more regularization: some regularizer of ``space`` set
    higher, none lower, every other knob the same (a knob a configuration leaves out is at its
    current value). A lower learning rate also learns more slowly, but is not what the rung's
    bias is about."""
    higher = False
    for d in space:
        if d.knob not in REGULARIZERS or d.categorical:
            if config.get(d.knob, d.current) != than.get(d.knob, d.current):
                return False
            continue
        mine, theirs = (as_number(c.get(d.knob, d.current)) or 0.0 for c in (config, than))
        if mine < theirs:
            return False
        higher = higher or mine > theirs
    return higher


def still_improving(best_index: int, evaluations: int) -> bool:
    """Whether a curve's lowest validation loss (at evaluation ``best_index``, counted from 0, of
    ``evaluations``) is recent enough that it is still improving (:data:`IMPROVING_SHARE`)."""
    return evaluations - 1 - best_index < max(2.0, IMPROVING_SHARE * evaluations)


def first_rung(baseline: Curve, full_steps: int) -> int:
    """``min_resource`` of the pruner in optimizer steps: where the baseline had its best
    validation loss, clamped to [1/9, 1/3] of the real length (see the module docstring)."""
    best = baseline.eval_steps[min(range(len(baseline.val_loss)), key=baseline.val_loss.__getitem__)] \
        if baseline.val_loss and all(math.isfinite(v) for v in baseline.val_loss) else full_steps // 9
    return max(1, min(max(best, math.ceil(full_steps / 9)), math.ceil(full_steps / 3)))


@dataclass
class Screened:
    """One screened candidate: its configuration, its seed-0 curve, and how the schedule ended it."""

    config: dict[str, Any]
    curve: Curve
    pruned: bool
    value: float | None
    patience: int | None


def prefetch_sampler() -> None:
    """Import, on a thread, what the space-filling sampler's first point needs: ``QMCSampler``
    imports ``scipy.stats`` then (0.47 s measured here). With workers training, the parent is
    otherwise idle; asked for in turn, the point would keep a worker waiting that long."""
    threading.Thread(target=importlib.import_module, args=("scipy.stats",), daemon=True).start()


@dataclass(frozen=True)
class Settled:
    """A screening trial stopped before its turn (:meth:`Screening.surely_pruned`): the value it
    records at each rung it reaches; ``certain`` False where one process might stop it for the
    budget before it records them."""

    config: dict[str, Any]
    rung_values: dict[int, float]
    certain: bool


@dataclass
class RestoredScore:
    """The score an early stopper would restore after each evaluation: the one at the lowest
    validation loss so far (accuracy points, or minus the loss)."""

    classification: bool
    loss: float = math.inf
    score: float = -math.inf
    evaluations: int = 0
    best_index: int = 0  # the evaluation (from 0) with the lowest validation loss

    def add(self, point: EvaluationPoint) -> float:
        """Take one more evaluation; the score restored now."""
        if math.isfinite(point.val_loss) and point.val_loss < self.loss:
            self.loss = point.val_loss
            self.score = 100.0 * point.val_acc if self.classification and point.val_acc is not None else -point.val_loss
            self.best_index = self.evaluations
        self.evaluations += 1
        return self.score


class Screening:
    """The successive-halving screen on an Optuna study (see the module docstring).

    ``run_trial(config, on_evaluation)`` trains one candidate on the screening seed and returns
    its :class:`Curve`; ``can_continue(steps)`` says whether the budget still allows a trial that
    has trained ``steps`` steps to go on (the caller keeps room for the decision).
    """

    def __init__(self, space: list[Dimension], patiences: list[int | None], *, seed: int, min_resource: int,
                 max_trials: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.space, self.patiences, self.max_trials, self.min_resource = space, patiences, max_trials, min_resource
        # QMCSampler is "experimental" (since Optuna 3.0); its Sobol points are what we need
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed,
                                                 warn_independent_sampling=False, warn_asynchronous_seeding=False)
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource,
                                                        reduction_factor=REDUCTION_FACTOR)
        self.study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
        self.queue = candidates(space)
        for cfg in self.queue:
            self.study.enqueue_trial(self._params(cfg))
        self.results: list[Screened] = []
        self.out_of_budget: set[int] = set()

    def _params(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """Optuna parameters of a configuration: a left-out knob is its current value."""
        return {d.knob: cfg.get(d.knob, d.current if d.categorical else d.weak) for d in self.space
                if d.categorical or d.low != d.high}

    def _suggest(self, trial: Any) -> dict[str, Any]:
        cfg: dict[str, Any] = {}
        for d in self.space:
            if d.categorical:
                cfg[d.knob] = trial.suggest_categorical(d.knob, list(d.choices))
            elif d.low == d.high:
                cfg[d.knob] = d.suggested
            else:
                cfg[d.knob] = round_sig(trial.suggest_float(d.knob, d.low, d.high, log=d.log))
        number = trial.number
        if number < len(self.queue):  # an enqueued candidate: keep its knobs left at their current value
            cfg = {k: v for k, v in cfg.items() if k in self.queue[number]}
        return {k: v for k, v in cfg.items() if not (k in CATEGORICAL_KNOBS and v == self._current(k))}

    def _current(self, knob: str) -> Any:
        return next(d.current for d in self.space if d.knob == knob)

    def planned(self) -> int:
        """Trials the screen will run at most (its candidates plus the space-filling sample)."""
        return min(self.max_trials, len(self.queue) + (SOBOL_POINTS if self.space else 0))

    def configs(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Ask the study for trials until the plan is used up; repeated configurations are skipped.

        The plan counts the trials handed out, not those finished: one by one they are the same,
        and on several workers a trial past the plan would be started only to be dropped."""
        seen: list[dict[str, Any]] = []
        asked = 0
        while len(seen) < self.planned() and asked < 4 * self.planned():
            asked += 1
            trial = self.study.ask()
            cfg = self._suggest(trial)
            if cfg in seen or not cfg:
                self.skip(trial)
                continue
            seen.append(cfg)
            yield trial, cfg

    def reporter(self, trial: Any, config: dict[str, Any], classification: bool,
                 can_continue: Callable[[int], bool], full_steps: int) -> Reporter:
        """The ``on_evaluation`` hook of one trial (:class:`Reporter`)."""
        return Reporter(self, trial, config, classification, can_continue, full_steps)

    def deferred(self, config: dict[str, Any], score: RestoredScore, leaders: list[dict[str, Any]]) -> bool:
        """Whether a rung's prune waits: ``config`` regularizes more than the leader (one of
        ``leaders``) and its curve is still improving. (Optuna has recorded its value at the
        rung; its next check is at the next rung.)"""
        return still_improving(score.best_index, score.evaluations) and \
            any(regularizes_more(config, lead, self.space) for lead in leaders)

    def leader_configs(self) -> list[dict[str, Any]]:
        """The leader's configuration, in a list (empty while nothing is valued)."""
        lead = self.leader()
        return [lead.config] if lead is not None else []

    def surely_pruned(self, config: dict[str, Any], points: list[EvaluationPoint], classification: bool,
                      before: Predecessor) -> Settled | None:
        """Whether one process, deciding this trial once the trials before it had finished,
        would certainly have pruned it by the last of ``points`` (``None`` when not certain).

        It would, at a rung, when the rung's values leave this trial out of the top third, by
        Optuna's own rule, and the prune cannot wait (:meth:`deferred`, against the leader or
        ``before``, either of which can lead once ``before`` is done). The rung's values are
        those of the trials before this one that reached it: the study's, ``before``'s once it
        has passed the rung or stopped, and those of the trials between (``before.settled``).
        A trial between whose value one process might not record (the budget could stop it
        first) is tried both ways. The values this trial would report are computed here, not
        reported: the study sees them only in the trial's turn
        (:meth:`.parallel.TrialPool.sequence`).
        """
        maybe = [s for s in before.settled if not s.certain]
        if len(maybe) > MAYBE_BETWEEN:
            return None
        # a trial the budget stops has a value: it may lead
        leaders = self.leader_configs() + [before.config] + [s.config for s in maybe]
        outcomes = []
        for mask in range(2 ** len(maybe)):
            between = [s.rung_values for s in before.settled if s.certain] + \
                [s.rung_values for i, s in enumerate(maybe) if mask >> i & 1]
            outcome = self._pruned_among(config, points, classification, before, between, leaders)
            if outcome is None:
                return None
            outcomes.append(outcome)
        return outcomes[0] if all(o == outcomes[0] for o in outcomes) else replace(outcomes[0], certain=False)

    def _pruned_among(self, config: dict[str, Any], points: list[EvaluationPoint], classification: bool,
                      before: Predecessor, between: list[dict[int, float]],
                      leaders: list[dict[str, Any]]) -> Settled | None:
        """:meth:`surely_pruned` with the rung values of the trials between given."""
        try:  # Optuna's own rule and rung keys (private: another Optuna may lack them)
            from optuna.pruners._successive_halving import _completed_rung_key, _is_trial_promotable_to_next_rung
        except ImportError:
            return None  # then every trial waits for its turn, as before

        trials = self.study.get_trials(deepcopy=False)
        score, rung, values = RestoredScore(classification), 0, {}
        asked = previous = 0  # the most a budget check asked for so far; the previous step
        for point in points:
            value = score.add(point)
            while point.step >= (rung_step := self.min_resource * REDUCTION_FACTOR ** rung):
                if math.isnan(value) or not (before.stopped or before.step >= rung_step):
                    return None  # NaN: Optuna prunes it, but whether the prune waits is not for here
                key = _completed_rung_key(rung)
                competing = [t.system_attrs[key] for t in trials if key in t.system_attrs] + \
                    [v[rung] for v in between if rung in v]
                values[rung] = value
                if _is_trial_promotable_to_next_rung(value, competing + [value], REDUCTION_FACTOR,
                                                     self.study.direction):
                    rung += 1
                    continue
                if self.deferred(config, score, leaders):
                    return None
                # what it tells the study is certain if no budget check before asked for more
                # than the first rung (which its admission held) and it is pruned there
                return Settled(config, values, certain=rung == 0 and asked <= self.min_resource)
            asked, previous = max(asked, 2 * point.step - previous), point.step
        return None

    def skip(self, trial: Any) -> None:
        """Tell the study a trial was not run (a repeat, or no budget left for it)."""
        self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)

    def finish(self, trial: Any, curve: Curve) -> Screened:
        """Tell the study how the trial ended and keep its result: a pruned trial has no value;
        one stopped for the budget is valued where its curve can tell (its stopper ran out)."""
        pruned = curve.stop_reason == "pruned" and trial.number not in self.out_of_budget
        best = None if pruned else curve.best_variant(self.patiences)
        if curve.diverged or best is None:
            state = self.optuna.trial.TrialState.PRUNED if pruned else self.optuna.trial.TrialState.FAIL
            self.study.tell(trial, state=state)
            screened = Screened(curve.config, curve, pruned, None, None)
        else:
            self.study.tell(trial, best[0])
            screened = Screened(curve.config, curve, False, best[0], best[1])
        self.results.append(screened)
        return screened

    def leader(self) -> Screened | None:
        """The best fully valued candidate so far."""
        valued = [(s.value, s) for s in self.results if s.value is not None]
        return max(valued, key=lambda vs: vs[0])[1] if valued else None


class Reporter:
    """The ``on_evaluation`` hook of one screening trial: report the score an early stopper would
    restore now, prune at the rungs (not a stronger regularizer than the leader that is still
    improving: see the module docstring), and stop when training on to the next evaluation would
    not fit the budget (a trial stopped for the budget keeps the values its curve can tell).

    :meth:`stopped_by` lets the pool stop it early, while the trial before it still trains,
    where the one-by-one schedule would certainly have pruned it (:meth:`Screening.surely_pruned`).
    """

    def __init__(self, screening: Screening, trial: Any, config: dict[str, Any], classification: bool,
                 can_continue: Callable[[int], bool], full_steps: int):
        self.screening, self.trial, self.config, self.classification = screening, trial, config, classification
        self.can_continue, self.full_steps = can_continue, full_steps
        self.score = RestoredScore(classification)
        self.previous_step = 0

    def __call__(self, point: EvaluationPoint) -> bool:
        self.trial.report(self.score.add(point), point.step)
        if self.trial.should_prune() and not self.screening.deferred(self.config, self.score,
                                                                     self.screening.leader_configs()):
            return True
        step = point.step
        if step < self.full_steps and not self.can_continue(min(self.full_steps, step + (step - self.previous_step))):
            # the next evaluation would not fit (at the full length there is none to come)
            self.screening.out_of_budget.add(self.trial.number)
            return True
        self.previous_step = step
        return False

    def stopped_by(self, points: list[EvaluationPoint], before: Predecessor) -> Settled | None:
        """Whether one process would certainly have stopped this trial by the last of ``points``."""
        return self.screening.surely_pruned(self.config, points, self.classification, before)
