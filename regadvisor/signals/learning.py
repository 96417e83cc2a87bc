"""Is the model learning at all, and is it learning enough?

Chance level anchors both questions when the number of classes is known: a classifier that
predicts the uniform distribution over K classes has cross-entropy ln K and accuracy 1/K.
"""

from __future__ import annotations

import math
from typing import Any

from .curves import as_fraction
from .registry import SignalContext, provides


def _num_classes(facts: dict[str, Any]) -> int | None:
    k = facts.get("num_classes")
    return int(k) if isinstance(k, (int, float)) and not isinstance(k, bool) and k >= 2 else None


@provides({
    "train_points": "Finite training-loss points logged.",
    "train_loss_rel_change": "Relative change of the training loss from the first to the last 10% of the run "
                             "(means of each); −0.5 = halved, ~0 = flat.",
    "num_classes": "Number of classes, from the hyperparameters or the probe.",
    "chance_loss": "Cross-entropy of a uniform guess, ln K (needs num_classes).",
    "train_loss_over_chance": "Final training loss over chance_loss: near 1 means it learned nothing.",
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
            if k:
                out["train_loss_over_chance"] = end / math.log(k)
    val_acc = run.get("val_acc")
    if val_acc is not None and k:
        values = as_fraction([v for v in val_acc.values if math.isfinite(v)])
        if values:
            out["val_acc_best_over_chance"] = max(values) - 1.0 / k
    return out


