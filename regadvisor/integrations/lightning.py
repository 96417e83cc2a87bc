"""A Lightning callback that records what regadvisor needs and reports when ``fit`` ends.

>>> from regadvisor.integrations.lightning import RegadvisorCallback     # doctest: +SKIP
>>> trainer = L.Trainer(max_epochs=20, callbacks=[RegadvisorCallback()])  # doctest: +SKIP
>>> trainer.fit(model, train_loader, val_loader)                          # doctest: +SKIP
>>> trainer.callbacks[-1].report.verdict                                   # doctest: +SKIP

What it records (see :mod:`regadvisor.integrations._runlog` for the files):

- every training batch: the loss ``training_step`` returned (``train_loss``), and at every
  optimizer step the global gradient norm before clipping (``grad_norm``, computed in
  ``on_before_optimizer_step``, where Lightning has already unscaled AMP gradients: the same
  quantity ``clip_grad_norm_`` and Hugging Face's ``grad_norm`` report) and the first parameter
  group's learning rate (``lr``);
- after every validation run (not the sanity check): the validation metrics the module logged
  (``val_loss``, ``val_acc``, ``valid/loss`` ... any name whose split is validation or test);
- at every training epoch's end: the epoch-level training metrics the module logged
  (``train_acc``, ``train_loss_epoch``): the accuracy gap needs ``train_acc``;
- as facts: optimizer class, learning rate, weight decay (and whether it is Adam's coupled L2 or
  lands on biases and norm weights), dropout (largest ``p`` of the model's dropout modules),
  normalization layers, parameter count, batch size (first batch), training-set size,
  ``max_epochs``, gradient clipping, and the module's ``hparams``.

Metrics logged only per step (``*_step``) are not copied at epoch boundaries: their value
there is the last batch's, not the epoch's. Name validation metrics with their split
(``val_acc``, not ``acc``) so they are told apart from training ones.

Only global rank zero writes and reports. Lightning is imported from ``lightning`` (or the
older ``pytorch_lightning``) here and nowhere else in regadvisor.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

try:
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover - the pre-2.0 package name
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError as exc:
        raise ImportError("regadvisor.integrations.lightning needs Lightning: "
                          "pip install 'regadvisor[lightning]'") from exc

from ..logs.aliases import canonical_name
from ..numbers import is_number
from ._runlog import (
    LogSession,
    RegadvisorCheckFailed,
    dataset_size,
    global_grad_norm,
)

__all__ = ["RegadvisorCallback", "RegadvisorCheckFailed"]

_OWN_KEYS = {"train_loss", "grad_norm", "lr", "step", "epoch"}


def _scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Logged metrics that are single numbers (0-d tensors stay tensors until the log flushes)."""
    out = {}
    for key, value in metrics.items():
        if hasattr(value, "numel"):
            if value.numel() == 1:
                out[key] = value.detach()
        elif is_number(value):
            out[key] = value
    return out


def _split(name: str) -> str | None:
    canonical = canonical_name(name).canonical
    head = canonical.split("_", 1)[0]
    return head if head in ("train", "val", "test") and "_" in canonical else None


