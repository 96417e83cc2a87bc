"""The validation curve: where it is best, whether it rose after, how noisy it is.

The *monitored* metric is validation loss when logged, else validation accuracy, else another
validation score where higher is better (detection mAP, which Ultralytics itself selects its best
checkpoint by, or a regression R²). All measurements are on evaluation points (one per validation
pass), oriented so that lower is better (scores are negated internally), and reported back in the
metric's own terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..logs.aliases import HIGHER_IS_BETTER
from ..model import Run, Series
from ..numbers import finite_or_none
from . import stats
from .registry import SignalContext, SignalParam, provides


@dataclass(frozen=True)
class Curve:
    """Finite evaluation points of one series: values, steps and epochs (NaN when unknown)."""

    name: str
    values: list[float]
    steps: list[float]
    epochs: list[float]

    def __len__(self) -> int:
        return len(self.values)

    def position(self, i: int) -> tuple[float, float]:
        return self.steps[i], self.epochs[i]


def finite_curve(series: Series) -> Curve:
    keep = [i for i, v in enumerate(series.values) if math.isfinite(v)]
    return Curve(series.name, [series.values[i] for i in keep], [series.steps[i] for i in keep],
                 [series.epochs[i] for i in keep])


MONITORS = ("val_loss", "val_acc", "val_map", "val_r2")
"""The validation metrics a run can be judged by, in order of preference."""


def lower_is_better(name: str) -> bool:
    """Losses fall as a model improves; accuracy, mAP and R² rise (see ``aliases.HIGHER_IS_BETTER``)."""
    return not name.endswith(HIGHER_IS_BETTER)


def monitored(run: Run) -> tuple[str, Curve] | None:
    """The validation metric to judge the run by: the first of ``MONITORS`` logged."""
    for name in MONITORS:
        series = run.get(name)
        if series is not None:
            curve = finite_curve(series)
            if len(curve):
                return name, curve
    return None


def _z_score(delta: float, sigma: float | None) -> float | None:
    """``delta / sigma``, finite even for a noiseless curve (capped at 1e6)."""
    if sigma is None:
        return None
    if sigma <= 0:
        return 0.0 if delta <= 0 else 1e6
    return min(delta / sigma, 1e6)


@dataclass(frozen=True)
class Rise:
    """How far a curve (oriented so lower is better) ends above its best point."""

    best_index: int
    best: float
    worsening: float  # median of the last three points after the best, minus the best (0 when none)
    sigma: float | None  # the curve's point-to-point noise (stats.noise_sigma); None below 8 points

    @property
    def relative(self) -> float:
        return self.worsening / (abs(self.best) or 1.0)

    @property
    def z(self) -> float | None:
        return _z_score(self.worsening, self.sigma)


def rise_after_best(oriented: list[float]) -> Rise:
    """The best point of ``oriented`` and how far the curve ends above it, in its own units and
    in units of its noise (the median of the last three points, so one noisy point does not count)."""
    best_i = min(range(len(oriented)), key=oriented.__getitem__)
    tail = oriented[best_i + 1:][-3:]
    worsening = (stats.median(tail) - oriented[best_i]) if tail else 0.0
    return Rise(best_i, oriented[best_i], worsening, stats.noise_sigma(stats.bucket_means(oriented, 400)))


def describe_position(curve: Curve, i: int) -> str:
    """A point's place in words, using whatever the log recorded."""
    step, epoch = curve.position(i)
    parts = []
    if not math.isnan(epoch):
        parts.append(f"epoch {round(epoch, 2):g}")  # a mid-epoch evaluation: "epoch 2.78", not 2.78125
    if not math.isnan(step):
        parts.append(f"step {step:g}")
    if not parts:
        return f"evaluation {i + 1} of {len(curve)}"
    return parts[0] + (f" ({parts[1]})" if len(parts) > 1 else "")


