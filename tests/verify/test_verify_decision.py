"""The verifier on scripted curves (no training): what it keeps, what it costs, and that it
says "no change" when nothing helps beyond noise.

Each scripted run has 20 evaluations of 10 steps. Its validation score rises to a peak at
evaluation ``peak_at`` and then falls by ``fall`` points an evaluation (overfitting); the peak's
height and position depend on the configuration through ``effect``, plus a per-seed offset.
"""

from __future__ import annotations

import random
import zlib

import pytest

from regadvisor.model import Recommendation, Report, Run, Series
from regadvisor.probe import trials as T
from regadvisor.probe.runner import EvaluationPoint
from regadvisor.probe.verify import verify
from regadvisor.render.notes import note_text

EVALS, STEPS = 20, 10


def _scores(config, seed, effect):
    height, peak_at, fall = effect(config)
    rng = random.Random(zlib.crc32(repr((seed, sorted(config.items()))).encode()))
    offset = 0.5 * seed + rng.gauss(0, effect.noise) + effect.luck(config, seed)
    return [height + offset - (peak_at - t) * 2.0 if t < peak_at else height + offset - (t - peak_at) * fall
            for t in range(1, EVALS + 1)]


class Scripted:
    """Stands in for TrialRunner.run: records every call, honours patience and pruning."""

    def __init__(self, effect, not_applied=()):
        self.effect, self.not_applied, self.calls = effect, set(not_applied), []

    def __call__(self, runner, config, seed, *, patience=None, on_evaluation=None, steps=None,
                 stop_past_best=True):
        self.calls.append((dict(config), seed, patience, steps))
        missing = {k: "scripted: cannot apply" for k in config if k in self.not_applied}
        if steps is not None:
            return T.Curve(dict(config), seed, [0.5], [50.0], [steps], steps, "steps", missing)
        scores = _scores(config, seed, self.effect)
        loss, score, at = [], [], []
        stopper = T.EarlyStopping(patience=patience, restore_best=False) if patience else None
        for i, s in enumerate(scores):
            loss.append(1 - s / 100)
            score.append(s)
            at.append(STEPS * (i + 1))
            if stopper is not None and stopper.step(loss[-1]):
                return T.Curve(dict(config), seed, loss, score, at, at[-1], "early-stopping", missing)
            if on_evaluation is not None and on_evaluation(EvaluationPoint(at[-1], i + 1.0, loss[-1], s / 100)):
                return T.Curve(dict(config), seed, loss, score, at, at[-1], "pruned", missing)
            best = max(range(len(score)), key=score.__getitem__)
            if stop_past_best and i - best >= 5 and score[best] - s >= 2:   # the probe's past-best stop, roughly
                return T.Curve(dict(config), seed, loss, score, at, at[-1], "past-best", missing)
        return T.Curve(dict(config), seed, loss, score, at, EVALS * STEPS, "epochs", missing)


def _report(effect, *recs):
    """The probe's report: seed 0 of the baseline, trained as the scripted runner trains it."""
    base = Scripted(effect)(None, {}, 0)
    epochs = [s / STEPS for s in base.eval_steps]
    series = {"val_loss": Series.from_points("val_loss", base.val_loss, base.eval_steps, epochs),
              "val_acc": Series.from_points("val_acc", [s / 100 for s in base.score], base.eval_steps, epochs)}
    facts = {"stop_reason": base.stop_reason, "train_length": {"epochs": EVALS}, "probe_budget": {"epochs": EVALS},
             "probe_steps": base.steps, "probe_epochs": base.steps / STEPS, "steps_per_epoch": STEPS,
             "knobs_requested": {}}
    run = Run("m.py", "probe", series=series, facts=facts)
    return Report(source="m.py", run=run, signals={}, findings=[], recommendations=list(recs),
                  verdict="overfitting", verdict_confidence="medium",
                  tool={"name": "regadvisor", "version": "0", "rules_digest": "sha256:00"})


def _recs():
    return [Recommendation("dropout", 0.3, "r", ["OF003"], [], range=[0.3, 0.6], current=0.0,
                           snippet_template="Dropout(p={value})"),
            Recommendation("weight_decay", 0.05, "r", ["OF003"], [], range=[0.01, 0.1], current=0.0),
            Recommendation("data_augmentation", "flips", "r", ["OF003"], [])]


