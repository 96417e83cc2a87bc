"""The probe loop: an instrumented, deterministic training of the user's script.

What it measures and how (the choices a reader of the numbers needs to know):

* **Length.** Advice is only as good as the horizon it was measured at: overfitting, and what
  early stopping, dropout and weight decay buy against it, often appear only after the first
  10-20 epochs. So the probe trains for the user's *real* length (the script's ``EPOCHS``, or
  ``train_epochs``/``train_steps``), or until validation has clearly passed its best (the
  ``past-best`` stop: :func:`past_best_patience`), whichever comes first. A budget in steps,
  epochs or seconds shortens it when asked (first reached wins); a time budget makes the
  result depend on the machine's speed and load, so none is set by default. With no length
  known the probe trains ``DEFAULT_EPOCHS`` (30) epochs and the facts say the length is
  unknown.
* **Curves.** ``train_loss``, ``grad_norm`` and ``learning_rate`` per optimizer step (training
  mode, the loss of the batch being trained on, before its update). At each *evaluation* (end
  of every epoch, every ``EVAL_EVERY`` steps inside long epochs, and once at the end)
  ``val_loss``/``val_acc`` on up to ``eval_batches`` validation batches and
  ``train_eval_loss``/``train_acc`` on a *fixed* subset of as many training batches (the first
  ones seen), both in eval mode under ``no_grad``. Measuring the two splits the same way
  matters: a training metric taken in train mode includes dropout noise and makes the
  generalization gap look smaller (or larger, with BatchNorm) than it is. Accuracy series exist
  only for classification (integer targets, outputs with a class dimension).
* **Steps and epochs.** ``step`` counts optimizer steps from 1; ``epoch`` is progress in epochs
  at that point (0.5 halfway through the first epoch, 1.0 at its end), fractional once the
  epoch length is known.
* **Divergence.** A non-finite training loss stops the probe: the value is kept in
  ``train_loss`` (divergence signals count it), ``diverged`` is set and
  ``facts["diverged_at_step"]`` names the step. This is a finding, not a crash.
* **Ctrl-C.** ``KeyboardInterrupt`` during training stops the loop and returns what was measured
  so far, marked ``interrupted``.
* **Leaving things as found.** The global RNG states (``random``, torch CPU, torch CUDA when
  the probe ran on CUDA, numpy when importable) are saved before seeding and restored after;
  every module's ``training`` flag is restored; every hook is removed in ``finally``; the
  script's folder is on ``sys.path`` only while the probe runs.
* **Determinism.** ``random``, torch (and numpy) are seeded with ``seed`` before
  ``build_model`` and ``build_data`` run, so model init, shuffling and dropout repeat.
* **Knobs** (the fixed names of docs/ARCHITECTURE.md) are passed to ``build_model`` and
  ``build_optimizer`` where their signatures accept them, otherwise applied by standard means;
  ``facts["knobs_applied"]`` and ``facts["knobs_not_applied"]`` say which and how. Standard
  means: ``dropout`` sets ``p`` on existing dropout modules; ``normalization`` swaps norm layers with
  :func:`regadvisor.reference.norms.swap_norms`; ``weight_decay`` splits the groups that had
  decay (all of them when none had) into decayed weights and undecayed biases/norm parameters,
  and turns Adam/Adamax/NAdam/RAdam into AdamW (the knob means decoupled decay); ``optimizer``
  rebuilds the same parameter groups under the named class;
  ``learning_rate`` sets every group's ``lr``; ``grad_clip_norm`` clips every step;
  ``label_smoothing`` goes to ``F.cross_entropy`` with the default loss (or to a ``loss_fn``
  that accepts it); ``early_stopping_patience`` stops after that many evaluations without a
  lower ``val_loss`` and loads the weights of the best evaluation back into the model (a copy
  of the state dict is kept at each new best, on the model's device); ``residual`` and
  ``data_augmentation`` need code changes and are reported as not applied. Without
  ``build_optimizer`` the probe uses AdamW(lr=1e-3) with torch's default decay 0.01 on ≥ 2-D
  weights and none on biases and norm parameters.

Series: ``train_loss``, ``grad_norm``, ``learning_rate`` (per step), ``val_loss``,
``train_eval_loss`` (per evaluation), ``val_acc``, ``train_acc`` (per evaluation, classification
only). ``train_eval_loss`` is not a canonical name: it is the eval-mode loss on the fixed
training subset, the like-for-like partner of ``val_loss``.

Run-level facts written here (model, optimizer and data facts: :mod:`regadvisor.probe.inspect`;
instrument quantities: :meth:`regadvisor.probe.hooks.Instruments.summary`): ``probe_seed``,
``probe_device``, ``probe_budget`` ({steps, epochs, seconds}), ``probe_steps``,
``probe_epochs``, ``probe_seconds``, ``stop_reason``, ``diverged``, ``diverged_at_step`` and
``nonfinite_loss`` (when diverged), ``interrupted``, ``steps_per_epoch``, ``knobs_requested``,
``knobs_applied``, ``knobs_not_applied``, ``optimizer_source`` (``build_optimizer`` or
``default``), ``loss_source`` (``loss_fn`` or ``default cross-entropy``), ``early_stopping``
({patience, best_val_loss, best_step, stopped, restored}; with the knob only).
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, ScriptError
from ..model import KNOBS, Run, Series
from ..reference.early_stopping import EarlyStopping
from ..signals import stats
from . import inspect as insp
from .discover import (
    ProbeScript,
    accepted_kwargs,
    format_call,
    load_script,
    script_error,
    script_importable,
    threads_as_daemons,
    unload_script,
)
from .hooks import DEPTHS, Depth, Instruments
from .knobs import MODEL_KNOBS, NORM_KINDS, OPTIMIZERS, apply_model_knobs, build_optimizer
from .results import PAST_BEST_FRACTION, EvaluationPoint, ProbeProgress, ProbeResult, check_lengths

DEFAULT_EPOCHS = 30
"""Probe length when the real training length is unknown: past the epoch-12-21 validation minima
of late-overfitting models (the ten scripts behind the issue on training length), so that the
probe can see the rise; the past-best stop ends it sooner where the curve turns earlier."""
PAST_BEST_MIN_EVALUATIONS = 5
PAST_BEST_MIN_WORSENING = 0.05
"""Relative rise of validation loss above its best that counts as past it (OF001's threshold)."""
PAST_BEST_MIN_ACC_DROP = 0.02
"""Drop of validation accuracy (fraction) below its best that counts as past it."""
PAST_BEST_Z = 3.0
EVAL_EVERY = 200
"""Evaluate inside an epoch after this many steps without an evaluation."""
DEFAULT_EVAL_BATCHES = 50

# ---------------------------------------------------------------------------------------------
# validation


def _validate_knobs(knobs: dict[str, Any] | None) -> dict[str, Any]:
    knobs = dict(knobs or {})
    for k in knobs:
        if k not in KNOBS:
            raise ConfigError(f"unknown knob {k!r}", source="knobs", hint=f"known knobs: {', '.join(KNOBS)}")

    def num(k: str, lo: float, hi: float | None = None, lo_open: bool = False, hi_open: bool = True) -> None:
        if k not in knobs:
            return
        v = knobs[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"knob {k} must be a number, not {v!r}", source="knobs")
        bad = (v <= lo if lo_open else v < lo) or (hi is not None and (v >= hi if hi_open else v > hi))
        if bad:
            raise ConfigError(f"knob {k}={v!r} is out of range", source="knobs")
        knobs[k] = float(v)

    num("dropout", 0.0, 1.0)
    num("weight_decay", 0.0)
    num("learning_rate", 0.0, lo_open=True)
    num("grad_clip_norm", 0.0, lo_open=True)
    num("label_smoothing", 0.0, 1.0)
    if "early_stopping_patience" in knobs:
        v = knobs["early_stopping_patience"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"knob early_stopping_patience must be an integer ≥ 1, not {v!r}", source="knobs")
    if "normalization" in knobs and knobs["normalization"] not in NORM_KINDS:
        raise ConfigError(f"knob normalization={knobs['normalization']!r} is not one of {', '.join(NORM_KINDS)}",
                          source="knobs")
    if "residual" in knobs and not isinstance(knobs["residual"], bool):
        raise ConfigError("knob residual must be true or false", source="knobs")
    if "optimizer" in knobs:
        name = str(knobs["optimizer"]).lower()
        if name not in OPTIMIZERS:
            raise ConfigError(f"knob optimizer={knobs['optimizer']!r} is not one of {', '.join(OPTIMIZERS)}",
                              source="knobs")
        knobs["optimizer"] = name
    return knobs


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}", source="device", hint="use auto, cpu or cuda") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but is not available", source="device", hint="use --device cpu")
    return dev