def evaluation_unit(curve: Curve) -> str:
    """'epochs' when there is one evaluation per whole epoch, else 'evaluations'."""
    epochs = [e for e in curve.epochs if not math.isnan(e)]
    if len(epochs) == len(curve) and len(epochs) >= 2:
        diffs = {round(b - a, 6) for a, b in zip(epochs, epochs[1:])}
        if diffs == {1.0} or diffs == {1}:
            return "epochs"
    return "evaluations"


CURVE_PARAMS = (
    SignalParam("confidence_medium_from", 8, "Evaluations from which data_confidence is 'medium' rather than "
                "'low'.", "data-confidence"),
    SignalParam("confidence_high_from", 20, "Evaluations from which data_confidence is 'high'.", "data-confidence"),
    SignalParam("patience_margin", 1.5, "suggested_patience is this many times the patience that would just "
                "have reached the best evaluation.", "patience-margin"),
    SignalParam("patience_min", 3, "The smallest patience suggested (evaluations).", "patience-margin"),
    SignalParam("patience_max", 20, "The largest patience suggested (evaluations).", "patience-margin"),
    SignalParam("still_improving_within", 2, "val_still_improving holds when the best evaluation is one of the "
                "last this many.", "recent-best"),
)


def longest_wait_before_best(oriented: list[float], min_delta: float) -> int:
    """The longest run of evaluations without an improvement before the best one.

    Walks the curve as an early stopper would (an improvement must beat the best so far by
    ``min_delta``); one more than this is the smallest patience that still reaches the best.
    """
    best_i = min(range(len(oriented)), key=oriented.__getitem__)
    best, since, longest = oriented[0], 0, 0
    for v in oriented[1: best_i + 1]:
        if v < best - min_delta:
            best, since = v, 0
        else:
            since += 1
            longest = max(longest, since)
    return longest


def suggested_patience(longest_wait: int, margin: float, floor: int, cap: int) -> int:
    """The patience to suggest: ``margin`` times the one that would just have reached the best
    (``longest_wait + 1``), within ``[floor, cap]`` (the ``patience_*`` signal parameters)."""
    return int(min(cap, max(floor, math.ceil(margin * (longest_wait + 1)))))


def data_confidence(n_evaluations: int, medium_from: int, high_from: int) -> str:
    """How far a curve of ``n_evaluations`` points supports a verdict: 'low', 'medium' or 'high'."""
    if n_evaluations < medium_from:
        return "low"
    return "medium" if n_evaluations < high_from else "high"


