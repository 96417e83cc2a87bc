"""Lightning and Hugging Face ``Trainer`` in a script run as a program: regadvisor's callbacks injected.

When the script imports a ``Trainer`` (``lightning.pytorch``, ``pytorch_lightning`` or
``transformers``), its ``__init__`` is wrapped as the module loads (a ``sys.meta_path`` finder;
nothing is imported that the script does not import). Each ``Trainer`` the script builds then:

* gets a callback added to its own (:class:`~regadvisor.integrations.lightning.RegadvisorCallback`,
  :class:`~regadvisor.integrations.huggingface.RegadvisorTrainerCallback`, writing their
  ``metrics.jsonl`` to a folder of the probe's): the metrics the script logs are the curves;
  every validation run (not Lightning's sanity check) is an evaluation judged by the probe's
  stop rules, and a stop is asked for with ``trainer.should_stop`` / ``control.should_training_stop``;
* tells the probe its real length: ``max_epochs``/``max_steps`` (Lightning, whose default without
  either is 1000 epochs) or ``num_train_epochs``/``max_steps`` (Hugging Face);
* is shortened, only when a budget asks, by those same settings.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import inspect
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..logs.aliases import canonical_name
from .capture import LENGTH_RANKS

if TYPE_CHECKING:
    from .capture import Capture

LIGHTNING_TRAINERS = ("lightning.pytorch.trainer.trainer", "pytorch_lightning.trainer.trainer")
HF_TRAINER = "transformers.trainer"
LIGHTNING_DEFAULT_EPOCHS = 1000
"""Lightning trains 1000 epochs when neither ``max_epochs`` nor ``max_steps`` is set."""


class _PatchingLoader(importlib.abc.Loader):
    """A module's own loader, then ``patch(module)``; everything else is the original loader's."""

    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]):
        self.loader, self.patch = loader, patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.patch(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Runs ``patches[name](module)`` right after the module ``name`` is first imported."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]):
        self.patches = patches

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        patch = self.patches.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


def install(capture: Capture) -> None:
    """Wrap the ``Trainer`` classes as their modules load (see the module docstring)."""
    patches: dict[str, Callable[[ModuleType], None]] = {
        name: functools.partial(_patch_lightning, capture) for name in LIGHTNING_TRAINERS}
    patches[HF_TRAINER] = functools.partial(_patch_hf, capture)
    sys.meta_path.insert(0, _PatchOnImport(patches))


def _log_path(capture: Capture, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"regadvisor-{name}-"))
    capture.framework_log = folder / "metrics.jsonl"
    return capture.framework_log


def _validation(metrics: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(validation loss, validation accuracy) among a framework's logged metrics."""
    found: dict[str, float] = {}
    for key, value in metrics.items():
        name = canonical_name(str(key)).canonical
        if name in ("val_loss", "val_acc") and name not in found:
            try:
                found[name] = float(value)
            except (TypeError, ValueError):
                continue
    return found.get("val_loss"), found.get("val_acc")


# ---------------------------------------------------------------------------------------------
# Lightning


def _patch_lightning(capture: Capture, module: ModuleType) -> None:
    trainer_cls = module.Trainer
    original = trainer_cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **_lightning_kwargs(capture, kwargs))

    trainer_cls.__init__ = __init__


def _lightning_kwargs(capture: Capture, kwargs: dict[str, Any]) -> dict[str, Any]:
    capture.framework = "lightning"
    kwargs = dict(kwargs)
    max_epochs, max_steps = kwargs.get("max_epochs"), kwargs.get("max_steps") or -1
    if max_steps > 0 and max_epochs is None:
        capture.set_length({"steps": int(max_steps)}, f"Trainer(max_steps={max_steps})", LENGTH_RANKS["trainer"])
    elif max_epochs is not None and max_epochs > 0:
        capture.set_length({"epochs": int(max_epochs)}, f"Trainer(max_epochs={max_epochs})", LENGTH_RANKS["trainer"])
    elif max_epochs is None:
        capture.set_length({"epochs": LIGHTNING_DEFAULT_EPOCHS}, "Lightning's default max_epochs",
                           LENGTH_RANKS["trainer"])
    budget = capture.budget
    if budget["steps"] is not None and not 0 < max_steps <= budget["steps"]:
        kwargs["max_steps"] = budget["steps"]
    if budget["epochs"] is not None and (max_epochs is None or max_epochs < 0 or max_epochs > budget["epochs"]):
        kwargs["max_epochs"] = budget["epochs"]
    callbacks = kwargs.get("callbacks")
    callbacks = [] if callbacks is None else list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    kwargs["callbacks"] = [*callbacks, _lightning_callback(capture)]
    return kwargs


