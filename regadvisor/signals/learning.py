"""Is the model learning at all, and is it learning enough?

Chance level anchors both questions when the number of classes is known: a classifier that
predicts the uniform distribution over K classes has cross-entropy ln K and accuracy 1/K.
"""

from __future__ import annotations

import math
from typing import Any

from ..numbers import is_number
from . import stats
from .registry import SignalContext, provides


def _num_classes(facts: dict[str, Any]) -> int | None:
    """The class count when it is a usable one: a NaN, an infinity or a 4,000-digit integer from a
    hand-edited config is no count (and would overflow ``1 / K``)."""
    k = facts.get("num_classes")
    return int(k) if is_number(k) and 2 <= k < 2**53 else None


def _change_z(values: list[float], tenth: int) -> float | None:
    """(mean(last tenth) − mean(first tenth)) / (σ·√(2/n)), σ the curve's point-to-point noise
    (:func:`stats.noise_sigma`); capped at ±1e6 for noiseless curves."""
    sigma = stats.noise_sigma(stats.bucket_means(values, 2000))
    if sigma is None:
        return None
    delta = stats.mean(values[-tenth:]) - stats.mean(values[:tenth])
    se = sigma * math.sqrt(2 / tenth)
    if se == 0:
        return 0.0 if delta == 0 else math.copysign(1e6, delta)
    return max(-1e6, min(1e6, delta / se))


@provides({
    "train_points": "Finite training-loss points logged.",
    "train_loss_rel_change": "Relative change of the training loss from the first to the last 10% of the run "
                             "(means of each); −0.5 = halved, ~0 = flat.",
    "train_loss_change_z": "That change in standard errors of the difference of the two means, the noise σ "
                           "taken from second differences of the whole curve (so the trend inside a tenth is not "
                           "counted as noise): a flat curve is one whose change is within its noise, whatever its "
                           "size. None below 8 points.",
    "num_classes": "Number of classes, from the hyperparameters or the probe.",
    "chance_loss": "Cross-entropy of a uniform guess, ln K (needs num_classes).",
    "train_loss_over_chance": "Final training loss over chance_loss: near 1 means it learned nothing.",
    "val_loss_over_chance": "Final validation loss over chance_loss.",
    "chance_acc": "Accuracy of a uniform guess, 1/K.",
    "val_acc_best_over_chance": "Best validation accuracy minus chance accuracy (fraction).",
})
def learning_signals(ctx: SignalContext) -> dict[str, Any]:
    run = ctx.run
    out: dict[str, Any] = {}
    k = _num_classes(run.facts)
    if k:
        out["num_classes"] = k
        out["chance_loss"] = math.log(k)
        out["chance_acc"] = 1.0 / k
    train = run.get("train_loss")
    if train is not None:
        values = [v for v in train.values if math.isfinite(v)]
        out["train_points"] = len(values)
        if len(values) >= 4:
            tenth = max(1, len(values) // 10)
            start = sum(values[:tenth]) / tenth
            end = sum(values[-tenth:]) / tenth
            if start > 0:
                out["train_loss_rel_change"] = (end - start) / start
            out["train_loss_change_z"] = _change_z(values, tenth)
            if k:
                out["train_loss_over_chance"] = end / math.log(k)
    val = run.get("val_loss")
    if val is not None and k:
        finite = [v for v in val.values if math.isfinite(v)]
        if finite:
            out["val_loss_over_chance"] = finite[-1] / math.log(k)
    val_acc = run.get("val_acc")
    if val_acc is not None and k:
        values = [v for v in val_acc.values if math.isfinite(v)]
        if values:
            out["val_acc_best_over_chance"] = max(values) - 1.0 / k
    return out