def effect_fn(fn, noise=0.3, luck=lambda config, seed: 0.0):
    """``fn(config)`` → (peak height, peak position, fall per evaluation); ``noise`` the sd of a
    run's offset; ``luck(config, seed)`` an offset of one configuration on one seed."""
    fn.noise, fn.luck = noise, luck
    return fn


@pytest.fixture
def scripted(monkeypatch):
    def install(effect, not_applied=()):
        s = Scripted(effect, not_applied)
        monkeypatch.setattr(T.TrialRunner, "run", lambda runner, *args, **kwargs: s(runner, *args, **kwargs))
        return s

    return install


def test_a_helpful_joint_configuration_is_kept_with_its_measured_effect(scripted):
    # dropout raises the peak and delays it: strong dropout wins, weight decay does nothing
    effect = effect_fn(lambda c: (80 + 25 * c.get("dropout", 0.0), 5 + 10 * c.get("dropout", 0.0), 1.0))
    s = scripted(effect)
    report = _report(effect, *_recs())
    result = verify("m.py", report, workers=1)
    dropout = next(r for r in report.recommendations if r.knob == "dropout")
    assert dropout.value >= 0.45 and dropout.verified["helps"] and dropout.verified["trials"] == 3
    assert dropout.snippet == f"Dropout(p={dropout.value!r})"
    assert result.effect.helps and result.effect.interval.low > 10
    assert result.over_stopping is not None and result.over_stopping.gain > 5     # more than the stopper alone
    assert any(t.endswith("(preferred: better on average)") for t in map(note_text, report.notes))
    assert result.seeds == [0, 1, 2]
    assert result.trainings <= 6.0 + 1e-9                      # the default budget, probe included
    assert any(sc.pruned for sc in result.screened)              # successive halving did prune
    assert note_text(report.notes[0]).startswith("verified at 20 epochs: ")
    assert "data_augmentation: not verified (advisory only: the probe cannot apply it)" in [note_text(n) for n in report.notes]
    # the same command, the same advice
    again = _report(effect, *_recs())
    assert verify("m.py", again, workers=1).kept == result.kept
    assert len(s.calls) > 10


def test_nothing_beyond_noise_means_no_change(scripted):
    effect = effect_fn(lambda c: (80.0, 19, 0.0), noise=3.0)    # no knob matters; the curve peaks at the end
    scripted(effect)
    report = _report(effect, *_recs())
    result = verify("m.py", report, workers=1)
    assert result.kept == {}
    assert [r.knob for r in report.recommendations] == ["data_augmentation"]
    assert any(n.endswith("nothing measured helped beyond noise") for n in map(note_text, report.notes))


def test_early_stopping_alone_is_measured_on_the_baselines_own_curves(scripted):
    effect = effect_fn(lambda c: (85.0 - 20 * c.get("dropout", 0.0), 4, 1.5), noise=0.1)   # dropout only hurts
    s = scripted(effect)
    report = _report(effect, *_recs())
    result = verify("m.py", report, workers=1)
    assert set(result.kept) == {"early_stopping_patience"}
    stop = report.recommendations[0]
    assert stop.knob == "early_stopping_patience" and stop.verified["helps"] and stop.unit == "evaluations"
    decision = [c for c in s.calls if c[1] != 0]
    assert decision and all(cfg == {} for cfg, *_ in decision)  # only baselines: the stopper is replayed


def test_knobs_that_buy_nothing_over_early_stopping_on_the_decision_seeds_are_dropped(scripted):
    # dropout does nothing, but is 1.2 points luckier on the screening seed: it leads there (more
    # than MIN_GAIN above the stopper alone), and on the three decision seeds buys 0.4 on average
    effect = effect_fn(lambda c: (85.0, 4, 1.5), noise=0.0, luck=lambda c, seed: 1.2 * (seed == 0 and "dropout" in c))
    scripted(effect)
    report = _report(effect, *_recs())
    result = verify("m.py", report, workers=1)
    assert "dropout" in next(s for s in result.screened if s.value == max(x.value for x in result.screened
                                                                             if x.value is not None)).config
    assert set(result.kept) == {"early_stopping_patience"} and result.effect.helps
    assert result.leader is not None and result.leader.config == {}
    assert {r.knob for r in report.recommendations} == {"early_stopping_patience", "data_augmentation"}
    over = result.over_stopping
    assert over is not None and "dropout" in over.changes and 0.0 < over.gain < 0.5 and over.trials == 3
    assert any(t.endswith("against early stopping alone: +0.4 ± 1.7 points val acc over 3 seeds (not kept: early "
                          "stopping alone does as well)") for t in map(note_text, report.notes)), \
        [note_text(n) for n in report.notes]


