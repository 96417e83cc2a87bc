"""The verifier's plan on scripted trial outcomes (no training): rounds of seeds, early
abandonment, budget cuts, the combination and what ends up in the report."""

from __future__ import annotations

import pytest

from regadvisor.model import Recommendation, Report, Run
from regadvisor.probe import verify as V


def _report(*recs: Recommendation) -> Report:
    run = Run("m.py", "probe", facts={"probe_epochs": 3.0, "stop_reason": "epochs", "knobs_requested": {}})
    return Report(source="m.py", run=run, signals={}, findings=[], recommendations=list(recs), verdict="overfitting",
                  verdict_confidence="medium", tool={"name": "regadvisor", "version": "0", "rules_digest": "sha256:00"})


@pytest.fixture
def scripted(monkeypatch):
    """scripted(effects) → calls: each trial's accuracy = 80 + seed + effects(changes, seed)."""
    calls: list[tuple[dict, int]] = []

    def install(effect):
        def run_trial(self, changes, seed, label):
            calls.append((dict(changes), seed))
            self.trials += 1
            self.cost = 1.0
            self.higher, self.metric = True, "val_acc points"
            acc = 80.0 + seed + effect(changes, seed)
            curve = [acc - 2, acc]
            return V.Trial(dict(changes), seed, curve[-1], 1.0, [0.6, 0.5], curve, [1.0, 2.0])

        monkeypatch.setattr(V._Verifier, "run_trial", run_trial)
        return calls

    return install


def test_clearly_worse_candidates_stop_after_two_seeds(scripted):
    def effect(ch, seed):
        if ch.get("weight_decay") == 0.5:
            return -5.0 - seed          # clearly worse every time
        if ch.get("dropout") == 0.3:
            return 3.0 + 0.1 * seed     # helps, small spread
        return 0.0

    calls = scripted(effect)
    report = _report(Recommendation("dropout", 0.3, "r", ["X"], [], current=0.0),
                     Recommendation("weight_decay", 0.05, "r", ["X"], [], current=0.0))
    res = V.verify("m.py", report, seeds=3)
    wd_big = [s for ch, s in calls if ch == {"weight_decay": 0.5}]
    assert wd_big == [0, 1]                                     # abandoned after 2 seeds
    eff = next(e for e in res.effects if e.changes == {"weight_decay": 0.5})
    assert eff.abandoned == "clearly worse on every seed"
    assert [r.knob for r in report.recommendations] == ["dropout"]
    assert report.recommendations[0].verified["difference"] == pytest.approx(3.1)
    assert any(n.startswith("weight_decay 0 → ") and n.endswith("not recommended") for n in report.notes)


def test_trial_budget_trims_values_then_rounds_and_is_never_exceeded(scripted):
    calls = scripted(lambda ch, seed: 2.0 + 0.2 * seed if ch.get("dropout") == 0.3 else 0.0)
    report = _report(Recommendation("dropout", 0.3, "r", ["X"], [], current=0.0),
                     Recommendation("weight_decay", 0.05, "r", ["X"], [], current=0.0))
    res = V.verify("m.py", report, seeds=3, budget_trials=8)
    assert res.trials == len(calls) <= 8
    # values around the suggestions go first, then the weakest knob (the last), before seeds drop
    # below 3 (t = 12.7 at 2 seeds would let almost nothing through)
    tried = {tuple(ch.items()) for ch, _ in calls if ch}
    assert tried == {(("dropout", 0.3),)}
    assert sorted(s for _, s in calls) == [0, 0, 1, 1, 2, 2]
    assert res.unverified == {"weight_decay": "left out to fit the budget"}
    assert [r.knob for r in report.recommendations] == ["dropout", "weight_decay"]
    assert report.recommendations[0].verified["helps"] and report.recommendations[1].verified is None
    assert "weight_decay: not verified (left out to fit the budget)" in report.notes


def test_budget_cut_mid_round_keeps_measured_values(scripted):
    scripted(lambda ch, seed: 3.0 + 0.1 * seed if ch.get("dropout") == 0.3 else 0.0)
    report = _report(Recommendation("dropout", 0.3, "r", ["X"], [], current=0.0))
    res = V.verify("m.py", report, seeds=3, budget_trials=9)
    # 3 baselines + dropout 0.3 / 0.1 / 0.5: the last round is cut short, 0.3 still has 3 pairs
    assert "dropout" not in res.unverified
    assert report.recommendations[0].verified["trials"] == 3


def test_combination_kept_only_when_better_than_best_single(scripted):
    def effect(ch, seed):
        gain = 0.0
        if ch.get("dropout") == 0.3:
            gain += 3.0 + 0.1 * seed
        if ch.get("weight_decay") == 0.05:
            gain += 2.0 + 0.1 * seed
        return gain

    scripted(effect)
    report = _report(Recommendation("dropout", 0.3, "r", ["X"], [], current=0.0),
                     Recommendation("weight_decay", 0.05, "r", ["X"], [], current=0.0))
    res = V.verify("m.py", report, seeds=3)
    assert res.kept == {"dropout": 0.3, "weight_decay": 0.05}
    assert res.combination is not None and res.combination_kept
    assert res.combination.interval.mean == pytest.approx(2.1)   # the extra over dropout alone
    assert any(n.startswith("together (") and n.endswith("kept: apply them together") for n in report.notes)


