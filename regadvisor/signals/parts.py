"""The parts of a summed validation loss, judged one by one.

Ultralytics YOLO logs its box, class and DFL losses separately, and they can move in opposite
directions: in one run box +13% and dfl +11% while cls fell 24%, so their sum looked flat while
localisation overfitted. Each validation part is measured as the monitored curve is (its best
point, how far it ends above it, against its own noise) with its training counterpart aligned
to it; the part that rose most is reported.
"""

from __future__ import annotations

from typing import Any

from .curves import describe_position, finite_curve, rise_after_best
from .gap import align
from .registry import SignalContext, provides


@provides({
    "val_loss_part": "The validation loss component (YOLO's val/box_loss, val/cls_loss, ...) that ends furthest "
                     "above its best, relative to it; None when the log has no loss components.",
    "val_loss_part_worsening_rel": "How far that component ends above its best, relative to it (median of its last "
                                   "three points after the best).",
    "val_loss_part_worsening_z": "That rise in units of the component's own noise σ; None below 8 points.",
    "val_loss_part_evals_since_best": "Evaluations logged after that component's best.",
    "val_loss_part_n_evaluations": "Finite points of that component.",
    "val_loss_part_train_change": "Relative change of the matching training component from that best to the end "
                                  "(negative = still falling, the overfitting signature).",
    "val_loss_part_best_position": "Where that component was best, in words.",
})
def part_signals(ctx: SignalContext) -> dict[str, Any]:
    run = ctx.run
    worst: dict[str, Any] = {}
    for name, series in sorted(run.series.items()):
        if series.part_of != "val_loss" or name != series.name:
            continue
        curve = finite_curve(series)
        if len(curve) < 2:
            continue
        rise = rise_after_best(curve.values)
        if worst and rise.relative <= worst["val_loss_part_worsening_rel"]:
            continue
        train = run.get("train_" + name[len("val_"):])
        aligned = align(train, curve) if train is not None else []
        at_best, end = (aligned[rise.best_index], aligned[-1]) if aligned else (None, None)
        worst = {
            "val_loss_part": series.original_name or name,
            "val_loss_part_worsening_rel": rise.relative,
            "val_loss_part_worsening_z": rise.z,
            "val_loss_part_evals_since_best": len(curve) - 1 - rise.best_index,
            "val_loss_part_n_evaluations": len(curve),
            "val_loss_part_train_change": (end - at_best) / at_best if at_best and end is not None else None,
            "val_loss_part_best_position": describe_position(curve, rise.best_index),
        }
    return worst
