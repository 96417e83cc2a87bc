"""One table from the many spellings of a metric to regadvisor's canonical names.

Canonical names are ``<split>_<metric>`` with split in ``train``/``val``/``test`` and metric in
``loss``/``acc``/``r2``, plus ``val_map`` (detection mAP), ``grad_norm`` and ``learning_rate``.
Spellings are normalised first (lower case; ``/``, ``-``, ``.``, spaces → ``_``; a trailing
``_epoch``/``_step`` noted and dropped), then split and metric words are looked up. Names that
match nothing keep their normalised spelling, so ``val_f1`` stays ``val_f1`` and is still
available to rules.

A regression run logs its error as the loss (Keras ``loss: 0.4 - mae: 0.5``, or ``mse`` alone):
``mse``/``mae``/``rmse`` stand in for the loss when nothing is called loss, and a name that says
``loss`` wins over them when both are logged (:attr:`MetricName.stand_in`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

CANONICAL = (
    "train_loss", "val_loss", "test_loss",
    "train_acc", "val_acc", "test_acc",
    "train_r2", "val_r2", "test_r2", "val_map",
    "grad_norm", "learning_rate",
)
HIGHER_IS_BETTER = ("_acc", "_r2", "_map", "_map50", "_precision", "_recall", "_f1")
"""Suffixes of the canonical metrics where a larger value is better; every other (the losses) is lower-is-better."""

_SPLIT_WORDS = {
    "train": "train", "training": "train", "tr": "train", "trn": "train",
    "val": "val", "valid": "val", "validation": "val", "eval": "val", "evaluation": "val",
    "dev": "val", "v": "val", "te": "val",
    "test": "test", "testing": "test",
}
_METRIC_WORDS = {
    "loss": "loss", "l": "loss", "ce": "loss", "nll": "loss", "xent": "loss", "cross_entropy": "loss", "cost": "loss",
    "acc": "acc", "accuracy": "acc", "top1": "acc", "top1_acc": "acc", "acc1": "acc",
    "categorical_accuracy": "acc", "sparse_categorical_accuracy": "acc", "binary_accuracy": "acc",
    "r2": "r2", "r2_score": "r2", "r_squared": "r2", "rsquared": "r2", "coefficient_of_determination": "r2",
}
# Regression errors, read as the loss when no name says loss (see the module docstring).
_STAND_IN = {
    "mse": "loss", "mae": "loss", "rmse": "loss", "mean_squared_error": "loss", "mean_absolute_error": "loss",
    "root_mean_squared_error": "loss",
}
_WHOLE = {
    # Keras and HF write the training metric without a split word.
    "loss": "train_loss", "cost": "train_loss", "acc": "train_acc", "accuracy": "train_acc",
    "sparse_categorical_accuracy": "train_acc", "categorical_accuracy": "train_acc",
    "binary_accuracy": "train_acc",
    # llm.c / modded-nanogpt stdout: trl = train loss, tel = test (held-out) loss used as validation.
    "trl": "train_loss", "tel": "val_loss",
    "grad_norm": "grad_norm", "gradient_norm": "grad_norm", "gnorm": "grad_norm", "norm": "grad_norm",
    "grad_norm_2_0_norm_total": "grad_norm", "grad_2_0_norm_total": "grad_norm", "total_norm": "grad_norm",
    "lr": "learning_rate", "learning_rate": "learning_rate", "lr_0": "learning_rate",
    "lr_pg0": "learning_rate", "lr_adam": "learning_rate", "lr_adamw": "learning_rate",
    "lr_sgd": "learning_rate", "lr0": "learning_rate", "x_lr0": "learning_rate",
    # YOLO results.csv: the reader sums the box/cls/dfl training losses; mAP50-95 is its validation score.
    "metrics_precision_b": "val_precision", "metrics_recall_b": "val_recall",
    "metrics_map50_95_b": "val_map", "metrics_map50_b": "val_map50",
}
_GRANULARITY = re.compile(r"_(epoch|step)$")


def normalise(raw: str) -> str:
    """Lower-case a metric spelling and turn its separators into underscores."""
    text = raw.strip().lower()
    text = re.sub(r"[\s/\-.:()\[\]]+", "_", text)
    text = re.sub(r"_+", "_", text).strip("_")
    return text


@dataclass(frozen=True)
class MetricName:
    """A raw metric name resolved: its canonical name and the granularity it was logged at."""

    raw: str
    canonical: str
    granularity: str | None  # "epoch", "step" or None when the name does not say
    stand_in: bool = False  # a regression error (mse, mae, rmse) read as the loss

    @property
    def is_known(self) -> bool:
        return self.canonical in CANONICAL


def canonical_name(raw: str, user_map: dict[str, str] | None = None) -> MetricName:
    """Resolve ``raw`` to a canonical metric name.

    ``user_map`` maps canonical names to the user's spelling (``--metric val_acc=my_acc``) and
    wins over the built-in table.
    """
    if user_map:
        for canonical, spelling in user_map.items():
            if raw == spelling or normalise(raw) == normalise(spelling):
                return MetricName(raw, canonical, None)
    text = normalise(raw)
    granularity = None
    m = _GRANULARITY.search(text)
    if m and text not in _WHOLE:
        granularity = m.group(1)
        text = text[: m.start()]
    if text in _WHOLE:
        return MetricName(raw, _WHOLE[text], granularity)
    if _METRIC_WORDS.get(text) == "r2" or text in _STAND_IN:  # Keras: a metric without a split is training's
        return MetricName(raw, f"train_{_METRIC_WORDS.get(text) or _STAND_IN[text]}", granularity,
                          stand_in=text in _STAND_IN)
    words = text.split("_")
    for split_at in (0, -1):  # split word first (val_loss) or last (loss_val)
        split = _SPLIT_WORDS.get(words[split_at])
        rest = "_".join(words[1:] if split_at == 0 else words[:-1])
        if split and rest in _METRIC_WORDS:
            return MetricName(raw, f"{split}_{_METRIC_WORDS[rest]}", granularity)
        if split and rest in _STAND_IN:
            return MetricName(raw, f"{split}_{_STAND_IN[rest]}", granularity, stand_in=True)
    # Keras' TensorBoard callback puts the granularity first (epoch_loss, batch_loss) and the
    # split in a folder (validation/epoch_loss); drop that word when what remains is known.
    for at in (0, 1):
        if len(words) > at + 1 and words[at] in ("epoch", "batch", "step") and (at == 0 or words[0] in _SPLIT_WORDS):
            inner = canonical_name("_".join(words[:at] + words[at + 1:]))
            if inner.is_known:
                return MetricName(raw, inner.canonical, granularity or ("epoch" if words[at] == "epoch" else "step"))
    if words[0] in _SPLIT_WORDS and len(words) > 1:
        # val_f1 → val_f1, validation_top5 → val_top5: keep the metric, canonicalise the split.
        return MetricName(raw, f"{_SPLIT_WORDS[words[0]]}_{'_'.join(words[1:])}", granularity)
    return MetricName(raw, text, granularity)


def parse_metric_map(pairs: list[str] | None) -> dict[str, str]:
    """Parse ``--metric canonical=spelling`` options into a map, rejecting unknown names."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--metric {pair!r} is not of the form NAME=COLUMN",
                              source="--metric", hint="e.g. --metric val_acc=my_val_accuracy")
        canonical, spelling = (p.strip() for p in pair.split("=", 1))
        if canonical not in CANONICAL:
            raise ConfigError(f"unknown metric name {canonical!r}", source="--metric",
                              hint=f"use one of {', '.join(CANONICAL)}")
        if not spelling:
            raise ConfigError(f"--metric {pair!r} names no column", source="--metric")
        out[canonical] = spelling
    return out
