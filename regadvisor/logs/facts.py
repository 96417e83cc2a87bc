"""Hyperparameters found beside a log, under the fact names the rules read.

Frameworks spell the same setting many ways (``lr`` in a Lightning ``hparams.yaml``,
``learning_rate`` in HF, ``train_batch_size`` in ``trainer_state.json``, ``hidden_dropout_prob``
in a transformers ``config.json``). Rules read one name per setting, so every reader that finds
hyperparameters passes them through :func:`add_facts`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import LogReadError
from ..safe_yaml import read_yaml

_FACT_NAMES = {
    "lr": "learning_rate", "learning_rate": "learning_rate", "base_lr": "learning_rate", "lr0": "learning_rate",
    "batch_size": "batch_size", "bs": "batch_size", "batch": "batch_size", "train_batch_size": "batch_size",
    "per_device_train_batch_size": "batch_size",
    "weight_decay": "weight_decay", "wd": "weight_decay",
    "dropout": "dropout", "dropout_rate": "dropout", "drop_rate": "dropout", "p_dropout": "dropout",
    "dropout_prob": "dropout", "hidden_dropout_prob": "dropout", "hidden_dropout": "dropout",
    "optimizer": "optimizer", "optim": "optimizer", "optimizer_name": "optimizer",
    "num_classes": "num_classes", "n_classes": "num_classes", "num_labels": "num_classes",
    "nb_classes": "num_classes", "num_class": "num_classes", "n_class": "num_classes",
    "label_smoothing": "label_smoothing", "label_smoothing_factor": "label_smoothing",
    "max_grad_norm": "grad_clip_norm", "gradient_clip_val": "grad_clip_norm", "grad_clip": "grad_clip_norm",
    "max_epochs": "max_epochs", "num_train_epochs": "max_epochs", "epochs": "max_epochs",
}
_NUMERIC = {"learning_rate", "weight_decay", "dropout", "label_smoothing", "grad_clip_norm"}
_INTEGER = {"batch_size", "num_classes", "max_epochs"}


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


_MAX_DEPTH = 16
"""Settings nest a few levels deep (``model.encoder.dropout``); deeper mappings are not read."""


def _flatten(raw: Mapping, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """Nested mappings become dotted keys, shallow keys first so that they win name clashes."""
    shallow, deep = [], []
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if depth < _MAX_DEPTH:
                deep.extend(_flatten(value, name + ".", depth + 1))
        elif _scalar(value):
            shallow.append((name, value))
    return shallow + deep


def _coerce(fact: str, value: Any) -> Any:
    """YAML reads ``1e-3`` as a string (YAML 1.1 needs a dot); numeric facts are made numbers."""
    if isinstance(value, bool) or value is None:
        return value
    if fact in _NUMERIC or fact in _INTEGER:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return value
        return int(number) if fact in _INTEGER and number.is_integer() else number
    if fact == "optimizer" and isinstance(value, str):
        return optimizer_family(value)
    return value


_OPTIMIZER_FAMILIES = ("adamw", "adamax", "adafactor", "adagrad", "adadelta", "adam", "nadam", "radam", "sgd",
                       "rmsprop", "lion", "lamb", "lars", "muon", "sophia", "shampoo")


def optimizer_family(name: str) -> str:
    """``torch.optim.AdamW``, ``AdamW`` and HF's ``adamw_torch_fused`` are one fact: ``adamw``.

    The rules care about the family (does it decouple weight decay?), not the implementation.
    """
    text = name.rsplit(".", 1)[-1].strip().lower()
    for family in _OPTIMIZER_FAMILIES:  # adamw and adamax before adam: longest prefix first
        if text == family or text.startswith(family + "_"):
            return family
    return text


def add_facts(facts: dict[str, Any], raw: Mapping, *, keep_raw: bool = True) -> None:
    """Add hyperparameters from ``raw`` into ``facts``.

    Recognised settings are stored under their fact name (``lr`` → ``learning_rate``); with
    ``keep_raw`` every other scalar is kept under its own (dotted, for nested) key as well, so
    that nothing the log said is lost. Facts already present are not overwritten: the reader
    adds its most specific source first.
    """
    for key, value in _flatten(raw):
        leaf = re.sub(r"[\s\-]+", "_", key.rsplit(".", 1)[-1].strip().lower())
        fact = _FACT_NAMES.get(leaf)
        if fact is not None and value is not None:
            facts.setdefault(fact, _coerce(fact, value))
        if keep_raw and key != fact:
            facts.setdefault(key, value)


def read_yaml_facts(path: Path) -> dict[str, Any]:
    """Load a YAML sidecar such as Lightning's ``hparams.yaml`` as data (see :mod:`regadvisor.safe_yaml`)."""
    data = read_yaml(path, LogReadError)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise LogReadError("hyperparameter file does not hold a mapping of names to values",
                           source=path, hint="fix or remove the file")
    return dict(data)


def add_sidecar_facts(builder: Any, sidecar: Path) -> None:
    """Hyperparameters from a YAML file beside a log (``hparams.yaml``, ``args.yaml``) into a
    :class:`~regadvisor.logs.registry.RunBuilder`; a broken one costs the facts, not the run."""
    if not sidecar.is_file():
        return
    try:
        add_facts(builder.facts, read_yaml_facts(sidecar))
    except LogReadError as exc:
        builder.warn(f"{sidecar.name} ignored: {exc.detail}")