# ---------------------------------------------------------------------------------------------
# state that must be left as found


class _RngState:
    """Global RNG states of python ``random``, torch CPU, torch CUDA (if used) and numpy."""

    def __init__(self, cuda: bool):
        self.py = random.getstate()
        self.torch = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if cuda else None
        self.np = None
        np = sys.modules.get("numpy")
        if np is None:
            try:
                import numpy as np
            except ImportError:
                np = None
        self._np_mod = np
        if np is not None:
            self.np = np.random.get_state()

    def seed(self, seed: int) -> None:
        random.seed(seed)
        torch.manual_seed(seed)
        if self._np_mod is not None:
            self._np_mod.random.seed(seed % 2**32)

    def restore(self) -> None:
        random.setstate(self.py)
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        if self._np_mod is not None and self.np is not None:
            self._np_mod.random.set_state(self.np)


class _Replay:
    """Iterate ``obj`` once per epoch; a one-shot iterator is cached on its first pass and replayed."""

    def __init__(self, obj: Any, script: ProbeScript, what: str):
        self.script = script
        self.what = what
        try:
            it = iter(obj)
        except TypeError as exc:
            raise ScriptError(
                f"{what} is not iterable ({type(obj).__name__})", source=script.path,
                hint="build_data() must return (train_batches, val_batches), iterables of (inputs, targets)") from exc
        self.one_shot = it is obj
        self.obj = obj
        self.cache: list[Any] | None = [] if self.one_shot else None
        self.complete = False

    def __iter__(self) -> Iterator[Any]:
        if self.one_shot and self.complete:
            yield from self.cache or []
            return
        it = iter(self.obj) if not self.one_shot else self.obj
        while True:
            try:
                item = next(it)
            except StopIteration:
                break
            except (KeyboardInterrupt, SystemExit, ScriptError):
                raise
            except Exception as exc:
                raise script_error(self.script.path, exc, f"iterating {self.what}") from exc
            if self.cache is not None and not self.complete:
                self.cache.append(item)
            yield item
        if self.one_shot:
            self.complete = True


def _to(obj: Any, dev: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(dev, non_blocking=True) if obj.device != dev else obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(o, dev) for o in obj)
    if isinstance(obj, dict):
        return {k: _to(v, dev) for k, v in obj.items()}
    return obj