class RegadvisorCallback(LogSession, pl.Callback):
    """Record a regadvisor log while Lightning trains, and print regadvisor's report after ``fit``.

    Args:
        path: where to write the JSON Lines log (``hparams.yaml`` goes beside it, so give the
            run a folder of its own). Default: ``<default_root_dir>/regadvisor_logs/version_N/
            metrics.jsonl``, N counting up like Lightning's own loggers.
        print_report: print the terminal report to stdout when ``fit`` ends (rank zero).
        fail_on: ``"info"``, ``"warning"`` or ``"error"``: raise :class:`RegadvisorCheckFailed`
            from ``trainer.fit`` when a finding at or above it fired. Default ``None``: never
            raise; the report is advice.
        flush_every: write the log to disk every this many optimizer steps (and after every
            validation): the cost is one device synchronisation per flush.
        stream: where to print (default ``sys.stdout``).

    After ``fit``, :attr:`report` holds the :class:`regadvisor.model.Report` (None when nothing
    could be judged) and :attr:`log_path` the log's path.
    """

    def __init__(self, path: str | Path | None = None, *, print_report: bool = True, fail_on: str | None = None,
                 flush_every: int = 20, stream: TextIO | None = None):
        super().__init__()
        self._configure(path, print_report, fail_on, flush_every, stream)
        self._grad_norm: Any = None
        self._lr: float | None = None

    # -- setup ------------------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._start(Path(trainer.default_root_dir), self._facts(trainer, pl_module))

    def _facts(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        from ..probe import inspect as insp

        facts: dict[str, Any] = {"framework": "lightning"}
        optimizers = list(trainer.optimizers)
        if optimizers:
            opt = optimizers[0]
            facts.update(insp.optimizer_facts(getattr(opt, "optimizer", opt), pl_module))
            facts["optimizer_class"] = type(getattr(opt, "optimizer", opt)).__name__
        try:
            model = insp.model_facts(pl_module)
        except Exception:  # noqa: BLE001 - facts are a bonus; a model inspect cannot walk costs only them
            model = {}
        facts.update({k: v for k, v in model.items() if not isinstance(v, (list, dict))})
        if "max_dropout" in model:
            facts["dropout"] = model["max_dropout"]
            kinds = model.get("normalization_layers") or []
            facts["normalization"] = kinds[0] if len(kinds) == 1 else ("none" if not kinds else "mixed")
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            facts["max_epochs"] = trainer.max_epochs
        if trainer.gradient_clip_val and (trainer.gradient_clip_algorithm or "norm") == "norm":
            facts["grad_clip_norm"] = float(trainer.gradient_clip_val)
        if trainer.accumulate_grad_batches and trainer.accumulate_grad_batches > 1:
            facts["accumulate_grad_batches"] = trainer.accumulate_grad_batches
        loader = trainer.train_dataloader
        dataset = getattr(loader, "dataset", None)
        batch_size = getattr(loader, "batch_size", None)
        if batch_size:
            facts["batch_size"] = int(batch_size)
        n = dataset_size(dataset)
        if n:
            facts["num_train_examples"] = n
            if model.get("num_trainable_parameters"):
                facts["params_per_example"] = model["num_trainable_parameters"] / n
        hparams = getattr(pl_module, "hparams", None)
        if isinstance(hparams, Mapping):
            facts.update({k: v for k, v in dict(hparams).items() if k not in facts})
        return facts

    # -- training steps -----------------------------------------------------------------------
    def on_train_batch_start(self, trainer, pl_module, batch: Any, batch_idx: int) -> None:
        if self._log is not None and "batch_size" not in self._log.facts:
            from ..probe.inspect import batch_size_of

            size = batch_size_of(batch[0] if isinstance(batch, (list, tuple)) and batch else batch)
            if size:
                self._log.add_facts({"batch_size": size})

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._log is None:
            return
        self._grad_norm = global_grad_norm(pl_module.parameters())
        groups = getattr(optimizer, "param_groups", None) or []
        lr = groups[0].get("lr") if groups else None
        if lr is None or hasattr(lr, "detach"):
            self._lr = None if lr is None else lr.detach()  # a tensor learning rate: read when flushed
        else:
            self._lr = float(lr)

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._log is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is not None and not hasattr(loss, "detach") and not isinstance(loss, (int, float)):
            loss = None
        record = {"step": trainer.global_step, "epoch": trainer.current_epoch,
                  "train_loss": loss.detach() if loss is not None and hasattr(loss, "detach") else loss,
                  "grad_norm": self._grad_norm, "lr": self._lr}
        self._grad_norm = self._lr = None
        if record["train_loss"] is not None or record["grad_norm"] is not None:
            self._log.add(record)

    # -- evaluations and epochs -----------------------------------------------------------------
    def on_validation_end(self, trainer, pl_module) -> None:
        if self._log is None or trainer.sanity_checking:
            return
        metrics = {k: v for k, v in _scalar_metrics(trainer.callback_metrics).items()
                   if k not in _OWN_KEYS and not k.endswith("_step") and _split(k) in ("val", "test")}
        if metrics:
            self._log.add({"step": trainer.global_step, "epoch": trainer.current_epoch, **metrics}, flush=True)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._log is None:
            return
        metrics = {k: v for k, v in _scalar_metrics(trainer.callback_metrics).items()
                   if k not in _OWN_KEYS and not k.endswith("_step") and _split(k) == "train"}
        if metrics:
            self._log.add({"step": trainer.global_step, "epoch": trainer.current_epoch, **metrics})
        self._log.flush()

    # -- the end --------------------------------------------------------------------------------
    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self._log is not None:
            self._log.close()

    def on_fit_end(self, trainer, pl_module) -> None:
        self._finish()