class _ReadByTheProbe:
    """For regadvisor's callbacks inside a probed script: the probe reads their log, so at the end
    they close it and print no report of their own."""

    _log: Any

    def _finish(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _lightning_callback(capture: Capture) -> Any:
    from ..integrations.lightning import RegadvisorCallback

    class ProbeCallback(_ReadByTheProbe, RegadvisorCallback):
        """regadvisor's callback, judging each validation run for the probe."""

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            super().on_train_start(trainer, pl_module)
            if self._log is not None:
                capture.framework_facts.update(self._log.facts)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            super().on_validation_end(trainer, pl_module)
            if trainer.sanity_checking:
                return
            loss, acc = _validation(trainer.callback_metrics)
            if loss is not None or acc is not None:
                capture.evaluation(loss, acc)
            if capture.stop_reason:
                trainer.should_stop = True

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            if capture.stop_reason:
                trainer.should_stop = True

    return ProbeCallback(_log_path(capture, "lightning"), print_report=False)


# ---------------------------------------------------------------------------------------------
# Hugging Face


def _patch_hf(capture: Capture, module: ModuleType) -> None:
    trainer_cls = module.Trainer
    original = trainer_cls.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        capture.framework = "transformers"
        bound = signature.bind_partial(self, *args, **kwargs)
        callbacks = list(bound.arguments.get("callbacks") or [])
        bound.arguments["callbacks"] = [*callbacks, _hf_callback(capture)]
        original(*bound.args, **bound.kwargs)
        _hf_length(capture, self.args)

    trainer_cls.__init__ = __init__


def _hf_length(capture: Capture, args: Any) -> None:
    epochs, steps = getattr(args, "num_train_epochs", None), getattr(args, "max_steps", -1) or -1
    if steps > 0:
        capture.set_length({"steps": int(steps)}, f"TrainingArguments(max_steps={steps})", LENGTH_RANKS["trainer"])
    elif isinstance(epochs, (int, float)) and epochs >= 1 and float(epochs).is_integer():
        capture.set_length({"epochs": int(epochs)}, f"TrainingArguments(num_train_epochs={epochs:g})",
                           LENGTH_RANKS["trainer"])
    budget = capture.budget
    if budget["steps"] is not None and not 0 < steps <= budget["steps"]:
        args.max_steps = budget["steps"]
    if budget["epochs"] is not None and (epochs is None or epochs > budget["epochs"]):
        args.num_train_epochs = budget["epochs"]


def _hf_callback(capture: Capture) -> Any:
    from ..integrations.huggingface import RegadvisorTrainerCallback

    class ProbeCallback(_ReadByTheProbe, RegadvisorTrainerCallback):
        """regadvisor's callback, judging each evaluation for the probe."""

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                           train_dataloader: Any = None, **kwargs: Any) -> None:
            super().on_train_begin(args, state, control, model=model, optimizer=optimizer,
                                   train_dataloader=train_dataloader, **kwargs)
            if self._log is not None:
                capture.framework_facts.update(self._log.facts)
            if state.max_steps and state.max_steps > 0:
                capture.set_length({"steps": int(state.max_steps)}, f"the Trainer's {state.max_steps} steps",
                                   LENGTH_RANKS["trainer"])

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
            super().on_evaluate(args, state, control, metrics=metrics, **kwargs)
            loss, acc = _validation(metrics or {})
            if loss is not None or acc is not None:
                capture.evaluation(loss, acc)
            if capture.stop_reason:
                control.should_training_stop = True

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if capture.stop_reason:
                control.should_training_stop = True

    return ProbeCallback(_log_path(capture, "transformers"), print_report=False)
