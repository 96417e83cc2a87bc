"""Divergence, loss spikes and gradient-norm health.

A spike is a training-loss point far above its neighbourhood: more than ``SPIKE_MADS`` robust
deviations above the median of its block of ``SPIKE_BLOCK`` points, and at least 50% above
that median, so that a noiseless curve's tiny wiggles do not count. Blocks rather than a
sliding window keep the cost linear for million-step logs.
"""

from __future__ import annotations

import math
from typing import Any

from . import _stats
from .registry import SignalContext, provides

SPIKE_BLOCK = 64
SPIKE_MADS = 10.0


def _nonfinite(values) -> int:
    return sum(1 for v in values if not math.isfinite(v))


def count_spikes(values: list[float]) -> tuple[int, float]:
    """Number of spikes and the largest spike as a ratio to its block median."""
    spikes, worst = 0, 1.0
    for lo in range(0, len(values), SPIKE_BLOCK):
        block = values[lo: lo + SPIKE_BLOCK]
        if len(block) < 8:
            block = values[max(0, len(values) - SPIKE_BLOCK):]
            fresh = values[lo:]
        else:
            fresh = block
        med = _stats.median(block)
        spread = _stats.MAD_TO_SIGMA * _stats.mad(block)
        if med <= 0:
            continue
        limit = max(med + SPIKE_MADS * spread, 1.5 * med)
        for v in fresh:
            if v > limit:
                spikes += 1
                worst = max(worst, v / med)
    return spikes, worst


@provides({
    "nonfinite_loss_count": "NaN or infinite values in the training and validation loss.",
    "first_nonfinite_step": "Step (or index) of the first NaN/inf loss.",
    "train_loss_explosion": "Training loss at the end over its lowest value, both smoothed over ~5% of the "
                            "run; ≫ 1 means the run blew up after it had been learning.",
    "loss_spike_count": "Training-loss spikes (see module docstring).",
    "loss_spike_max_ratio": "Largest spike over its neighbourhood's median.",
    "grad_norm_median": "Median logged global gradient norm.",
    "grad_norm_p90": "90th percentile of the logged gradient norm: a data-driven clipping threshold.",
    "grad_norm_max": "Largest logged gradient norm.",
    "grad_norm_spike_ratio": "Largest over median gradient norm; above ~10 the update size is dominated by rare "
                             "batches, which clipping at 1.0 tames (Pascanu et al. 2013, ICML).",
    "grad_norm_nonfinite": "NaN/inf gradient norms logged.",
    "learning_rate_peak": "The largest logged learning rate (the configured one, before any decay schedule), "
                          "else the learning rate from the hyperparameters.",
    "suggested_lr_lower": "One tenth of the peak learning rate: the usual first step after divergence.",
})
def stability_signals(ctx: SignalContext) -> dict[str, Any]:
    run = ctx.run
    out: dict[str, Any] = {}
    train, val = run.get("train_loss"), run.get("val_loss")
    if train is not None or val is not None:
        out["nonfinite_loss_count"] = sum(_nonfinite(s.values) for s in (train, val) if s is not None)
        for s in (train, val):
            if s is None:
                continue
            for i, v in enumerate(s.values):
                if not math.isfinite(v):
                    step = s.steps[i]
                    out["first_nonfinite_step"] = i if math.isnan(step) else step
                    break
            if "first_nonfinite_step" in out:
                break
    if train is not None:
        values = [v for v in train.values if math.isfinite(v)]
        if len(values) >= 10:
            smooth = _stats.running_mean(_stats.bucket_means(values, 400), 21)
            low = min(smooth)
            out["train_loss_explosion"] = smooth[-1] / low if low > 0 else None
            out["loss_spike_count"], out["loss_spike_max_ratio"] = count_spikes(values)
    grad = run.get("grad_norm")
    if grad is not None:
        finite = [v for v in grad.values if math.isfinite(v)]
        out["grad_norm_nonfinite"] = len(grad.values) - len(finite)
        if finite:
            med = _stats.median(finite)
            out["grad_norm_median"] = med
            out["grad_norm_p90"] = _stats.quantile(finite, 0.9)
            out["grad_norm_max"] = max(finite)
            out["grad_norm_spike_ratio"] = max(finite) / med if med > 0 else None
    lr = run.get("learning_rate")
    peak = None
    if lr is not None:
        finite = [v for v in lr.values if math.isfinite(v)]
        peak = max(finite) if finite else None
    fact = run.facts.get("learning_rate")
    if peak is None and isinstance(fact, (int, float)) and not isinstance(fact, bool):
        peak = float(fact)
    if peak:
        out["learning_rate_peak"] = peak
        out["suggested_lr_lower"] = float(f"{peak / 10:.3g}")
    return out
