"""Signals on generated curves: noise must not read as overfitting; a steady climb must."""

from __future__ import annotations

import math
import random

import pytest

from regadvisor.api import analyze, load_ruleset
from regadvisor.model import Run, Series
from regadvisor.signals import stats
from regadvisor.errors import RuleError
from regadvisor.signals.curves import data_confidence, longest_wait_before_best, suggested_patience
from regadvisor.signals.gap import align
from regadvisor.signals.registry import SignalContext, param_defaults, signal_params
from regadvisor.signals.stability import count_spikes

DEFAULTS = param_defaults()
SPIKES = {"ratio": DEFAULTS["spike_ratio"], "sigmas": DEFAULTS["spike_sigmas"],
          "half_window": DEFAULTS["spike_half_window"]}

RULES = load_ruleset()


def _run(train, val, *, val_acc=None, train_acc=None, per_epoch=True):
    n = len(val)
    steps_per_epoch = max(1, len(train) // n)
    series = {"train_loss": Series.from_points("train_loss", train, steps=range(1, len(train) + 1))}
    epochs = list(range(n)) if per_epoch else None
    val_steps = [(i + 1) * steps_per_epoch for i in range(n)]
    series["val_loss"] = Series.from_points("val_loss", val, steps=val_steps, epochs=epochs)
    if val_acc is not None:
        series["val_acc"] = Series.from_points("val_acc", val_acc, steps=val_steps, epochs=epochs)
    if train_acc is not None:
        series["train_acc"] = Series.from_points("train_acc", train_acc, steps=val_steps, epochs=epochs)
    return Run("generated", "test", series)


def _train_curve(n_epochs, steps=20, start=2.0, end=0.1, seed=0):
    rng = random.Random(seed)
    total = n_epochs * steps
    return [end + (start - end) * math.exp(-4 * i / total) * (1 + 0.05 * rng.uniform(-1, 1)) for i in range(total)]


@pytest.mark.parametrize("seed", range(10))
def test_validation_wobbling_within_noise_is_healthy(seed):
    rng = random.Random(seed)
    # Falls to 0.5 by epoch 10, then wobbles ±3% around it for 30 epochs: no overfitting.
    val = [0.5 + 1.5 * math.exp(-i / 3) for i in range(10)] + [0.5 * (1 + 0.03 * rng.uniform(-1, 1)) for _ in range(30)]
    report = analyze(_run(_train_curve(40, seed=seed), val), RULES)
    assert report.verdict == "healthy", [(f.rule_id, f.message) for f in report.fired()]


@pytest.mark.parametrize("seed", range(10))
def test_steady_climb_with_falling_training_loss_is_overfitting(seed):
    rng = random.Random(seed)
    # Minimum 0.5 at epoch 10, then climbs 1.5% per epoch with ±2% noise.
    val = [0.5 + 1.5 * math.exp(-i / 3) for i in range(10)]
    val += [0.5 * (1 + 0.015 * k) * (1 + 0.02 * rng.uniform(-1, 1)) for k in range(1, 31)]
    report = analyze(_run(_train_curve(40, seed=seed), val), RULES)
    assert report.verdict == "overfitting"
    assert "OF001" in {f.rule_id for f in report.fired()}
    assert 8 <= report.signals["best_index"] <= 14


def test_rising_training_and_validation_loss_is_unstable_not_overfitting():
    train = [1.0 - 0.008 * i for i in range(100)] + [0.2 * 1.06 ** i for i in range(100)]
    val = [1.0 - 0.08 * i for i in range(10)] + [0.3 * 1.6 ** i for i in range(1, 11)]
    report = analyze(_run(train, val), RULES)
    assert report.verdict == "unstable"
    assert "OF001" not in {f.rule_id for f in report.fired()}


def test_nan_loss_is_unstable_with_clipping_advice():
    train = _train_curve(10)
    train[120:] = [float("nan")] * (len(train) - 120)
    val = [1.0, 0.8, 0.7, 0.6, 0.55, 0.5, float("nan"), float("nan"), float("nan"), float("nan")]
    report = analyze(_run(train, val), RULES)
    assert report.verdict == "unstable"
    assert report.signals["first_nonfinite_step"] == 121
    assert any(r.knob == "grad_clip_norm" and r.value == 1.0 for r in report.recommendations)


def test_accuracy_gap_table_is_refined_by_growth():
    n = 20
    val = [1.0 - 0.03 * i for i in range(n)]  # still improving: no val-loss signal
    train_acc = [0.60 + 0.017 * i for i in range(n)]
    stable = [a - 0.07 for a in train_acc]  # 7-point gap, constant, validation still improving
    report = analyze(_run(_train_curve(n), val, val_acc=stable, train_acc=train_acc), RULES)
    assert report.verdict == "healthy", "a stable moderate gap under improving validation needs no action"
    widening = [a - 0.03 - 0.0025 * i for i, a in enumerate(train_acc)]  # 3 → 7.75 points
    widening[-1] = widening[-2] - 0.001  # validation accuracy just stalled
    report = analyze(_run(_train_curve(n), val, val_acc=widening, train_acc=train_acc), RULES)
    assert "OF004" in {f.rule_id for f in report.fired()}  # advice for the widening gap ...
    assert report.verdict == "healthy"  # ... but validation loss still improves: not overfitting yet


def test_underfitting_recommends_less_regularization():
    n = 15
    acc = [0.4 + 0.01 * i for i in range(n)]
    run = _run(_train_curve(n, start=2.3, end=1.6), [2.0 - 0.01 * i for i in range(n)], val_acc=acc,
               train_acc=[a + 0.01 for a in acc])
    run.facts["dropout"] = 0.5
    report = analyze(run, RULES)
    assert report.verdict == "underfitting"
    dropout = next(r for r in report.recommendations if r.knob == "dropout")
    assert dropout.value < dropout.current == 0.5


def test_percent_accuracies_are_scaled():
    n = 12
    val_acc = [60 + i for i in range(n)]
    train_acc = [75 + 2 * i for i in range(n)]
    report = analyze(_run(_train_curve(n), [1 - 0.01 * i for i in range(n)], val_acc=val_acc, train_acc=train_acc), RULES)
    assert report.signals["acc_gap_end"] == pytest.approx(0.26)
    assert report.signals["val_acc_best"] == pytest.approx(0.71)


def test_a_run_holds_accuracies_as_fractions_scaled_once():
    shared = Series.from_points("eval_g0_accuracy", [50.0, math.nan, 93.2])
    run = Run("x", "test", {
        "val_acc": shared, "val_g0_acc": shared,  # one series under two names (a promoted evaluation set)
        "train_acc_epoch": Series.from_points("train_acc_epoch", [40.0, 80.0]),
        "train_acc": Series.from_points("train_acc", [0.4, 0.8]),
        "val_loss": Series.from_points("val_loss", [2.5, 1.5]),
    })
    assert list(run.series["val_acc"].values)[::2] == [0.5, pytest.approx(0.932)]
    assert math.isnan(run.series["val_acc"].values[1])
    assert list(run.series["train_acc_epoch"].values) == [0.4, 0.8]
    assert list(run.series["train_acc"].values) == [0.4, 0.8]  # already fractions: untouched
    assert list(run.series["val_loss"].values) == [2.5, 1.5]  # a loss above 1 is not a percentage


def test_noise_sigma_recovers_known_noise():
    rng = random.Random(1)
    xs = [1.0 - 0.001 * i + rng.gauss(0, 0.01) for i in range(400)]
    assert stats.noise_sigma(xs) == pytest.approx(0.01, rel=0.15)
    assert stats.noise_sigma(xs[:7]) is None


def test_kendall_tau_extremes():
    assert stats.kendall_tau([1, 2, 3, 4]) == 1.0
    assert stats.kendall_tau([4, 3, 2, 1]) == -1.0
    assert stats.kendall_tau([1, 2]) is None


def test_suggested_patience_covers_the_longest_wait_before_the_best():
    # Improvements at 0, 1, then a 4-evaluation plateau, then the best at index 6.
    oriented = [1.0, 0.9, 0.95, 0.92, 0.93, 0.91, 0.8, 0.85, 0.9]
    assert longest_wait_before_best(oriented, min_delta=0.0) == 4
    assert longest_wait_before_best(oriented, min_delta=0.2) == 6  # no point beats the first by 0.2
    assert suggested_patience(4, margin=1.5, floor=3, cap=20) == 8  # ceil(1.5 × 5)
    assert suggested_patience(0, margin=1.5, floor=3, cap=20) == 3
    assert suggested_patience(40, margin=1.5, floor=3, cap=20) == 20
    assert suggested_patience(4, margin=1.0, floor=3, cap=6) == 5


def test_data_confidence_cut_offs():
    assert [data_confidence(n, 8, 20) for n in (3, 7, 8, 19, 20)] == ["low", "low", "medium", "medium", "high"]


def _spiky_run(n=400):
    run = Run("generated", "test")
    values = [1.0 + 0.05 * math.sin(i) for i in range(n)]
    for i in (100, 200, 300):
        values[i] = 3.5  # 3.5x the neighbourhood: spikes at the default ratio of 3, not at 4
    run.series["train_loss"] = Series.from_points("train_loss", values, steps=range(1, n + 1))
    run.series["learning_rate"] = Series.from_points("learning_rate", [0.02] * n, steps=range(1, n + 1))
    return run


def test_signal_parameters_change_what_the_signals_decide():
    run = _spiky_run()
    assert SignalContext(run).get("loss_spike_count") == 3
    assert SignalContext(run, {"spike_ratio": 4.0}).get("loss_spike_count") == 0
    assert SignalContext(run).get("suggested_lr_lower") == 0.002
    assert SignalContext(run, {"lr_reduction": 4.0}).get("suggested_lr_lower") == 0.005
    short = _run(_train_curve(10), [1.0, 0.9, 0.8, 0.7, 0.65, 0.6, 0.58, 0.57, 0.56, 0.55])
    assert SignalContext(short).get("data_confidence") == "medium"
    assert SignalContext(short, {"confidence_medium_from": 12}).get("data_confidence") == "low"
    with pytest.raises(KeyError, match="unknown signal parameter"):
        SignalContext(run, {"spike_ration": 4.0})


def test_signal_parameters_are_overridden_like_rule_parameters():
    run = _spiky_run()
    assert analyze(run, load_ruleset(select_rules=["DV003"])).signals["loss_spike_count"] == 3
    tuned = load_ruleset(select_rules=["DV003"], params={"signals.spike_ratio": "4"})
    assert tuned.signal_params() == {"spike_ratio": 4.0}
    report = analyze(run, tuned)
    assert report.signals["loss_spike_count"] == 0 and report.findings[0].status == "passed"
    with pytest.raises(RuleError, match="signals have no parameter 'spike_ration'"):
        load_ruleset(params={"signals.spike_ration": "4"})
    with pytest.raises(RuleError, match="signals.patience_min must be a number"):
        load_ruleset(params={"signals.patience_min": "few"})


def test_every_signal_parameter_is_documented_and_sourced():
    from regadvisor.engine.loader import bibliography

    sources = bibliography()
    for name, param in signal_params().items():
        assert param.doc and param.evidence in sources, name


def test_align_averages_training_points_between_evaluations():
    train = Series.from_points("train_loss", [4, 2, 6, 8], steps=[1, 2, 3, 4])
    val = _run([1, 1], [1.0, 1.0]).series["val_loss"]
    val.steps[0], val.steps[1] = 2.0, 4.0
    from regadvisor.signals.curves import finite_curve
    assert align(train, finite_curve(val)) == [3.0, 7.0]


def test_spikes_are_local_not_the_start_of_training():
    curve = [2.0 * math.exp(-i / 50) + 0.1 for i in range(1000)]
    assert count_spikes(curve, **SPIKES)[0] == 0
    for i in (300, 600, 900):
        curve[i] *= 8
    spikes, worst = count_spikes(curve, **SPIKES)
    assert spikes == 3 and worst > 5


def test_signal_context_computes_only_what_is_asked():
    ctx = SignalContext(_run(_train_curve(5), [1, 0.9, 0.8, 0.85, 0.9]))
    ctx.get("best_index")
    assert "grad_norm_median" not in ctx.computed()
