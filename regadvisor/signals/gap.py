"""The generalization gap: training against validation performance at the same point in time.

Training metrics are logged per step and validation metrics per evaluation, so training values
are first aligned to evaluations: the mean of the training points logged since the previous
evaluation (by step, else by epoch, else by relative position). The gap is measured at the
best validation point and at the end; its growth between the two says whether it is still
widening (Goodfellow, Bengio & Courville 2016, *Deep Learning*, §7.8: the validation curve's
U-shape against a still-falling training curve).
"""

from __future__ import annotations

import math
from typing import Any

from ..model import Series
from .curves import Curve, finite_curve, monitored
from .registry import SignalContext, provides


def align(train: Series, evals: Curve) -> list[float | None]:
    """Training values aligned to each evaluation point (None where nothing can be aligned)."""
    t = finite_curve(train)
    if not len(t) or not len(evals):
        return [None] * len(evals)
    for key in ("steps", "epochs"):
        tx, ex = getattr(t, key), getattr(evals, key)
        if all(not math.isnan(x) for x in tx) and all(not math.isnan(x) for x in ex):
            return _align_on(t.values, tx, ex)
    if len(t) == len(evals):
        return list(t.values)
    n = len(t)
    return [t.values[min(n - 1, round((i + 1) * n / len(evals)) - 1)] for i in range(len(evals))]


def _align_on(values: list[float], tx: list[float], ex: list[float]) -> list[float | None]:
    out: list[float | None] = []
    j, prev = 0, -math.inf
    n = len(values)
    for x in ex:
        lo = j
        while j < n and tx[j] <= x:
            j += 1
        window = [v for v, p in zip(values[lo:j], tx[lo:j]) if p > prev]
        if window:
            out.append(sum(window) / len(window))
        else:
            out.append(values[j - 1] if j else None)
        prev = x
    return out


def _at(xs: list[float | None], i: int) -> float | None:
    return xs[i] if 0 <= i < len(xs) else None


@provides({
    "train_loss_at_best": "Training loss aligned to the best validation point.",
    "train_loss_end": "Training loss aligned to the last validation point.",
    "train_loss_change_since_best": "Relative change of the aligned training loss from the best validation "
                                    "point to the end (negative = still falling, the overfitting signature).",
    "loss_gap_end": "Validation minus training loss at the last evaluation.",
    "loss_gap_ratio_end": "Validation over training loss at the last evaluation.",
    "loss_gap_ratio_at_best": "Validation over training loss at the best evaluation.",
    "train_acc_end": "Training accuracy (fraction) aligned to the last evaluation.",
    "val_acc_end": "Validation accuracy (fraction) at the last evaluation.",
    "val_acc_best": "Best validation accuracy (fraction).",
    "acc_gap_end": "Train − validation accuracy at the last evaluation, as a fraction (0.12 = 12 points); "
                   "the quantity the gap rules OF003–OF005 band by size.",
    "acc_gap_at_best": "Train − validation accuracy at the best validation-accuracy point.",
    "acc_gap_growth": "How much the accuracy gap widened from the best validation point to the end (fraction).",
    "val_acc_drop_from_best": "Best minus final validation accuracy (fraction): what training on past the best cost.",
    "train_acc_basis": "How training accuracy was measured: 'eval-mode' (the probe: no dropout, running norm "
                       "statistics) or 'as-logged' (a log: often in train mode, with dropout and augmentation on).",
    "label_noise_cause": "What a training accuracy below validation accuracy points to, given train_acc_basis: "
                         "noisy training labels, or regularization active while training accuracy is measured.",
    "gap_basis": "'accuracy' when train and validation accuracy are both logged, 'loss' when only losses are "
                 "(Hugging Face logs, for one, carry no training accuracy), else None.",
})
def gap_signals(ctx: SignalContext) -> dict[str, Any]:
    run = ctx.run
    out: dict[str, Any] = {}
    found = monitored(run)
    # The probe also records the training loss in eval mode on a fixed subset (train_eval_loss):
    # measured like val_loss, without dropout, it is the like-for-like partner of the gap.
    train_loss, val_loss = run.get("train_eval_loss") or run.get("train_loss"), run.get("val_loss")
    if train_loss is not None and val_loss is not None:
        vl = finite_curve(val_loss)
        tl = align(train_loss, vl)
        best_i = ctx.get("best_index") if found and found[0] == "val_loss" else None
        end = _at(tl, len(vl) - 1)
        out["train_loss_end"] = end
        if end is not None and len(vl):
            out["loss_gap_end"] = vl.values[-1] - end
            out["loss_gap_ratio_end"] = vl.values[-1] / end if end > 0 else None
        if best_i is not None:
            at_best = _at(tl, best_i)
            out["train_loss_at_best"] = at_best
            if at_best is not None and end is not None and at_best > 0:
                out["train_loss_change_since_best"] = (end - at_best) / at_best
                out["loss_gap_ratio_at_best"] = vl.values[best_i] / at_best
    train_acc, val_acc = run.get("train_acc"), run.get("val_acc")
    if val_acc is not None:
        va = finite_curve(val_acc)
        if len(va):
            out["val_acc_end"] = va.values[-1]
            best_acc_i = max(range(len(va)), key=va.values.__getitem__)
            out["val_acc_best"] = va.values[best_acc_i]
            out["val_acc_drop_from_best"] = va.values[best_acc_i] - va.values[-1]
            if train_acc is not None:
                ta = align(train_acc, va)
                end = _at(ta, len(va) - 1)
                at_best = _at(ta, best_acc_i)
                out["train_acc_end"] = end
                if end is not None:
                    out["acc_gap_end"] = end - va.values[-1]
                if at_best is not None:
                    out["acc_gap_at_best"] = at_best - va.values[best_acc_i]
                if end is not None and at_best is not None:
                    out["acc_gap_growth"] = out["acc_gap_end"] - out["acc_gap_at_best"]
    if train_acc is not None:
        out.update(_train_acc_basis(run.format == "probe"))
    if "acc_gap_end" in out:
        out["gap_basis"] = "accuracy"
    elif "loss_gap_end" in out:
        out["gap_basis"] = "loss"
    return out


def _train_acc_basis(probe: bool) -> dict[str, str]:
    """Why training accuracy can sit *below* validation accuracy, for this way of measuring it.

    The probe scores training batches in eval mode, like validation, so only the labels can
    make the training split score lower: noisy labels that the model has not (yet) memorized
    (Arpit et al. 2017, "A Closer Look at Memorization in Deep Networks": clean patterns are
    learned before noise). A log's training accuracy is usually the running train-mode value,
    measured with dropout, augmentation or mixup on, which lowers it as well.
    """
    if probe:
        return {"train_acc_basis": "eval-mode",
                "label_noise_cause": "noisy training labels (the probe measures training accuracy in eval mode, "
                                     "so dropout is not the cause)"}
    return {"train_acc_basis": "as-logged",
            "label_noise_cause": "noisy training labels, or regularization active while training accuracy is "
                                 "measured (dropout, augmentation or mixup in train mode)"}