def test_knobs_the_probe_cannot_apply_are_dropped_after_the_first_trial(scripted):
    effect = effect_fn(lambda c: (80 + 100 * c.get("weight_decay", 0.0), 5, 1.0))
    s = scripted(effect, not_applied={"dropout"})
    report = _report(effect, *_recs())
    result = verify("m.py", report, workers=1)
    assert result.unverified["dropout"].startswith("not measured: scripted")
    first, *rest = [cfg for cfg, *_ in s.calls]
    assert "dropout" in first and rest and all("dropout" not in cfg for cfg in rest)
    assert "weight_decay" in result.kept


def test_a_budget_too_small_for_any_trial_leaves_the_advice_unverified(scripted):
    effect = effect_fn(lambda c: (80 + 25 * c.get("dropout", 0.0), 5, 1.0))
    s = scripted(effect)
    report = _report(effect, *_recs())
    result = verify("m.py", report, budget="1x", workers=1)
    assert all(not cfg for cfg, _, _, steps in s.calls if steps != 1)  # no candidate trained (one step: the check)
    assert set(result.unverified) >= {"dropout", "weight_decay"}
    assert "the budget (1 full trainings) does not hold one screening trial" in result.unverified["dropout"]
    assert {r.knob for r in report.recommendations} >= {"dropout", "weight_decay"}  # kept, unverified
    assert not any(n.kind == "not-kept" for n in report.notes)


def test_a_smaller_budget_is_respected(scripted):
    effect = effect_fn(lambda c: (80 + 25 * c.get("dropout", 0.0), 5, 1.0))
    scripted(effect)
    result = verify("m.py", _report(effect, *_recs()), budget="3x", workers=1)
    assert result.trainings <= 3.0 + 1e-9
    result = verify("m.py", _report(effect, *_recs()), budget="8t", workers=1)
    assert result.trials <= 8


def test_a_change_better_on_every_one_of_three_seeds_is_kept_though_its_interval_spans_zero():
    """small_transformer's measured pairs: +26.2, +18.4 and +1.6 points. The 95% t-interval with
    two degrees of freedom (15.4 ± 31.2) spans zero; three wins out of three are kept."""
    from regadvisor.probe.verify import Effect

    effect = Effect({"dropout": 0.3}, "val_acc points", True, baseline=[64.06, 63.67, 81.25],
                    with_change=[90.23, 82.03, 82.81], seeds=[0, 1, 2])
    assert effect.interval.low < 0 < effect.interval.mean
    assert effect.better_on_every_seed and effect.helps
    assert effect.block()["better_on_every_seed"] is True


def test_winning_every_seed_needs_three_seeds_a_real_gain_and_the_right_direction():
    from regadvisor.probe.verify import Effect

    two = Effect({}, "val_acc points", True, baseline=[60.0, 70.0], with_change=[75.0, 71.0])
    assert not two.better_on_every_seed and not two.helps          # two wins are not enough
    tiny = Effect({}, "val_acc points", True, baseline=[60.0, 70.0, 65.0], with_change=[60.1, 70.1, 65.2])
    assert tiny.better_on_every_seed and not tiny.helps            # below the 0.5-point floor
    mixed = Effect({}, "val_acc points", True, baseline=[60.0, 70.0, 65.0], with_change=[80.0, 69.0, 75.0])
    assert not mixed.better_on_every_seed
    loss = Effect({}, "val_loss", False, baseline=[1.0, 1.2, 0.9], with_change=[0.7, 1.19, 0.6])
    assert loss.better_on_every_seed and loss.helps                # lower is better for a loss
    worse = Effect({}, "val_loss", False, baseline=[1.0, 1.2, 0.9], with_change=[1.1, 1.3, 1.0])
    assert not worse.better_on_every_seed and not worse.helps
