"""What regadvisor attaches inside the process of a script run as a program, by standard means.

The script runs unmodified (:mod:`.child`); :meth:`Capture.install` wraps a few entry points
before it starts (:mod:`.wrappers`), and each one only watches unless a knob or a budget asks for
more; :mod:`.collect` turns what was measured into the result:

* **The model and its optimizer.** Construction of every ``torch.optim.Optimizer`` is wrapped;
  the first one whose parameters belong to a module is *the* optimizer, and the model is the
  root module (one that is no other module's child) holding the most of its parameters, the
  smallest on a tie. The instruments (:class:`~.hooks.Instruments`) attach to it there, with
  the forward hooks of the first step already in place; the optimizer's own step hooks
  (``register_step_pre_hook``/``register_step_post_hook``) do the rest. A step that passes a
  closure (Lightning's automatic optimization runs forward and backward inside it) is measured
  after the closure. Gradients are read as the optimizer receives them; where the script clips
  them itself (``torch.nn.utils.clip_grad_norm_``) ``grad_norm`` is the norm before its clipping,
  as Hugging Face and Lightning report it.
* **The training loss** is the scalar passed to ``Tensor.backward()`` (summed over the
  backward calls of one optimizer step, the mean under gradient accumulation that divides the
  loss; unscaled where ``GradScaler.scale`` produced it).
* **Epochs.** The training loader is the ``DataLoader`` whose iteration began last before the
  first step; each new pass over it starts an epoch, and ``steps_per_epoch`` is counted over the
  first (``len(loader)`` until then).
* **Validation curves** are what the script reports. A plain script's stdout and stderr lines
  are read as they are written by regadvisor's text-log reader
  (:func:`regadvisor.logs.text.parse_line`): pytorch/examples' ``Test set: Average loss: 0.05,
  Accuracy: 9850/10000 (98%)`` is an evaluation (a test split evaluated during training is the
  validation curve, as ``diagnose`` reads it). A script that prints none but writes a log
  (TensorBoard, CSV, JSONL: a file it opened for writing, seen by an audit hook) has that log
  read after the run, each point placed at the end of its epoch. Lightning and Hugging Face ``Trainer`` get
  regadvisor's callbacks injected (:mod:`.frameworks`) and their logged metrics are the curves.
* **The real length** is the script's own: ``--train-epochs``/``--train-steps`` when given, else
  Lightning's ``max_epochs``/``max_steps``, Hugging Face's ``num_train_epochs``/``max_steps``, an
  ``--epochs``-like argument the script parsed with ``argparse``, else the length it ran.
* **Stopping.** Budgets shorten the run only when asked: a framework gets ``max_steps``/
  ``max_epochs``; a plain script is stopped at the optimizer's step (:class:`StopTraining`
  raised from its step hook, after the evaluation that ended the previous epoch). Early
  stopping (the knob), past-best and the scheduler's pruning judge each evaluation with
  :class:`~.runner.StopRules`, the probe loop's own rules; a framework is told through
  ``should_stop``/``should_training_stop``.
* **Knobs** (:meth:`Capture.apply_knobs`): dropout ``p`` on the model's ``nn.Dropout`` modules and
  in a Hugging Face config's dropout fields; weight decay, optimizer family and learning rate by
  rebuilding the optimizer from its parameter groups (:func:`~.knobs.apply_optimizer_knobs`,
  no decay on biases and norms) in place, at its construction, before a scheduler holds it;
  gradient clipping before every step. Layers (normalization, residual) and the script's own
  loss (label smoothing) need a code change and are reported as not applied.
* **Seeds.** Before the script runs, ``random``, torch and numpy are seeded with the probe's
  seed; seeds the script sets itself (``torch.manual_seed``, ``random.seed``,
  ``numpy.random.seed``, and what ``seed_everything``/``set_seed`` call) are shifted by it, so
  ``--seed 0`` runs exactly what the script wrote and paired trials differ by seed alone. Each
  shuffling ``DataLoader`` gets its own generator (:func:`~.runner._pin_shuffle`), so the data
  order does not depend on how much randomness dropout drew.

Everything here acts only in the script's main process: forked data workers inherit the
wrappers and ignore them.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..logs.aliases import canonical_name
from ..logs.registry import ReadOptions, RunBuilder
from ..logs.text import parse_line
from . import inspect as insp
from .hooks import Instruments
from .knobs import OPTIMIZER_KNOBS, apply_model_knobs, apply_optimizer_knobs
from .results import PAST_BEST_FRACTION, EvaluationPoint
from .runner import (
    ProbePlan,
    StopRules,
    _clip,
    _validate_knobs,
)

EPOCH_ARGS = ("epochs", "num_epochs", "n_epochs", "nepochs", "max_epochs", "num_train_epochs", "train_epochs",
              "epoch_num")
STEP_ARGS = ("max_steps", "train_steps", "num_steps", "total_steps", "max_iters", "num_iterations")
"""``argparse`` destinations that name the script's training length (the spellings of
pytorch/examples, timm, nanoGPT and the transformers examples)."""
FLUSH_EVERY = 20
"""Training losses are moved to the host every this many steps (one device sync), and checked for
divergence there."""
PROGRESS_EVERY = 0.5
"""Seconds between progress messages to the parent."""
HF_DROPOUT_FIELDS = ("dropout", "dropout_prob", "pdrop", "dropout_rate")
"""Endings of a Hugging Face config's dropout fields (``hidden_dropout_prob``, ``resid_pdrop``, ...)."""
NOT_APPLIED = {
    "normalization": "the script builds its own layers: swapping norm layers needs a change to its model code",
    "residual": "the script builds its own layers: skip connections need a change to its model code",
    "label_smoothing": "the script computes its own loss: pass label_smoothing to its cross-entropy",
    "data_augmentation": "advisory only: augmentation is the script's to add",
}