@provides({
    "monitor": "Which validation metric the run is judged by: 'val_loss' when logged, else 'val_acc', else "
               "'val_map' (detection mAP50-95) or 'val_r2'.",
    "n_evaluations": "Number of finite validation points of the monitored metric.",
    "data_confidence": "How far the curve's length supports a verdict: 'low' below confidence_medium_from "
                       "evaluations (8), 'medium' below confidence_high_from (20), else 'high'; it caps the "
                       "verdict's confidence.",
    "evaluation_unit": "'epochs' when validation ran once per epoch, else 'evaluations' (the unit of patience).",
    "best_index": "0-based index of the best validation point (lowest loss, highest accuracy or score).",
    "best_step": "Training step of the best validation point (None when the log has no steps).",
    "best_epoch": "Epoch of the best validation point (None when the log has no epochs).",
    "best_value": "The monitored metric's best value.",
    "final_value": "The monitored metric's last value.",
    "best_position": "Where the best point is, in words: 'epoch 4 (step 6875)', or 'evaluation 3 of 5'.",
    "evals_since_best": "Validation points logged after the best one.",
    "val_noise_rel": "Noise σ of the validation curve relative to its best value, from second "
                     "differences (see stats.noise_sigma); None below 8 points.",
    "val_worsening_rel": "How much worse the monitored metric ends than its best, relative to the best "
                         "(median of the last three points after the best, so one noisy point does not count).",
    "val_worsening_z": "That worsening in units of the curve's noise σ; None when σ cannot be estimated.",
    "val_post_best_trend": "Kendall's τ of the points after the best (oriented so +1 = steadily worse); "
                           "None with fewer than 3 such points (Mann 1945 trend test).",
    "onset_step": "Step where overfitting sets in: the minimum of the 3-point smoothed validation curve.",
    "onset_epoch": "Epoch of that onset.",
    "suggested_patience": "Early-stopping patience (in evaluation_unit) that would have reached this run's "
                          "best evaluation, times patience_margin (1.5), within patience_min–patience_max (3–20).",
    "longest_wait_before_best": "Longest run of evaluations without an improvement before the best one.",
    "suggested_min_delta": "Minimum improvement an early stopper should require: the curve's noise σ.",
    "val_still_improving": "True when the best validation point is one of the last still_improving_within (2) "
                           "evaluations.",
}, CURVE_PARAMS)
def curve_signals(ctx: SignalContext) -> dict[str, Any]:
    found = monitored(ctx.run)
    if found is None:
        return {"n_evaluations": 0}
    name, curve = found
    n = len(curve)
    sign = 1.0 if lower_is_better(name) else -1.0
    oriented = [sign * v for v in curve.values]
    rise = rise_after_best(oriented)
    best_i, sigma = rise.best_index, rise.sigma
    smooth = stats.running_mean(oriented, 3)
    onset_i = min(range(n), key=smooth.__getitem__)
    post = oriented[best_i + 1:]
    longest = longest_wait_before_best(oriented, sigma or 0.0)
    patience = suggested_patience(longest, ctx.param("patience_margin"), ctx.param("patience_min"),
                                  ctx.param("patience_max"))
    return {
        "monitor": name,
        "n_evaluations": n,
        "data_confidence": data_confidence(n, ctx.param("confidence_medium_from"), ctx.param("confidence_high_from")),
        "evaluation_unit": evaluation_unit(curve),
        "best_index": best_i,
        "best_step": finite_or_none(curve.steps[best_i]),
        "best_epoch": finite_or_none(curve.epochs[best_i]),
        "best_value": curve.values[best_i],
        "final_value": curve.values[-1],
        "best_position": describe_position(curve, best_i),
        "evals_since_best": n - 1 - best_i,
        "val_noise_rel": None if sigma is None else sigma / (abs(rise.best) or 1.0),
        "val_worsening_rel": rise.relative,
        "val_worsening_z": rise.z,
        "val_post_best_trend": stats.kendall_tau(stats.bucket_means(post)),
        "onset_step": finite_or_none(curve.steps[onset_i]),
        "onset_epoch": finite_or_none(curve.epochs[onset_i]),
        "suggested_patience": patience,
        "longest_wait_before_best": longest,
        "suggested_min_delta": sigma,
        "val_still_improving": best_i >= n - ctx.param("still_improving_within"),
    }


def _listed(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@provides({
    "missing_data": "What the log lacks for a verdict, in words, when it has no validation curve: no values yet "
                    "(a header only), no loss or accuracy (only names regadvisor does not know), only a final test "
                    "result, or no validation metric at all; None when a validation curve was logged.",
})
def data_signals(ctx: SignalContext) -> dict[str, Any]:
    run = ctx.run
    if monitored(run) is not None:
        return {}
    logged = {k: s for k, s in run.series.items() if len(s)}
    names = sorted(s.original_name or k for k, s in (logged or run.series).items())
    if not logged:
        what = f"the log names {_listed(names)} but holds no values yet" if names else "the log holds no values"
    elif any(k in logged for k in MONITORS):
        what = "the validation metric holds no finite value"
    elif not any(k.endswith(("_loss", "_acc")) for k in logged):
        what = (f"no loss or accuracy metric regadvisor knows; the log holds {_listed(names)} "
                "(name yours with --metric val_loss=NAME)")
    elif tests := [k for k in ("test_loss", "test_acc") if k in logged]:
        final = ", ".join(f"{logged[k].original_name or k} {logged[k].values[-1]:.4g}" for k in tests)
        what = f"only a final test result ({final}), nothing logged over the training"
    else:
        what = f"no validation metric; the log holds only {_listed(names)}"
    return {"missing_data": what}
