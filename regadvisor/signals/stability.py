"""Divergence, loss spikes and gradient-norm health.

A spike is a training-loss point far above its neighbourhood: at least ``spike_ratio`` times
the mean of the ``spike_half_window`` points on either side (the point itself excluded), and
more than ``spike_sigmas`` robust standard deviations of such residuals above it (signal
parameters, see ``STABILITY_PARAMS``). A local
reference follows the curve's trend, so the high losses at the start of training are not
spikes; the ratio floor keeps ordinary mini-batch noise (hard batches at 2× the loss) from
counting. Prefix sums keep the cost linear for million-step logs.
"""

from __future__ import annotations

import math
from typing import Any

from ..numbers import is_number
from . import stats
from .registry import SignalContext, SignalParam, provides

STABILITY_PARAMS = (
    SignalParam("spike_ratio", 3.0, "A loss spike is at least this many times its neighbourhood's mean.", "spikes"),
    SignalParam("spike_sigmas", 10.0, "A loss spike is also more than this many robust standard deviations "
                "(of every point's residual from its neighbourhood) above that mean.", "spikes"),
    SignalParam("spike_half_window", 10, "The neighbourhood: this many points on either side.", "spikes"),
    SignalParam("lr_reduction", 10.0, "suggested_lr_lower is the peak learning rate divided by this.", "lr-step"),
)
_MAD_SAMPLE = 100_000


def _nonfinite(values) -> int:
    return sum(1 for v in values if not math.isfinite(v))


def count_spikes(values: list[float], ratio: float, sigmas: float, half_window: int) -> tuple[int, float]:
    """Number of spikes and the largest spike as a ratio to its neighbourhood's mean (module docstring)."""
    n, h = len(values), int(half_window)
    prefix = [0.0]
    for v in values:
        prefix.append(prefix[-1] + v)
    local = []
    for i in range(n):
        lo, hi = max(0, i - h), min(n, i + h + 1)
        local.append((prefix[hi] - prefix[lo] - values[i]) / (hi - lo - 1))
    residuals = [v - m for v, m in zip(values, local)]
    sample = residuals[:: max(1, n // _MAD_SAMPLE)]
    sigma = stats.MAD_TO_SIGMA * stats.mad(sample)
    spikes, worst = 0, 1.0
    for v, m, r in zip(values, local, residuals):
        if m > 0 and v >= ratio * m and r > sigmas * sigma:
            spikes += 1
            worst = max(worst, v / m)
    return spikes, worst


@provides({
    "nonfinite_loss_count": "NaN or infinite values in the training and validation loss.",
    "first_nonfinite_step": "Step (or index) of the first NaN/inf loss.",
    "train_loss_explosion": "Training loss at the end (smoothed over ~5% of the run, at least 3 points) over its "
                            "lowest logged value; ≫ 1 means the run blew up after it had been learning. The low is "
                            "not smoothed: averaging a three-point jump into its neighbours hid divergences.",
    "train_loss_progress_lost": "How much of the drop from the start to the lowest loss the end gave back: "
                                "(end − low) / (start − low); 1 = back where it started. Tells a blow-up from a "
                                "near-zero loss that wobbles (0.0003 → 0.002 is ×7 yet loses nothing).",
    "train_loss_rise_z": "The end's rise above the lowest training loss in noise standard deviations of the "
                         "curve (second-difference noise): a per-step loss of batch 4 wanders by a good part of "
                         "its level, so its lowest single step is not a low the run left behind.",
    "loss_spike_count": "Training-loss spikes (see module docstring).",
    "loss_spike_max_ratio": "Largest spike over its neighbourhood's mean.",
    "grad_norm_median": "Median logged global gradient norm.",
    "grad_norm_p90": "90th percentile of the logged gradient norm: a data-driven clipping threshold.",
    "grad_norm_max": "Largest logged gradient norm.",
    "grad_norm_spike_ratio": "Largest over median gradient norm; above ~10 the update size is dominated by rare "
                             "batches, which clipping at 1.0 tames (Pascanu et al. 2013, ICML).",
    "grad_norm_nonfinite": "NaN/inf gradient norms logged: an fp16 overflow or a diverging step (the HF "
                           "Trainer logs them as NaN/inf; mixed-precision scalers skip such steps).",
    "learning_rate_peak": "The largest logged learning rate (the configured one, before any decay schedule), "
                          "else the learning rate from the hyperparameters.",
    "learning_rate_all_zero": "True when a learning rate was logged and every logged value is 0: the optimizer "
                              "never moved the weights.",
    "suggested_lr_lower": "The peak learning rate divided by lr_reduction (10): the usual first step after "
                          "divergence.",
}, STABILITY_PARAMS)
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
            buckets = stats.bucket_means(values, 400)
            # ~5% of the run: a fixed 21-point window over a 60-point log averaged a three-point
            # jump from 1.4 to 37 into its neighbours and hid the divergence.
            window = max(3, len(buckets) // 20) | 1
            smooth = stats.running_mean(buckets, window)
            low, start, end = min(values), smooth[0], smooth[-1]
            out["train_loss_explosion"] = end / low if low > 0 else None
            out["train_loss_progress_lost"] = (end - low) / (start - low) if start > low else math.inf
            sigma = stats.noise_sigma(values)  # of single steps, as the low is a single step
            out["train_loss_rise_z"] = (end - low) / sigma if sigma else None
            out["loss_spike_count"], out["loss_spike_max_ratio"] = count_spikes(
                values, ctx.param("spike_ratio"), ctx.param("spike_sigmas"), ctx.param("spike_half_window"))
    grad = run.get("grad_norm")
    if grad is not None:
        finite = [v for v in grad.values if math.isfinite(v)]
        out["grad_norm_nonfinite"] = len(grad.values) - len(finite)
        if finite:
            med = stats.median(finite)
            out["grad_norm_median"] = med
            out["grad_norm_p90"] = stats.quantile(finite, 0.9)
            out["grad_norm_max"] = max(finite)
            out["grad_norm_spike_ratio"] = max(finite) / med if med > 0 else None
    lr = run.get("learning_rate")
    peak: float | None = None
    if lr is not None:
        finite = [v for v in lr.values if math.isfinite(v)]
        peak = max(finite) if finite else None
        out["learning_rate_all_zero"] = peak is not None and peak <= 0
    fact = run.facts.get("learning_rate")
    if peak is None and is_number(fact) and abs(fact) < 1e300:
        peak = float(fact)  # (a 4,000-digit integer from a hand-edited config is no learning rate)
    if peak:
        out["learning_rate_peak"] = peak
        out["suggested_lr_lower"] = float(f"{peak / ctx.param('lr_reduction'):.3g}")
    return out