def _split(batch: Any, script: ProbeScript, what: str) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ScriptError(f"{what} yielded a {type(batch).__name__}, not an (inputs, targets) pair", source=script.path,
                      hint="each batch must be a tuple (inputs, targets)")


def _forward(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple):
        return model(*inputs)
    return model(inputs)


def default_loss(outputs: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy; (B, T, C) outputs with (B, T) integer targets are flattened to tokens."""
    if outputs.dim() > 2 and targets.dim() == outputs.dim() - 1:
        outputs = outputs.reshape(-1, outputs.shape[-1])
        targets = targets.reshape(-1)
    return F.cross_entropy(outputs, targets, label_smoothing=label_smoothing)


def _clip(params: list[nn.Parameter], max_norm: float, total: torch.Tensor) -> None:
    """``clip_grad_norm_`` reusing the norm the instruments already computed (no second pass)."""
    fn = getattr(torch.nn.utils, "clip_grads_with_norm_", None)  # torch >= 2.6
    if fn is not None:
        fn(params, max_norm, total)
        return
    grads = [p.grad for p in params if p.grad is not None]
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    if grads:
        torch._foreach_mul_(grads, coef.to(grads[0].device))


# ---------------------------------------------------------------------------------------------
# the probe


def run_probe(
    script: str | Path,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    seconds: float | None = None,
    train_epochs: int | None = None,
    train_steps: int | None = None,
    stop_past_best: bool = True,
    past_best_fraction: float = PAST_BEST_FRACTION,
    depth: str = "default",
    device: str = "auto",
    seed: int = 0,
    knobs: dict[str, Any] | None = None,
    progress: Callable[[ProbeProgress], None] | None = None,
    on_evaluation: Callable[[EvaluationPoint], bool] | None = None,
    sample_every: int | None = None,
    eval_batches: int = DEFAULT_EVAL_BATCHES,
) -> ProbeResult:
    """Run an instrumented training of the probe script at ``script``.

    The length: ``train_epochs``/``train_steps`` (else the script's ``EPOCHS``) is the user's
    real training length, and the probe trains that long unless ``steps``/``epochs``/``seconds``
    bound it sooner (first reached wins). With no length known at all it trains
    ``DEFAULT_EPOCHS`` epochs and says so (``facts["train_length"]`` is ``None``). With
    ``stop_past_best`` it ends once validation has clearly passed its best
    (:func:`past_best_patience`, after ``past_best_fraction`` of the length without a new best),
    which keeps the rise in the curve and skips the rest.
    ``on_evaluation`` is called after every evaluation and stops the run (reason ``pruned``)
    when it returns True: the hook a multi-fidelity scheduler prunes with.

    ``depth`` is ``"default"`` (cheap: global gradient norm every step, the rest every
    ``sample_every`` steps) or ``"full"`` (everything every step). ``device`` is ``"auto"``
    (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``. ``knobs`` overrides settings by the
    knob names of the report. ``progress`` is called with a :class:`ProbeProgress` after every
    step and evaluation (keeps this API free of any UI). The train metrics per evaluation are
    taken in eval mode on a fixed subset of training batches, like the validation metrics, so
    dropout does not inflate the gap.

    Raises :class:`ScriptError` when the script cannot be used and :class:`ConfigError` for bad
    arguments; a diverging loss or Ctrl-C is reported in the result, not raised.
    """
    if depth not in DEPTHS:
        raise ConfigError(f"depth must be one of {', '.join(DEPTHS)}, not {depth!r}", source="depth")
    check_lengths(steps=steps, epochs=epochs, seconds=seconds, train_epochs=train_epochs, train_steps=train_steps)
    if eval_batches < 1:
        raise ConfigError("eval_batches must be at least 1", source="eval_batches")
    knobs = _validate_knobs(knobs)
    dev = _resolve_device(device)
    path = Path(script)
    rng = _RngState(cuda=dev.type == "cuda")
    try:
        # threads the script's data starts while the loop iterates it must not hold the exit either
        with _ProcessSettings() as settings, script_importable(path), threads_as_daemons():
            ps = load_script(path)
            try:
                plan = make_plan(ps, steps=steps, epochs=epochs, seconds=seconds, train_epochs=train_epochs,
                                 train_steps=train_steps, stop_past_best=stop_past_best,
                                 past_best_fraction=past_best_fraction,
                                 patience=knobs.get("early_stopping_patience"))
                probe = _Probe(ps, dev, seed, knobs, cast(Depth, depth), sample_every, eval_batches, rng)
                return probe.run(plan, settings, progress, on_evaluation)
            finally:
                unload_script(ps)
    finally:
        rng.restore()


def make_plan(ps: ProbeScript, *, steps: int | None, epochs: int | None, seconds: float | None,
              train_epochs: int | None, train_steps: int | None, stop_past_best: bool,
              past_best_fraction: float = PAST_BEST_FRACTION,
              patience: int | None) -> ProbePlan:
    """The probe's length: the real one (argument, else the script's ``EPOCHS``) unless a budget
    is given; ``DEFAULT_EPOCHS`` when neither is known."""
    source = "--train-steps" if train_steps is not None else "--train-epochs" if train_epochs is not None else None
    if source is None and ps.epochs is not None:
        train_epochs, source = ps.epochs, "EPOCHS"
    if steps is None and epochs is None:
        if train_steps is not None:
            steps = train_steps
        elif train_epochs is not None:
            epochs = train_epochs
        elif seconds is None:
            epochs = DEFAULT_EPOCHS
    return ProbePlan(steps=steps, epochs=epochs, seconds=seconds, train_epochs=train_epochs,
                     train_steps=train_steps, length_source=source, stop_past_best=stop_past_best,
                     past_best_fraction=past_best_fraction,
                     patience=patience)


def current_settings(facts: dict[str, Any], knobs: dict[str, Any]) -> None:
    """The knob names as facts (from :func:`~.inspect.model_facts` and the knobs the probe
    applied), so that recommendations can show the current setting."""
    facts["dropout"] = facts["max_dropout"]
    kinds = facts["normalization_layers"]
    facts["normalization"] = kinds[0] if len(kinds) == 1 else ("none" if not kinds else "mixed")
    facts["residual"] = facts["has_residual"]
    facts["grad_clip_norm"] = knobs.get("grad_clip_norm")
    facts["early_stopping_patience"] = knobs.get("early_stopping_patience")


def _pin_shuffle(batches: Any, seed: int) -> None:
    """Give a shuffling ``DataLoader`` its own generator seeded with ``seed``.

    By default its epoch order is drawn from the global torch RNG, which dropout also draws
    from; a run with a different dropout rate would then see different batches after the first
    epoch. With its own generator the data order depends on the seed alone, so paired trials
    (``--verify``) differ only in the change they test.
    """
    from torch.utils.data import DataLoader, RandomSampler

    if isinstance(batches, DataLoader) and isinstance(batches.sampler, RandomSampler) \
            and batches.sampler.generator is None:
        batches.sampler.generator = torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class ProbePlan:
    """How long one probe trains, and what may end it sooner.

    ``steps``/``epochs``/``seconds`` are the probe's own budget (first reached wins);
    ``train_epochs``/``train_steps`` the user's real training length and ``length_source`` where
    it came from (``EPOCHS``, ``--train-epochs``, ``--train-steps``; ``None`` when unknown).
    ``stop_past_best`` ends the run once validation has clearly passed its best (see
    :func:`past_best_patience`); ``patience`` is the ``early_stopping_patience`` knob.
    """

    steps: int | None
    epochs: int | None
    seconds: float | None
    train_epochs: int | None = None
    train_steps: int | None = None
    length_source: str | None = None
    stop_past_best: bool = True
    past_best_fraction: float = PAST_BEST_FRACTION
    patience: int | None = None

    def train_length(self) -> dict[str, int] | None:
        """The real training length as ``{"epochs": N}`` or ``{"steps": N}`` (None when unknown)."""
        if self.train_steps is not None:
            return {"steps": self.train_steps}
        if self.train_epochs is not None:
            return {"epochs": self.train_epochs}
        return None

    def planned_steps(self, steps_per_epoch: int | None) -> int | None:
        """The probe's length in optimizer steps, once the epoch length is known."""
        if self.steps is not None:
            return self.steps
        if self.epochs is not None and steps_per_epoch:
            return self.epochs * steps_per_epoch
        return None


def past_best_patience(planned_steps: int | None, fraction: float = PAST_BEST_FRACTION) -> tuple[int, int | None]:
    """How long a run must go without a new best before it can count as past it: (evaluations, steps).

    At least ``PAST_BEST_MIN_EVALUATIONS`` (5) evaluations and ``fraction`` (by default
    ``PAST_BEST_FRACTION``, a quarter) of the planned length without a new best validation loss
    or metric. That is
    generous next to the 5-20 epochs practitioners give an early stopper, on purpose: the
    probe stops to save time, not to regularize, and the curve it returns must show the rise
    (Prechelt 1998, "Early Stopping - But When?": validation curves often have several local
    minima, so short patience stops before the real best). With the planned length unknown
    (a time budget only), 2 × 5 evaluations. The curve must also be :func:`clearly_worse` than
    its best.
    """
    if planned_steps is None:
        return 2 * PAST_BEST_MIN_EVALUATIONS, None
    return PAST_BEST_MIN_EVALUATIONS, math.ceil(fraction * planned_steps)


def clearly_worse(curve: list[float], min_worsening: float, *, relative: bool) -> bool:
    """Whether a lower-is-better ``curve`` now sits clearly above its best.

    The median of the last three points must exceed the best by ``min_worsening`` (relative to
    the best when ``relative``) and by ``PAST_BEST_Z`` (3) noise standard deviations of the
    curve (second-difference noise, as the overfitting rules measure it). A plateau that only
    wobbles is not past its best: the real training would go on through it, so the probe does.
    """
    finite = [v for v in curve if math.isfinite(v)]
    if len(finite) < 2:
        return False
    best = min(finite)
    now = stats.median(finite[-3:])
    margin = min_worsening * (abs(best) if relative else 1.0)
    sigma = stats.noise_sigma(finite)
    return now - best > max(margin, PAST_BEST_Z * sigma if sigma is not None else margin)


class StopRules:
    """What ends a run at an evaluation, in order: early stopping (the ``early_stopping_patience``
    knob, the reference stopper), ``past-best`` (validation clearly past its best, see
    :func:`past_best_patience`) and ``on_evaluation`` (``pruned``).

    One place for both ways the probe trains: its own loop over a contract script, and a script
    run as a program (:mod:`regadvisor.probe.child`), where the evaluations are what the script
    reports. ``restore_best`` keeps the weights of the best evaluation (the knob's meaning in the
    probe loop; a program's weights are the script's own and are left alone).
    """

    def __init__(self, plan: ProbePlan, on_evaluation: Callable[[EvaluationPoint], bool] | None, *,
                 restore_best: bool):
        self.plan, self.on_evaluation = plan, on_evaluation
        self.stopper = None if plan.patience is None else EarlyStopping(
            patience=plan.patience, restore_best=restore_best, stop_on_nonfinite=False)
        self.val_loss: list[float] = []
        self.val_acc: list[float] = []
        # past-best: the last evaluation that improved validation loss or the validation metric
        self.best_loss, self.best_acc = math.inf, -math.inf
        self.improved_at_step, self.improved_at_eval, self.evaluations = 0, 0, 0

    def evaluated(self, point: EvaluationPoint, planned_steps: int | None,
                  model: nn.Module | None = None) -> str | None:
        """Record one evaluation; the stop reason when the run must end here, else ``None``."""
        self.evaluations += 1
        vl, va = point.val_loss, point.val_acc
        self.val_loss.append(vl)
        if va is not None:
            self.val_acc.append(va)
        improved = vl < self.best_loss or (va is not None and va > self.best_acc)
        self.best_loss = min(self.best_loss, vl) if math.isfinite(vl) else self.best_loss
        self.best_acc = max(self.best_acc, va) if va is not None else self.best_acc
        if improved:
            self.improved_at_step, self.improved_at_eval = point.step, self.evaluations
        if self.stopper is not None and self.stopper.step(vl, model):
            return "early-stopping"
        if self.plan.stop_past_best and self._past_best(point.step, planned_steps):
            return "past-best"
        if self.on_evaluation is not None and self.on_evaluation(point):
            return "pruned"
        return None

    def _past_best(self, step: int, planned_steps: int | None) -> bool:
        evals, steps = past_best_patience(planned_steps, self.plan.past_best_fraction)
        waited = self.evaluations - self.improved_at_eval
        if waited < evals or (steps is not None and step - self.improved_at_step < steps):
            return False
        return (clearly_worse(self.val_loss, PAST_BEST_MIN_WORSENING, relative=True)
                or (bool(self.val_acc) and clearly_worse([-a for a in self.val_acc], PAST_BEST_MIN_ACC_DROP,
                                                         relative=False)))

    def facts(self, stop_reason: str, epoch_at: Callable[[int], float] | None) -> dict[str, Any]:
        """Where validation last improved (``stopped`` when past-best ended the run)."""
        return {"stopped": stop_reason == "past-best", "last_improvement_step": self.improved_at_step,
                "last_improvement_epoch": epoch_at(self.improved_at_step) if epoch_at else None}


class _ProcessSettings:
    """torch's process-wide settings a script may change: restored on exit, changes reported."""

    def __enter__(self) -> _ProcessSettings:
        self.saved = self._read()
        return self

    @staticmethod
    def _read() -> dict[str, Any]:
        return {"default_dtype": torch.get_default_dtype(),
                "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
                "num_threads": torch.get_num_threads()}

    def changed(self) -> list[str]:
        """Names of the settings the script changed (restored when the probe returns)."""
        now = self._read()
        return [k for k, v in self.saved.items() if now[k] != v]

    def __exit__(self, *exc: object) -> None:
        s = self.saved
        torch.set_default_dtype(s["default_dtype"])
        torch.use_deterministic_algorithms(s["deterministic_algorithms"], warn_only=s["deterministic_warn_only"])
        torch.set_num_threads(s["num_threads"])


class _Loop:
    """One probe training as steps a reader can follow: ``train`` runs epochs of ``train_step``,
    ``end_epoch`` and ``evaluate`` until a stop reason is set.

    Stop reasons: ``steps``, ``epochs``, ``seconds`` (the budget), ``past-best`` (validation
    clearly past its best), ``early-stopping`` (the knob), ``pruned`` (``on_evaluation`` said
    so), ``diverged``, ``interrupted``.
    """

    def __init__(self, probe: _Probe, inst: Instruments, plan: ProbePlan,
                 progress: Callable[[ProbeProgress], None] | None,
                 on_evaluation: Callable[[EvaluationPoint], bool] | None):
        self.p, self.inst, self.plan = probe, inst, plan
        self.progress, self.on_evaluation = progress, on_evaluation
        self.t0 = time.perf_counter()
        # a seconds budget bounds the evaluations too: past it, each split is evaluated on one batch
        probe.deadline = None if plan.seconds is None else self.t0 + plan.seconds
        self.clip = probe.knobs.get("grad_clip_norm")
        self.sync_every = 1 if probe.dev.type == "cpu" else 20
        self.step = self.epoch_done = self.last_eval = 0
        self.steps_per_epoch: int | None = None
        self.pending: list[torch.Tensor] = []
        self.losses: list[float] = []
        self.last_loss: float | None = None
        self.stop_reason = ""
        self.diverged = self.interrupted = False
        self.rules = StopRules(plan, on_evaluation, restore_best=True)
        self.stopper = self.rules.stopper
        probe.train_subset = []

    # -- progress ----------------------------------------------------------------------------
    def epoch_at(self, s: int) -> float:
        return s / self.steps_per_epoch if self.steps_per_epoch else float(self.epoch_done)

    def report(self, phase: str) -> None:
        if self.progress is not None:
            plan = self.plan
            self.progress(ProbeProgress(self.step, self.epoch_at(self.step), time.perf_counter() - self.t0,
                                        self.last_loss, phase, plan.steps, plan.epochs, plan.seconds))

    def flush(self) -> bool:
        """Move pending losses to the host; True when one is not finite (and record where)."""
        if not self.pending:
            return False
        vals = torch.stack(self.pending).tolist()
        first = len(self.losses) + 1
        self.pending = []
        bad = False
        for i, v in enumerate(vals):
            self.p.series["train_loss"].append(v, first + i, None)
            self.losses.append(v)
            if not math.isfinite(v) and not bad:
                bad = True
                self.p.facts["diverged_at_step"] = first + i
                self.p.facts["nonfinite_loss"] = repr(v)
        self.last_loss = vals[-1]
        return bad

    def stop(self, reason: str) -> bool:
        self.stop_reason = reason
        self.diverged = self.diverged or reason == "diverged"
        return True

    # -- the steps ---------------------------------------------------------------------------
    def train(self) -> None:
        try:
            while not self.stop_reason:
                seen = 0
                for batch in self.p.train:
                    seen += 1
                    if self.train_step(batch):
                        break
                else:
                    self.end_epoch(seen)
            if self.flush() and not self.diverged:
                self.stop("diverged")
            if not self.diverged and self.last_eval != self.step and self.step > 0:
                self.evaluate()
        except KeyboardInterrupt:
            self.interrupted, self.stop_reason = True, "interrupted"
            with contextlib.suppress(KeyboardInterrupt):
                self.diverged = self.flush() or self.diverged

    def train_step(self, batch: Any) -> bool:
        """One optimizer step on ``batch``; True when the run must stop."""
        p, model = self.p, self.p.model
        x, y = _split(batch, p.ps, "the training batches")
        if len(p.train_subset) < p.eval_batches:
            p.train_subset.append(batch)
        x, y = _to(x, p.dev), _to(y, p.dev)
        self.step += 1
        self.inst.start_step(self.step)
        if self.step == 1:
            out = self._first_forward(x, y)
        else:
            out = p.ps.call(_forward, model, x, what="forward")
        loss = p.ps.call(p.loss, out, y, what=p.loss_what)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise ScriptError("the loss is not a scalar tensor", source=p.ps.path,
                              hint="loss_fn(outputs, targets) must return a 0-d tensor")
        p.opt.zero_grad(set_to_none=True)
        p.ps.call(loss.backward, what="backward")
        gnorm = self.inst.after_backward()
        if self.clip is not None:
            _clip(self.inst.params, self.clip, gnorm)
        self.inst.before_update()
        p.ps.call(p.opt.step, what="optimizer.step")
        self.inst.after_update()
        p.series["learning_rate"].append(float(p.opt.param_groups[0]["lr"]), self.step, None)
        self.pending.append(loss.detach().float())
        if len(self.pending) >= self.sync_every and self.flush():
            return self.stop("diverged")
        self.report("train")
        plan = self.plan
        if plan.steps is not None and self.step >= plan.steps:
            return self.stop("steps")
        if plan.seconds is not None and time.perf_counter() - self.t0 >= plan.seconds:
            return self.stop("seconds")
        if self.step - self.last_eval >= EVAL_EVERY:
            if self.flush():
                return self.stop("diverged")
            return self.evaluate()
        return False

    def _first_forward(self, x: Any, y: Any) -> Any:
        """The first step's forward pass, which also records the batch size, call order and task."""
        p = self.p
        p.facts["batch_size"] = insp.batch_size_of(y) or insp.batch_size_of(x)
        with insp.CallOrder(p.model) as order:
            out = p.ps.call(_forward, p.model, x, what="forward")
        p.facts.update(insp.forward_order_facts(order.calls))
        p.facts["task"], p.facts["num_classes"] = insp.classification_info(out, y)
        return out

    def end_epoch(self, seen: int) -> None:
        p = self.p
        if seen == 0:
            raise ScriptError("build_data returned no training batches", source=p.ps.path)
        if self.steps_per_epoch is None:
            self.steps_per_epoch = seen
            p.facts["steps_per_epoch"] = seen
            p.facts["num_train_examples_counted"] = True
            p.facts["num_train_examples"] = p._count_examples()
        self.epoch_done += 1
        if self.flush():
            self.stop("diverged")
        elif not self.evaluate() and self.plan.epochs is not None and self.epoch_done >= self.plan.epochs:
            self.stop("epochs")

    def evaluate(self) -> bool:
        """Evaluate both splits; True when early stopping, past-best or ``on_evaluation`` stops the run."""
        self.last_eval = self.step
        epoch = self.epoch_at(self.step)
        vl = self.p._eval_all(self.step, epoch)
        acc = self.p.series["val_acc"]
        va = acc.values[-1] if len(acc) and acc.steps[-1] == self.step else None
        self.report("eval")
        reason = self.rules.evaluated(EvaluationPoint(self.step, epoch, vl, va),
                                      self.plan.planned_steps(self.steps_per_epoch), self.p.model)
        return self.stop(reason) if reason else False

    def past_best_facts(self) -> dict[str, Any]:
        """Where validation last improved, for the report (``stopped`` when past-best ended the run)."""
        return self.rules.facts(self.stop_reason, self.epoch_at if self.steps_per_epoch else None)


class _Probe:
    def __init__(self, ps: ProbeScript, dev: torch.device, seed: int, knobs: dict[str, Any], depth: Depth,
                 sample_every: int | None, eval_batches: int, rng: _RngState):
        self.ps, self.dev, self.seed, self.knobs, self.depth = ps, dev, seed, knobs, depth
        self.sample_every, self.eval_batches, self.rng = sample_every, eval_batches, rng
        self.applied: dict[str, str] = {}
        self.not_applied: dict[str, str] = {}
        self.facts: dict[str, Any] = {}
        self.deadline: float | None = None  # time.perf_counter() past which evaluations take one batch
        self.series = {n: Series(n) for n in ("train_loss", "grad_norm", "learning_rate", "val_loss",
                                               "val_acc", "train_eval_loss", "train_acc")}
        self.train_subset: list[Any] = []  # the training batches evaluated like validation, filled by the loop

    # -- setup -------------------------------------------------------------------------------
    def _setup(self) -> None:
        ps, knobs = self.ps, self.knobs
        self.rng.seed(self.seed)
        wanted = {k: knobs[k] for k in MODEL_KNOBS if k in knobs}
        yes, rest = accepted_kwargs(ps.build_model, wanted)
        model = ps.call(ps.build_model, **yes, what="build_model")
        if not isinstance(model, nn.Module):
            raise ScriptError(f"build_model returned {type(model).__name__}, not a torch.nn.Module", source=ps.path)
        self.model = model
        self.modes = [(m, m.training) for m in model.modules()]
        first = next(model.parameters(), None)
        self.orig_device = first.device if first is not None else None
        for k, v in yes.items():
            self.applied[k] = format_call("build_model", {k: v})
        apply_model_knobs(model, rest, self.applied, self.not_applied)
        if self.orig_device is not None and self.orig_device != self.dev:
            model.to(self.dev)
        data = ps.call(ps.build_data, what="build_data")
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise ScriptError(f"build_data returned {type(data).__name__}, not (train_batches, val_batches)",
                              source=ps.path, hint="return a tuple of two iterables of (inputs, targets)")
        for part in data:
            _pin_shuffle(part, self.seed)
        self.train = _Replay(data[0], ps, "the training batches")
        self.val = _Replay(data[1], ps, "the validation batches")
        self.opt, opt_source = build_optimizer(ps, model, knobs, self.applied, self.not_applied)
        self.loss_source = "loss_fn" if ps.loss_fn is not None else "default cross-entropy"
        self.loss_what = "loss_fn" if ps.loss_fn is not None else (
            "the default cross-entropy loss (define loss_fn(outputs, targets) for other outputs or targets)")
        ls = knobs.get("label_smoothing")
        if ps.loss_fn is None:
            self.loss = functools.partial(default_loss, label_smoothing=ls or 0.0)
            if ls is not None:
                self.applied["label_smoothing"] = f"F.cross_entropy(label_smoothing={ls!r})"
        else:
            yes_ls, _ = accepted_kwargs(ps.loss_fn, {"label_smoothing": ls} if ls is not None else {})
            self.loss = functools.partial(ps.loss_fn, **yes_ls)
            if ls is not None:
                if yes_ls:
                    self.applied["label_smoothing"] = format_call("loss_fn", yes_ls, first="outputs, targets")
                else:
                    self.not_applied["label_smoothing"] = "the script's loss_fn does not accept label_smoothing"
        if "grad_clip_norm" in knobs:
            self.applied["grad_clip_norm"] = (f"torch.nn.utils.clip_grad_norm_(max_norm={knobs['grad_clip_norm']!r}) "
                                              "every step")
        if "early_stopping_patience" in knobs:
            self.applied["early_stopping_patience"] = (
                f"stop after {knobs['early_stopping_patience']} evaluations without a lower val_loss")
        if "data_augmentation" in knobs:
            self.not_applied["data_augmentation"] = "advisory only: augmentation is the script's to add"
        self.facts.update(insp.model_facts(model))
        self.facts.update(insp.optimizer_facts(self.opt, model))
        self.facts["optimizer_source"] = opt_source
        current_settings(self.facts, knobs)
        self.facts["label_smoothing"] = (knobs.get("label_smoothing") or 0.0) if ps.loss_fn is None else knobs.get(
            "label_smoothing")
        self.facts["loss_source"] = self.loss_source

    # -- evaluation --------------------------------------------------------------------------
    def _evaluate(self, batches: Iterable[Any], what: str) -> tuple[float, float | None, int]:
        total = torch.zeros((), device=self.dev)
        correct = torch.zeros((), device=self.dev)
        n = 0
        classify = self.facts.get("task") == "classification"
        with torch.no_grad():
            for i, batch in enumerate(batches):
                if i >= self.eval_batches:
                    break
                if n and self.deadline is not None and time.perf_counter() >= self.deadline:
                    self.facts["evaluation_cut_by_seconds"] = True
                    break
                x, y = _split(batch, self.ps, what)
                x, y = _to(x, self.dev), _to(y, self.dev)
                out = self.ps.call(_forward, self.model, x, what="forward (evaluation)")
                loss = self.ps.call(self.loss, out, y, what=self.loss_what)
                b = insp.batch_size_of(y) or 1
                total += loss.detach().float() * b
                if classify:
                    correct += (out.argmax(dim=-1) == y).float().sum() / (y.numel() / b)
                n += b
        if n == 0:
            return float("nan"), None, 0
        t, c = torch.stack([total, correct]).tolist()
        return t / n, (c / n if classify else None), n

    def _eval_all(self, step: int, epoch: float) -> float:
        model = self.model
        model.eval()
        try:
            vl, va, nv = self._evaluate(self.val, "the validation batches")
            tl, ta, _ = self._evaluate(self.train_subset, "the training batches")
        finally:
            model.train()
        if nv == 0:
            raise ScriptError("build_data returned no validation batches", source=self.ps.path)
        s = self.series
        s["val_loss"].append(vl, step, epoch)
        s["train_eval_loss"].append(tl, step, epoch)
        if va is not None:
            s["val_acc"].append(va, step, epoch)
        if ta is not None:
            s["train_acc"].append(ta, step, epoch)
        return vl

    # -- the loop ----------------------------------------------------------------------------
    def run(self, plan: ProbePlan, settings: _ProcessSettings, progress: Callable[[ProbeProgress], None] | None,
            on_evaluation: Callable[[EvaluationPoint], bool] | None) -> ProbeResult:
        inst: Instruments | None = None
        try:
            self._setup()
            inst = Instruments(self.model, self.depth, self.sample_every)
            loop = _Loop(self, inst, plan, progress, on_evaluation)
            loop.train()
            return self._result(loop, inst, plan, settings)
        finally:
            if inst is not None:
                inst.close()
            self._restore_model()

    def _restore_model(self) -> None:
        """Put the user's model back as found: training flags, device, no gradients left on it."""
        model = getattr(self, "model", None)
        if model is None:
            return
        for m, mode in self.modes:
            m.training = mode
        for p in model.parameters():
            p.grad = None
        if self.orig_device is not None and self.orig_device != self.dev:
            model.to(self.orig_device)

    def _result(self, loop: _Loop, inst: Instruments, plan: ProbePlan, settings: _ProcessSettings) -> ProbeResult:
        stopper = loop.stopper
        restored = stopper is not None and (stopper.stopped or stopper.restore(self.model))  # "keep the best weights"
        gn = self.series["grad_norm"]
        for i, v in enumerate(inst.global_norms()[: len(loop.losses)]):
            gn.append(v, i + 1, None)
        lr = self.series["learning_rate"]
        del lr.values[len(loop.losses):], lr.steps[len(loop.losses):], lr.epochs[len(loop.losses):]
        self._fix_epochs(loop.steps_per_epoch)
        self.facts.update(inst.summary())
        self._data_facts()
        elapsed = time.perf_counter() - loop.t0
        self.facts.update({
            "probe_seed": self.seed,
            "probe_device": str(self.dev),
            "probe_budget": {"steps": plan.steps, "epochs": plan.epochs, "seconds": plan.seconds},
            "probe_steps": len(loop.losses),
            "probe_epochs": loop.epoch_at(loop.step) if loop.steps_per_epoch else float(loop.epoch_done),
            "probe_seconds": round(elapsed, 3),
            "stop_reason": loop.stop_reason,
            "diverged": loop.diverged,
            "interrupted": loop.interrupted,
            "knobs_requested": dict(self.knobs),
            "knobs_applied": dict(self.applied),
            "knobs_not_applied": dict(self.not_applied),
            "train_length": plan.train_length(),
            "train_length_source": plan.length_source,
            "past_best": loop.past_best_facts(),
            "process_settings_changed": settings.changed(),
        })
        if stopper is not None:
            vl = self.series["val_loss"]
            best_step = vl.steps[stopper.best_step - 1] if stopper.best_step else None
            self.facts["early_stopping"] = {
                "patience": plan.patience, "best_val_loss": stopper.best, "best_step": best_step,
                "stopped": loop.stop_reason == "early-stopping", "restored": bool(restored and best_step)}
        run = Run(source=str(self.ps.path), format="probe", name=self.ps.path.stem,
                  series={k: v for k, v in self.series.items() if len(v)}, facts=self.facts)
        if loop.interrupted:
            run.warnings.append("probe interrupted (Ctrl-C): partial results")
        if loop.diverged:
            run.warnings.append(f"training loss became {self.facts.get('nonfinite_loss')} at step "
                                f"{self.facts.get('diverged_at_step')}; probe stopped")
        return ProbeResult(run=run, interrupted=loop.interrupted, diverged=loop.diverged, seconds=elapsed,
                           steps=len(loop.losses), epochs=self.facts["probe_epochs"], stop_reason=loop.stop_reason,
                           device=str(self.dev))

    def _fix_epochs(self, steps_per_epoch: int | None) -> None:
        """Fill ``epoch`` once the epoch length is known (or guessable from ``len(train)``):
        a training step ``s`` happens at progress ``(s - 1) / steps_per_epoch``, an evaluation
        after step ``s`` at ``s / steps_per_epoch``."""
        spe = steps_per_epoch
        if spe is None:
            try:
                spe = len(self.train.obj) or None
            except TypeError:
                spe = None
        if not spe:
            return
        self.facts.setdefault("steps_per_epoch", spe)
        for name, s in self.series.items():
            offset = 1 if name in ("train_loss", "grad_norm", "learning_rate") else 0
            for i, st in enumerate(s.steps):
                s.epochs[i] = (st - offset) / spe

    def _count_examples(self) -> int | None:
        items = self.train.cache if self.train.one_shot else self.train.obj
        if isinstance(items, (list, tuple)):
            return sum(insp.batch_size_of(_split(b, self.ps, "the training batches")[1]) or 0 for b in items)
        ds = getattr(self.train.obj, "dataset", None)
        if ds is not None:
            try:
                return len(ds)
            except TypeError:
                pass
        return None

    def _data_facts(self) -> None:
        f = self.facts
        bs = f.get("batch_size")
        if f.get("num_train_examples") is None:
            f["num_train_examples_counted"] = False
            f["num_train_examples"] = insp.dataset_size(self.train.obj, bs)
        n = f.get("num_train_examples")
        f["params_per_example"] = (f["num_trainable_parameters"] / n) if n else None
        f["batchnorm_batch_size"] = bs if "batchnorm" in f.get("normalization_layers", []) else None
        f.setdefault("task", "unknown")
        f.setdefault("num_classes", None)
        f.setdefault("dropout_before_batchnorm", None)
        f.setdefault("dropout_batchnorm_pairs", [])
