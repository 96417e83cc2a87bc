"""A transformers ``TrainerCallback`` that records what regadvisor needs and reports when training ends.

>>> from regadvisor.integrations.huggingface import RegadvisorTrainerCallback   # doctest: +SKIP
>>> trainer = Trainer(model, args, train_dataset=train, eval_dataset=val,
...                   callbacks=[RegadvisorTrainerCallback()])                   # doctest: +SKIP
>>> trainer.train()                                                               # doctest: +SKIP

What it records (see :mod:`regadvisor.integrations._runlog` for the files):

- every ``Trainer.log`` call (``on_log``): ``loss`` (the mean over the last ``logging_steps``
  steps), ``grad_norm`` (the global norm before clipping, as ``Trainer`` computes it),
  ``learning_rate`` and every ``eval_*`` metric, under the names ``Trainer`` used, with
  ``step`` = ``state.global_step`` and the fractional ``epoch``. Throughput and runtime numbers
  and the end-of-training summary are left out: they are not evidence about learning. The log
  is flushed after every evaluation (``on_evaluate``).
- as facts, from ``TrainingArguments``: ``learning_rate``, ``weight_decay``,
  ``per_device_train_batch_size``, ``gradient_accumulation_steps``, ``num_train_epochs``,
  ``max_grad_norm``, ``label_smoothing_factor``, ``warmup_*``, ``lr_scheduler_type``; from
  the model config: ``hidden_dropout_prob``, ``attention_probs_dropout_prob``, ``dropout``,
  ``num_labels``, ...; from the optimizer the Trainer built: its class, weight decay and
  whether decay lands on biases and norm weights; from the model: layer and parameter facts.

``Trainer`` logs every ``logging_steps`` (500 by default): for short runs set it low enough
that the training curve has points between evaluations, and evaluate every epoch or every
``eval_steps`` (``eval_strategy``) so that there is a validation curve to judge.

Only the world's main process writes and reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover
    raise ImportError("regadvisor.integrations.huggingface needs transformers: "
                      "pip install 'regadvisor[huggingface]'") from exc

from ..numbers import is_number
from ._runlog import (
    LogSession,
    RegadvisorCheckFailed,
    dataset_size,
)

__all__ = ["RegadvisorCheckFailed", "RegadvisorTrainerCallback"]

_ARG_FACTS = ("learning_rate", "weight_decay", "per_device_train_batch_size", "gradient_accumulation_steps",
              "num_train_epochs", "max_steps", "max_grad_norm", "label_smoothing_factor", "warmup_ratio",
              "warmup_steps", "lr_scheduler_type", "optim", "seed", "fp16", "bf16")
_CONFIG_FACTS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "dropout",
                 "attention_dropout", "activation_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
                 "num_labels", "model_type", "problem_type")
_SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"}
_SKIP_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second", "total_flos", "num_input_tokens_seen")


class RegadvisorTrainerCallback(LogSession, TrainerCallback):
    """Record a regadvisor log while ``Trainer`` trains, and print regadvisor's report at the end.

    Args:
        path: where to write the JSON Lines log (``hparams.yaml`` goes beside it, so give the
            run a folder of its own). Default: ``<output_dir>/regadvisor_logs/version_N/
            metrics.jsonl``.
        print_report: print the terminal report to stdout when training ends (main process).
        fail_on: ``"info"``, ``"warning"`` or ``"error"``: raise :class:`RegadvisorCheckFailed`
            from ``trainer.train()`` when a finding at or above it fired. Default ``None``:
            never raise.
        flush_every: write the log to disk every this many ``Trainer.log`` calls (and after
            every evaluation).
        stream: where to print (default ``sys.stdout``).

    After training, :attr:`report` holds the :class:`regadvisor.model.Report` (None when nothing
    could be judged) and :attr:`log_path` the log's path.
    """

    def __init__(self, path: str | Path | None = None, *, print_report: bool = True, fail_on: str | None = None,
                 flush_every: int = 20, stream: TextIO | None = None):
        self._configure(path, print_report, fail_on, flush_every, stream)

    def on_train_begin(self, args, state, control, model=None, optimizer=None, train_dataloader=None, **kwargs):
        if not state.is_world_process_zero:
            return
        self._start(Path(args.output_dir or "."), self._facts(args, model, optimizer, train_dataloader))

    @staticmethod
    def _facts(args, model, optimizer, train_dataloader) -> dict[str, Any]:
        facts: dict[str, Any] = {"framework": "transformers"}
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the torch optimizer
        if model is not None and inner is not None and hasattr(inner, "param_groups"):
            from ..probe.inspect import optimizer_facts

            try:
                facts.update(optimizer_facts(inner, model))
                facts["optimizer_class"] = type(inner).__name__
            except Exception:  # noqa: BLE001, S110 - facts are a bonus, never a reason to stop training
                pass
        for name in _ARG_FACTS:
            value = getattr(args, name, None)
            if name in ("optim", "lr_scheduler_type") and value is not None:
                value = getattr(value, "value", value)
            if value is not None and not (name == "max_steps" and value <= 0):
                facts.setdefault(name, value)
        if args.world_size and args.world_size > 1:
            facts["world_size"] = args.world_size
        config = getattr(model, "config", None)
        for name in _CONFIG_FACTS:
            value = getattr(config, name, None) if config is not None else None
            if value is not None:
                facts.setdefault(name, value)
        if config is not None and getattr(config, "hidden_dropout_prob", None) is not None:
            facts.setdefault("dropout", config.hidden_dropout_prob)
        if model is not None:
            from ..probe.inspect import model_facts

            try:
                found = model_facts(model)
            except Exception:  # noqa: BLE001
                found = {}
            facts.update({k: v for k, v in found.items()
                          if not isinstance(v, (list, dict)) and k not in facts and k != "residual_evidence"})
            facts.setdefault("dropout", found.get("max_dropout"))
        dataset = getattr(train_dataloader, "dataset", None)
        n = dataset_size(dataset)
        if n:
            facts["num_train_examples"] = n
        facts["batch_size"] = args.per_device_train_batch_size
        return facts

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._log is None or not logs:
            return
        if any(key in logs for key in ("train_runtime", "total_flos")):
            return  # the end-of-training summary: train_loss here is a whole-run mean, not a point
        record: dict[str, Any] = {"step": state.global_step, "epoch": logs.get("epoch", state.epoch)}
        for key, value in logs.items():
            if key in ("step", "epoch") or key.endswith(_SKIP_SUFFIXES) or key in _SUMMARY_KEYS:
                continue
            if is_number(value):
                record[key] = value
            elif hasattr(value, "numel") and value.numel() == 1:
                record[key] = value.detach()
        if len(record) > 2:
            self._log.add(record, flush=any(key.startswith("eval_") for key in record))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self._log is not None:
            self._log.flush()

    def on_train_end(self, args, state, control, **kwargs):
        self._finish()