def test_nothing_to_measure(scripted):
    calls = scripted(lambda ch, seed: 0.0)
    report = _report(Recommendation("data_augmentation", "flips", "r", ["X"], []))
    res = V.verify("m.py", report)
    assert calls == [] and res.trials == 0
    assert report.recommendations[0].verified is None
    assert report.notes[0].startswith("verify: nothing to measure")


def test_two_seeds_at_least():
    with pytest.raises(V.ConfigError):
        V.verify("m.py", _report(), seeds=1)


def test_second_look_doubles_the_seeds_of_undecided_promising_candidates(scripted):
    """dropout gains +5 ± 4-ish (undecided at 3 seeds: t = 4.30), label smoothing is clearly
    better at once, weight decay is worse on average: only dropout gets seeds 3–5, and the
    verdict is read on all six pairs."""
    noise = [4.0, -3.0, 1.0, 3.5, -2.5, 0.0]

    def effect(ch, seed):
        if ch.get("dropout") == 0.3:
            return 5.0 + noise[seed]
        if ch.get("label_smoothing") == 0.1:
            return 4.0 + 0.1 * seed
        if "weight_decay" in ch:
            return -2.0 + noise[seed]
        return 0.0

    calls = scripted(effect)
    report = _report(Recommendation("dropout", 0.3, "r", ["X"], [], current=0.0),
                     Recommendation("label_smoothing", 0.1, "r", ["X"], [], current=0.0),
                     Recommendation("weight_decay", 0.05, "r", ["X"], [], current=0.0))
    res = V.verify("m.py", report, seeds=3)
    seeds_of = lambda changes: [s for ch, s in calls if ch == changes]  # noqa: E731
    assert seeds_of({"dropout": 0.3}) == [0, 1, 2, 3, 4, 5]
    assert seeds_of({"label_smoothing": 0.1}) == [0, 1, 2]           # decided at the first look
    assert all(s < 3 for ch, s in calls if "weight_decay" in ch and len(ch) == 1)
    assert seeds_of({}) == [0, 1, 2, 3, 4, 5]                         # baselines for the new pairs
    dropout = next(e for e in res.effects if e.changes == {"dropout": 0.3})
    assert dropout.trials == 6 and dropout.helps
    assert V.paired_interval(dropout.with_change[:3], dropout.baseline[:3]).low < 0   # undecided at 3
    assert res.seeds == [0, 1, 2, 3, 4, 5]


def test_second_look_respects_the_trial_budget(scripted):
    """Only whole extra rounds that fit: 3 × (baseline, groupnorm) = 6, then one more seed of 2."""
    calls = scripted(lambda ch, seed: 5.0 + [4.0, -3.0, 1.0, 3.5, -2.5, 0.0][seed] if ch else 0.0)
    report = _report(Recommendation("normalization", "groupnorm", "r", ["X"], [], current="batchnorm"))
    res = V.verify("m.py", report, seeds=3, budget_trials=9)
    assert res.trials == len(calls) == 8
    assert [s for ch, s in calls if not ch] == [0, 1, 2, 3]


def test_second_look_leaves_room_for_the_combination(scripted):
    """Two knobs already help, a third is undecided: its extra rounds stop while 3 trials are
    left for 'together' (one per seed of the first look) within the 20-trial budget."""
    def effect(ch, seed):
        gain = 0.0
        if ch.get("normalization") == "groupnorm":
            gain += 4.0 + 0.1 * seed                                 # helps at once
        if ch.get("optimizer") == "adamw":
            gain += 3.0 + 0.1 * seed                                 # helps at once
        if ch.get("residual") is True:
            gain += 5.0 + [4.0, -3.0, 1.0, 3.5, -2.5, 0.0][seed]    # undecided at 3 seeds
        return gain

    calls = scripted(effect)
    report = _report(Recommendation("normalization", "groupnorm", "r", ["X"], [], current="batchnorm"),
                     Recommendation("optimizer", "adamw", "r", ["X"], [], current="adam"),
                     Recommendation("residual", True, "r", ["X"], [], current=False))
    res = V.verify("m.py", report, seeds=3, budget_trials=20)
    assert res.trials == len(calls) == 20
    # first look 12, then 2 of the 3 extra rounds (2 trials each), leaving 4 for 'together'
    assert [s for ch, s in calls if ch == {"residual": True}] == [0, 1, 2, 3, 4]
    assert res.combination is not None and res.combination.trials == 4 and res.combination_kept
    assert any(n.startswith("together (") and n.endswith("apply them together") for n in report.notes)