LENGTH_RANKS = {"option": 0, "trainer": 1, "argument": 2, "run": 3}
"""Where the real length comes from, surest first: ``--train-epochs``/``--train-steps``, the
framework's ``Trainer``, an ``argparse`` argument, the length the script ran."""


class StopTraining(BaseException):
    """Ends a plain script's training at the optimizer's step (a budget, early stopping,
    past-best, pruning). A ``BaseException``, so that the script's ``except Exception`` does not
    swallow it."""


class Capture:
    """The instruments of one program run (see the module docstring); ``channel`` talks to the
    parent (:class:`~.program.Channel`)."""

    def __init__(self, spec: dict[str, Any], channel: Any):
        self.spec, self.channel = spec, channel
        self.script = Path(spec["script"])
        self.knobs = _validate_knobs(spec["knobs"])
        self.seed = int(spec["seed"])
        self.depth, self.sample_every = spec["depth"], spec.get("sample_every")
        budget = spec["budget"]
        self.budget = {k: budget.get(k) for k in ("steps", "epochs", "seconds")}
        self.length: dict[str, int] | None = spec.get("train_length")
        self.length_source: str | None = spec.get("length_source")
        self.length_rank = LENGTH_RANKS["option"] if self.length else len(LENGTH_RANKS)
        self.plan = ProbePlan(steps=self.budget["steps"], epochs=self.budget["epochs"], seconds=self.budget["seconds"],
                              stop_past_best=bool(spec["stop_past_best"]),
                              past_best_fraction=float(spec.get("past_best_fraction", PAST_BEST_FRACTION)),
                              patience=self.knobs.get("early_stopping_patience"))
        ask = self._ask_parent if spec.get("prune") else None
        self.rules = StopRules(self.plan, ask, restore_best=False)
        self.pid = os.getpid()
        self.t0 = time.perf_counter()
        self.framework: str | None = None
        self.framework_log: Path | None = None
        self.framework_facts: dict[str, Any] = {}
        self.optimizer: torch.optim.Optimizer | None = None
        self.model: nn.Module | None = None
        self.inst: Instruments | None = None
        self.optimizers_seen = 0
        self.constructing: set[int] = set()
        self.suspended = 0
        self.step = 0
        self.step_loss: torch.Tensor | None = None
        self.scaled: dict[int, torch.Tensor] = {}
        self.clip_norm: torch.Tensor | None = None
        self.script_clip: float | None = None
        self.pending: list[tuple[int, torch.Tensor]] = []
        self.losses: list[tuple[int, float]] = []
        self.pre_clip_norms: dict[int, torch.Tensor] = {}
        self.lrs: list[float] = []
        self.loader_passes: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self.loaders_made = 0
        self.last_loader: weakref.ref[Any] | None = None
        self.train_loader: weakref.ref[Any] | None = None
        self.passes = 0
        self.first_pass_steps: int | None = None
        self.loader_len: int | None = None
        self.text = RunBuilder(self.script, "text", ReadOptions())
        self.text_points = 0
        self.last_text: dict[str, tuple[float, float | None]] = {}
        self.text_epoch: float | None = None
        self.saw_val = False
        self.evaluations: list[EvaluationPoint] = []
        self.stop_reason = ""
        self.halt = False
        self.applied: dict[str, str] = {}
        self.not_applied: dict[str, str] = {}
        self.facts: dict[str, Any] = {}
        self.last_progress = 0.0
        self.device: str | None = None
        self.written: dict[str, None] = {}
        self.modules: weakref.WeakValueDictionary[int, nn.Module] = weakref.WeakValueDictionary()

    def install(self) -> None:
        """Seed and wrap the entry points (:func:`~.wrappers.install`); once, in a fresh process."""
        from .wrappers import install

        install(self)

    def _mine(self) -> bool:
        return os.getpid() == self.pid

    def result(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """Everything measured, as JSON data for the parent (:func:`~.collect.result`)."""
        from .collect import result

        return result(self, outcome)

    # -- what the wrappers report ---------------------------------------------------------------
    def arguments_parsed(self, namespace: Any) -> None:
        """The script's ``--epochs``-like argument is its real length (unless one is known)."""
        if not self._mine():
            return
        for names, unit in ((EPOCH_ARGS, "epochs"), (STEP_ARGS, "steps")):
            for name in names:
                value = getattr(namespace, name, None)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                    self.set_length({unit: value}, f"the script's argument {name}={value}", LENGTH_RANKS["argument"])
                    return

    def set_length(self, length: dict[str, int] | None, source: str, rank: int) -> None:
        """The real training length from ``source``; a lower ``rank`` wins (:data:`LENGTH_RANKS`)."""
        if length and rank < self.length_rank:
            self.length, self.length_source, self.length_rank = length, source, rank

    def loader_pass(self, loader: Any) -> None:
        """A pass over ``loader`` begins: on the training loader, a new epoch."""
        self.loader_passes[loader] = self.loader_passes.get(loader, 0) + 1
        self.last_loader = weakref.ref(loader)
        if self.train_loader is not None and self.train_loader() is loader:
            self.passes += 1
            if self.passes == 2 and self.first_pass_steps is None:
                self.first_pass_steps = self.step
            epochs = self.budget["epochs"]
            if epochs is not None and self.passes > epochs:
                self.request_stop("epochs")

    def loss_seen(self, loss: torch.Tensor) -> None:
        factor = self.scaled.pop(id(loss), None)
        value = loss.detach().float()
        if factor is not None:
            value = value / factor.float()
        self.step_loss = value if self.step_loss is None else self.step_loss + value

    def constructed(self, opt: torch.optim.Optimizer) -> None:
        """An optimizer finished its construction: the first one over a model's parameters is instrumented."""
        if self.suspended or not self._mine():
            return
        self.optimizers_seen += 1
        if self.optimizer is not None:
            return
        model = _owner(opt, list(self.modules.values()), whole=True) or _owner(opt, _all_modules())
        if model is None:
            return
        self.model = model
        opt = self.apply_knobs(opt, model)
        self.optimizer = opt
        self.facts.update(insp.model_facts(model))
        self.facts.update(insp.optimizer_facts(opt, model))
        self.facts["optimizer_source"] = "the script"
        self.facts["loss_source"] = "the script (the scalar passed to backward())"
        self.inst = Instruments(model, self.depth, self.sample_every)
        self.inst.start_step(1)
        _FirstForward(self, model)
        opt.register_step_pre_hook(self._pre_step)
        opt.register_step_post_hook(self._post_step)

    def apply_knobs(self, opt: torch.optim.Optimizer, model: nn.Module) -> torch.optim.Optimizer:
        """The knobs by standard means (see the module docstring); ``opt`` rebuilt in place where needed."""
        knobs = self.knobs
        if "dropout" in knobs:
            apply_model_knobs(model, {"dropout": knobs["dropout"]}, self.applied, self.not_applied)
            fields = _set_config_dropout(model, knobs["dropout"])
            if fields:
                self.not_applied.pop("dropout", None)
                done = self.applied.get("dropout")
                config = f"config {', '.join(fields)} = {knobs['dropout']!r}"
                self.applied["dropout"] = f"{done}; {config}" if done else config
            elif "dropout" in self.not_applied:
                self.not_applied["dropout"] = "the model has no nn.Dropout modules to set p on"
        for knob, why in NOT_APPLIED.items():
            if knob in knobs:
                self.not_applied[knob] = why
        rest = {k: knobs[k] for k in OPTIMIZER_KNOBS if k in knobs}
        if rest:
            with self._suspended():
                new = apply_optimizer_knobs(opt, model, rest, self.applied)
            if new is not opt:
                opt.__class__ = type(new)
                opt.__dict__.clear()
                opt.__dict__.update(new.__dict__)
        if "grad_clip_norm" in knobs:
            self.applied["grad_clip_norm"] = (f"torch.nn.utils.clip_grad_norm_(max_norm={knobs['grad_clip_norm']!r}) "
                                              "before every optimizer step")
        if "early_stopping_patience" in knobs:
            self.applied["early_stopping_patience"] = (
                f"stop after {knobs['early_stopping_patience']} of the script's evaluations without a lower val_loss")
        return opt

    @contextlib.contextmanager
    def _suspended(self) -> Iterator[None]:
        self.suspended += 1
        try:
            yield
        finally:
            self.suspended -= 1

    # -- the optimizer's step -------------------------------------------------------------------
    def _pre_step(self, opt: torch.optim.Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.halt:
            raise StopTraining(self.stop_reason)
        if self.step == 0:
            self.train_loader = self.last_loader
            loader = self.last_loader() if self.last_loader is not None else None
            if loader is not None:
                self._loader_facts(loader)
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)  # args[0] is the optimizer
        if closure is None:
            self._before_update()
            return None

        def measured() -> Any:
            loss = closure()
            self._before_update()
            return loss

        if "closure" in kwargs:
            return args, {**kwargs, "closure": measured}
        return (args[0], measured, *args[2:]), kwargs

    def _loader_facts(self, loader: Any) -> None:
        """The training loader, seen at the first step: its passes so far, length, batch size, data size."""
        self.passes = self.loader_passes.get(loader, 1)
        with contextlib.suppress(TypeError):
            self.loader_len = len(loader) or None
        self.facts["loader_batch_size"] = getattr(loader, "batch_size", None)
        with contextlib.suppress(TypeError):
            self.facts["num_train_examples"] = len(loader.dataset)

    def _before_update(self) -> None:
        """After the backward pass, before the update: gradients, the knob's clipping, the loss."""
        assert self.inst is not None and self.optimizer is not None
        self.step += 1
        inst = self.inst
        norm = inst.after_backward()
        if self.clip_norm is not None:
            self.pre_clip_norms[self.step] = self.clip_norm
            self.clip_norm = None
        clip = self.knobs.get("grad_clip_norm")
        if clip is not None:
            _clip(inst.params, clip, norm)
        inst.before_update()
        if self.step_loss is not None:
            self.pending.append((self.step, self.step_loss))
            self.step_loss = None
        lr = self.optimizer.param_groups[0]["lr"]
        self.lrs.append(float(lr))
        if self.device is None and inst.params:
            self.device = str(inst.params[0].device)

    def _post_step(self, opt: torch.optim.Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        assert self.inst is not None
        self.inst.after_update()
        self.inst.start_step(self.step + 1)
        if len(self.pending) >= FLUSH_EVERY and self.flush():
            self.request_stop("diverged")
        budget = self.budget
        if budget["steps"] is not None and self.step >= budget["steps"]:
            self.request_stop("steps")
        elapsed = time.perf_counter() - self.t0
        if budget["seconds"] is not None and elapsed >= budget["seconds"]:
            self.request_stop("seconds")
        if self.spec.get("progress") and elapsed - self.last_progress >= PROGRESS_EVERY:
            self.last_progress = elapsed
            loss = self.losses[-1][1] if self.losses else None
            self.channel.send({"type": "progress", "step": self.step, "epoch": self.epoch_at(self.step),
                               "seconds": elapsed, "loss": loss})

    def flush(self) -> bool:
        """Move pending losses to the host; True when one is not finite (and record where)."""
        if not self.pending:
            return False
        values = torch.stack([t for _, t in self.pending]).tolist()
        bad = False
        for (step, _), value in zip(self.pending, values):
            self.losses.append((step, value))
            if not math.isfinite(value) and not bad and "diverged_at_step" not in self.facts:
                bad = True
                self.facts["diverged_at_step"] = step
                self.facts["nonfinite_loss"] = repr(value)
        self.pending = []
        return bad

    # -- evaluations ---------------------------------------------------------------------------
    def steps_per_epoch(self) -> int | None:
        return self.first_pass_steps or self.loader_len

    def epoch_at(self, step: int) -> float:
        spe = self.steps_per_epoch()
        return step / spe if spe else float(max(self.passes - 1, 0))

    def planned_steps(self) -> int | None:
        spe = self.steps_per_epoch()
        if self.budget["steps"] is not None:
            return self.budget["steps"]
        if self.budget["epochs"] is not None:
            return self.budget["epochs"] * spe if spe else None
        if self.length is not None:
            return self.length.get("steps") or (self.length["epochs"] * spe if spe else None)
        return None

    def output(self, text: str, progress_bar: bool) -> None:
        """One line the script wrote (``progress_bar``: rewritten in place with ``\\r``)."""
        if not self._mine():
            return
        parsed = parse_line(text, self.text.options)
        if parsed is None:
            return
        _, epoch, metrics = parsed
        if epoch is not None:
            self.text_epoch = epoch
        found: dict[str, float] = {}
        for key, value in metrics:
            if progress_bar and self.last_text.get(key) == (value, epoch):
                continue  # a progress bar reprinting its postfix, not a new value
            self.last_text[key] = (value, epoch)
            self.text.add(key, value, float(self.step), epoch)
            self.text_points += 1
            found.setdefault(canonical_name(key).canonical, value)
        if self.framework is not None or self.inst is None:
            return
        loss, acc = found.get("val_loss"), found.get("val_acc")
        if loss is not None or acc is not None:
            self.saw_val = True
        elif not self.saw_val:
            loss, acc = found.get("test_loss"), found.get("test_acc")
        if loss is not None or acc is not None:
            self.evaluation(loss, acc, epoch)

    def evaluation(self, val_loss: float | None, val_acc: float | None, epoch: float | None = None) -> None:
        """One evaluation the script reported, judged by :class:`~.runner.StopRules`."""
        if self.step == 0:
            return  # before training: nothing to judge yet
        spe = self.steps_per_epoch()
        at = self.step / spe if spe else (epoch if epoch is not None else self.text_epoch or 0.0)
        point = EvaluationPoint(self.step, at, math.nan if val_loss is None else float(val_loss),
                                None if val_acc is None else float(val_acc))
        self.evaluations.append(point)
        reason = self.rules.evaluated(point, self.planned_steps())
        if reason:
            self.request_stop(reason)

    def _ask_parent(self, point: EvaluationPoint) -> bool:
        reply = self.channel.ask({"type": "evaluation", "step": point.step, "epoch": point.epoch,
                                  "val_loss": point.val_loss, "val_acc": point.val_acc})
        return bool(reply.get("stop"))

    def request_stop(self, reason: str) -> None:
        """End training for ``reason`` (the first reason wins): a plain script at its next optimizer
        step, a framework through its own stop flag (:mod:`.frameworks`)."""
        if not self.stop_reason:
            self.stop_reason = reason
        if self.framework is None:
            self.halt = True


class _FirstForward:
    """The model's first training forward: batch size, the class dimension of its output, and the
    module call order (:func:`~.inspect.forward_order_facts`); its hooks remove themselves after."""

    def __init__(self, capture: Capture, model: nn.Module):
        self.capture, self.order = capture, insp.CallOrder(model)
        self.handles = [model.register_forward_pre_hook(self.before, with_kwargs=True),
                        model.register_forward_hook(self.after, with_kwargs=True)]
        self.active = False

    def before(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        if module.training and not self.active:
            self.active = True
            self.capture.facts["batch_size"] = insp.batch_size_of(args) or insp.batch_size_of(kwargs)
            self.order.__enter__()

    def after(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        if not self.active:
            return
        self.order.__exit__()
        for handle in self.handles:
            handle.remove()
        self.capture.facts.update(insp.forward_order_facts(self.order.calls))
        logits = getattr(output, "logits", output)
        if isinstance(logits, (tuple, list)) and logits:
            logits = logits[0]
        if isinstance(logits, torch.Tensor) and logits.is_floating_point() and logits.dim() == 2 \
                and logits.shape[1] >= 2:
            self.capture.facts["output_classes"] = int(logits.shape[1])


def _owner(opt: torch.optim.Optimizer, modules: list[nn.Module], whole: bool = False) -> nn.Module | None:
    """The root module of ``modules`` (no other one's child) holding the most of ``opt``'s
    parameters, the smallest on a tie; ``None`` when none holds any (or, with ``whole``, when
    none holds them all: a fresh head on a model that was not constructed here)."""
    wanted = {id(p) for group in opt.param_groups for p in group["params"]}
    children = {id(child) for m in modules for child in m.children()}
    best: tuple[tuple[int, int], nn.Module] | None = None
    for m in modules:
        if id(m) in children:
            continue
        own = {id(p) for p in m.parameters()}
        key = (len(wanted & own), -len(own))
        if key[0] and (best is None or key > best[0]):
            best = (key, m)
    if best is None or (whole and best[0][0] < len(wanted)):
        return None
    return best[1]


def _all_modules() -> list[nn.Module]:
    """Every module alive, for a model that was not constructed in the script's process (one
    unpickled whole by ``torch.load``). ``issubclass(type(o), ...)`` reads no attribute of
    the object, so proxies and deprecated module attributes stay untouched; it is one pass over
    every object the collector tracks (0.05 s for 320,000 with torch imported)."""
    return [obj for obj in gc.get_objects() if issubclass(type(obj), nn.Module)]


def _set_config_dropout(model: nn.Module, p: float) -> list[str]:
    """Set a Hugging Face config's dropout fields (read by code that looks them up at forward)."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_dict"):
        return []
    fields = [k for k, v in config.to_dict().items() if k.endswith(HF_DROPOUT_FIELDS)
              and isinstance(v, (int, float)) and not isinstance(v, bool)]
    for name in fields:
        setattr(config, name, p)
    return fields
