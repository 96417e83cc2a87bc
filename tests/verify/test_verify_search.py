"""The joint search: dimensions from the rules' ranges, the candidates' order, the first rung,
and successive halving on Optuna pruning a candidate that trails at a rung."""

from __future__ import annotations

import pytest

from regadvisor.model import Recommendation
from regadvisor.probe.parallel import Predecessor
from regadvisor.probe.runner import EvaluationPoint
from regadvisor.probe.search import (
    DROPOUT_MAX,
    Screening,
    Settled,
    candidates,
    dimension,
    first_rung,
    regularizes_more,
    search_space,
    still_improving,
)
from regadvisor.probe.trials import Curve


def rec(knob, value, range_=None, current=None):
    return Recommendation(knob, value, "r", ["X"], [], range=range_, current=current)


def test_dimensions_span_the_rules_ranges():
    d = dimension(rec("dropout", 0.3, [0.3, 0.6]), 0.0)
    assert (d.low, d.high, d.log, d.strong, d.weak) == (0.3, 0.6, False, 0.6, 0.3)
    wd = dimension(rec("weight_decay", 0.05, [0.01, 0.1]), 0.0)
    assert (wd.low, wd.high, wd.log) == (0.01, 0.1, True)
    lr = dimension(rec("learning_rate", 1e-4), 1e-3)           # no range: a factor 3 either side
    assert lr.low == pytest.approx(1e-4 / 3, rel=1e-2) and lr.high == pytest.approx(3e-4) and lr.strong == 1e-4
    assert dimension(rec("dropout", 0.6), 0.0).high == DROPOUT_MAX
    norm = dimension(rec("normalization", "layernorm"), "batchnorm")
    assert norm.categorical and norm.choices == ("layernorm", "batchnorm")
    assert dimension(rec("normalization", "layernorm"), "layernorm") is None   # nothing to change


def test_candidates_start_with_the_rules_joint_suggestion_then_its_neighbours():
    space = search_space([rec("dropout", 0.3, [0.3, 0.6]), rec("weight_decay", 0.05, [0.01, 0.1]),
                          rec("data_augmentation", "flips")], {"dropout": 0.0, "weight_decay": 0.0})
    assert [d.knob for d in space] == ["dropout", "weight_decay"]   # advisory knobs are not searched
    cands = candidates(space)
    assert cands[0] == {"dropout": 0.3, "weight_decay": 0.05}
    assert cands[1] == {"dropout": 0.6, "weight_decay": 0.1}      # everything at the strong end
    assert cands[2:4] == [{"weight_decay": 0.05}, {"dropout": 0.3}]  # each knob left as it is
    assert cands[4] == {"dropout": 0.3, "weight_decay": 0.01}     # everything at the weak end
    assert len(cands) == len({tuple(sorted(c.items())) for c in cands})


def test_side_knobs_stay_out_of_the_first_candidate_and_the_strong_and_weak_ends():
    """A lower learning rate asked for by a dead-unit rule, in a run an overfitting rule judges:
    the regularizers are screened without it first (a 10x lower rate would sink every joint
    candidate at the first rung), with it second, and alone among the single-knob ones."""
    recs = [rec("dropout", 0.1, [0.1, 0.6]), rec("weight_decay", 0.01, [0.001, 0.1]), rec("learning_rate", 1e-4)]
    current = {"dropout": 0.0, "weight_decay": 0.0, "learning_rate": 1e-3}
    space = search_space(recs, current, core={"dropout", "weight_decay", "early_stopping_patience"})
    assert [d.side for d in space] == [False, False, True]
    cands = candidates(space)
    assert cands[0] == {"dropout": 0.1, "weight_decay": 0.01}
    assert cands[1] == {"dropout": 0.1, "weight_decay": 0.01, "learning_rate": 1e-4}
    assert cands[2] == {"dropout": 0.6, "weight_decay": 0.1}
    assert {"dropout": 0.1, "weight_decay": 0.01, "learning_rate": 3e-4} in cands   # the rate's own range
    # no core knob among the recommendations: nothing is a side knob
    assert not any(d.side for d in search_space(recs, current, core={"residual"}))


def test_verdict_knobs_are_those_of_the_rules_that_judge_the_verdict():
    from regadvisor.model import Finding
    from regadvisor.probe.search import verdict_knobs

    over = Finding("OF001", "t", "overfitting", "warning", "medium", "fired", verdict="overfitting")
    over.recommendations = [rec("dropout", 0.1)]
    dead = Finding("AC001", "t", "activations", "warning", "medium", "fired")
    dead.recommendations = [rec("learning_rate", 1e-4)]
    quiet = Finding("OF003", "t", "overfitting", "error", "high", "passed", verdict="overfitting")
    quiet.recommendations = [rec("weight_decay", 0.05)]
    assert verdict_knobs([over, dead, quiet], "overfitting") == {"dropout"}


def test_first_rung_sits_at_the_baselines_best_within_a_ninth_and_a_third():
    def base(best_step):
        loss = [1.0 if s != best_step else 0.5 for s in range(10, 910, 10)]
        return Curve({}, 0, loss, [0.0] * len(loss), list(range(10, 910, 10)), 900, "epochs")

    assert first_rung(base(200), 900) == 200
    assert first_rung(base(20), 900) == 100      # a ninth
    assert first_rung(base(800), 900) == 300     # a third


def _scripted_curve(screening, trial, cfg, peak):
    """Feed a flat curve at ``peak`` through the trial's hook, as the runner would."""
    return _fed_curve(screening, trial, cfg, [peak] * 20)


def _fed_curve(screening, trial, cfg, scores):
    """Feed one evaluation every 10 steps (validation loss 1 - accuracy) through the trial's hook."""
    hook = screening.reporter(trial, cfg, True, lambda steps: True, 10 * len(scores))
    loss, score, steps = [], [], []
    for i, acc in enumerate(scores, start=1):
        loss.append(1.0 - acc / 100)
        score.append(acc)
        steps.append(10 * i)
        if hook(EvaluationPoint(10 * i, float(i), loss[-1], acc / 100)):
            return Curve(cfg, 0, loss, score, steps, 10 * i, "pruned")
    return Curve(cfg, 0, loss, score, steps, 10 * len(scores), "epochs")


def test_successive_halving_prunes_a_candidate_that_trails_at_the_first_rung():
    space = search_space([rec("dropout", 0.3, [0.1, 0.5])], {"dropout": 0.0})
    screening = Screening(space, [None, 3], seed=0, min_resource=50, max_trials=3)
    peaks = iter([80.0, 70.0, 85.0])
    for trial, cfg in screening.configs():
        screening.finish(trial, _scripted_curve(screening, trial, cfg, next(peaks)))
    first, worse, better = screening.results
    assert (first.pruned, worse.pruned, better.pruned) == (False, True, False)
    assert worse.curve.steps == 50               # stopped at the first rung
    assert screening.leader() is better and better.value == 85.0


def test_a_stronger_regularizer_still_improving_at_a_rung_waits_for_the_next():
    """cnn_digits in miniature: the rules' dropout leads at the first rung (step 50) and has
    peaked; the strong end trails there but is still rising, and ends higher."""
    space = search_space([rec("dropout", 0.3, [0.1, 0.5])], {"dropout": 0.0})
    screening = Screening(space, [None, 3], seed=0, min_resource=50, max_trials=2)
    plateau = [60.0, 70.0, 80.0, 85.0, 85.0] + [84.0] * 15
    rising = [50.0 + 2.5 * i for i in range(20)]          # 60 at the rung, 97.5 at the end
    curves = iter([plateau, rising])
    for trial, cfg in screening.configs():
        screening.finish(trial, _fed_curve(screening, trial, cfg, next(curves)))
    leader, strong = screening.results
    assert strong.config == {"dropout": 0.5} and not strong.pruned and strong.curve.steps == 200
    assert screening.leader() is strong


def test_a_stronger_regularizer_that_has_stopped_improving_is_pruned():
    space = search_space([rec("dropout", 0.3, [0.1, 0.5])], {"dropout": 0.0})
    screening = Screening(space, [None, 3], seed=0, min_resource=50, max_trials=2)
    peaked = [70.0, 75.0, 70.0, 70.0, 70.0] + [69.0] * 15  # best at the second evaluation of five
    curves = iter([[85.0] * 20, peaked])
    for trial, cfg in screening.configs():
        screening.finish(trial, _fed_curve(screening, trial, cfg, next(curves)))
    assert screening.results[1].pruned and screening.results[1].curve.steps == 50


def test_regularizes_more_means_the_same_configuration_with_more_regularization():
    space = search_space([rec("dropout", 0.3, [0.1, 0.6]), rec("weight_decay", 0.01, [0.001, 0.1]),
                          rec("learning_rate", 1e-4)], {"dropout": 0.0, "weight_decay": 0.0, "learning_rate": 1e-3})
    lead = {"dropout": 0.1, "weight_decay": 0.01}
    assert regularizes_more({"dropout": 0.6, "weight_decay": 0.1}, lead, space)
    assert regularizes_more({"dropout": 0.6, "weight_decay": 0.01}, lead, space)
    assert not regularizes_more(dict(lead), lead, space)                                 # the same
    assert not regularizes_more({"dropout": 0.6, "weight_decay": 0.001}, lead, space)    # less decay
    assert not regularizes_more({"dropout": 0.6}, lead, space)                           # decay left at 0
    # a lower learning rate learns slowly too, for another reason
    assert not regularizes_more({"dropout": 0.6, "weight_decay": 0.1, "learning_rate": 1e-4}, lead, space)


@pytest.mark.parametrize(("best_index", "evaluations", "improving"), [
    (19, 20, True), (15, 20, True), (14, 20, False), (2, 4, True), (1, 4, False), (0, 1, True)])
def test_still_improving_means_a_best_in_the_last_quarter_or_two_evaluations(best_index, evaluations, improving):
    assert still_improving(best_index, evaluations) is improving


def test_a_knob_spans_every_fired_rules_range():
    from regadvisor.model import Finding
    from regadvisor.probe.search import rule_bounds

    def finding(status, *recs):
        return Finding("X", "t", "overfitting", "warning", "medium", status, recommendations=list(recs))

    findings = [finding("fired", rec("dropout", 0.1, [0.1, 0.2])), finding("fired", rec("dropout", 0.3, [0.2, 0.6])),
                finding("passed", rec("dropout", 0.05, [0.0, 0.7]))]
    bounds = rule_bounds(findings)
    assert sorted(bounds["dropout"]) == [0.1, 0.1, 0.2, 0.2, 0.3, 0.6]       # passed rules do not count
    merged = rec("dropout", 0.1, [0.1, 0.2])                                 # the strongest rule's, as merged
    space = search_space([merged], {"dropout": 0.0}, bounds)
    assert (space[0].low, space[0].high, space[0].suggested) == (0.1, 0.6, 0.1)


def _points(scores):
    """One evaluation every 10 steps, validation loss 1 - accuracy."""
    return [EvaluationPoint(10 * i, float(i), 1.0 - acc / 100, acc / 100) for i, acc in enumerate(scores, start=1)]


def _head_and_next(head_scores, head_steps, second_range=(0.1, 0.5)):
    """A screen whose first trial (the head) has reported its first ``head_steps`` steps of
    ``head_scores`` and whose second trial has been asked for, not run."""
    space = search_space([rec("dropout", 0.3, list(second_range))], {"dropout": 0.0})
    screening = Screening(space, [None, 3], seed=0, min_resource=50, max_trials=2)
    configs = screening.configs()
    head, head_cfg = next(configs)
    hook = screening.reporter(head, head_cfg, True, lambda steps: True, 10 * len(head_scores))
    for point in _points(head_scores)[:head_steps // 10]:
        assert not hook(point)
    second, second_cfg = next(configs)
    return screening, (head, head_cfg, hook), (second, second_cfg), configs


@pytest.mark.parametrize("head_steps", [50, 60])
def test_a_trial_trailing_at_a_rung_the_head_has_passed_is_surely_pruned_as_one_process_prunes_it(head_steps):
    """The trial after the head trails it at the first rung (step 50): it is pruned there one by
    one, so the pool may stop it at once; Optuna, deciding it in turn, agrees."""
    head_scores = [80.0] * 20
    screening, (head, head_cfg, hook), (second, second_cfg), configs = _head_and_next(head_scores, head_steps)
    trailing = _points([60.0] * 20)
    before = Predecessor(head_cfg, head_steps, stopped=False)
    assert not screening.surely_pruned(second_cfg, trailing[:4], True, before)   # not at the rung yet
    assert screening.surely_pruned(second_cfg, trailing[:5], True, before)
    # in turn: the head finishes, then the second trial is decided by Optuna's pruner
    for point in _points(head_scores)[head_steps // 10:]:
        hook(point)
    screening.finish(head, Curve(head_cfg, 0, [0.2] * 20, head_scores, [10 * i for i in range(1, 21)], 200, "epochs"))
    screening.finish(second, _fed_curve(screening, second, second_cfg, [60.0] * 20))
    assert screening.results[1].pruned and screening.results[1].curve.steps == 50


def test_a_trial_is_not_surely_pruned_at_a_rung_the_head_has_not_reached():
    """Four trials have passed the first rung at 90, 70, 65 and 62; the head is at step 40. At
    75 the next trial is out of the top third of five values, but one by one it is decided
    against six: the head's too, whatever it is, and then the top two go on."""
    space = search_space([rec("dropout", 0.3, [0.1, 0.5])], {"dropout": 0.0})
    screening = Screening(space, [None, 3], seed=0, min_resource=50, max_trials=10)
    configs = screening.configs()
    for peak in (90.0, 70.0, 65.0, 62.0):
        trial, cfg = next(configs)
        screening.finish(trial, _scripted_curve(screening, trial, cfg, peak))
    head, head_cfg = next(configs)
    hook = screening.reporter(head, head_cfg, True, lambda steps: True, 200)
    for point in _points([50.0] * 4):
        hook(point)
    second, second_cfg = next(configs)
    assert not screening.surely_pruned(second_cfg, _points([75.0] * 5), True, Predecessor(head_cfg, 40, False))
    # had its decisions stopped the head at step 40, it would report no more: five values, pruned
    assert screening.surely_pruned(second_cfg, _points([75.0] * 5), True, Predecessor(head_cfg, 40, True))
    for point in _points([50.0] * 20)[4:]:
        if hook(point):
            break
    screening.finish(head, Curve(head_cfg, 0, [0.5] * 5, [50.0] * 5, [10, 20, 30, 40, 50], 50, "pruned"))
    screening.finish(second, _fed_curve(screening, second, second_cfg, [75.0] * 20))
    assert screening.results[-1].curve.steps > 50            # one process promoted it at the first rung


def test_a_trial_leading_at_the_rung_is_not_surely_pruned():
    screening, (_, head_cfg, _), (_, second_cfg), _ = _head_and_next([80.0] * 20, 60)
    assert not screening.surely_pruned(second_cfg, _points([90.0] * 6), True, Predecessor(head_cfg, 60, False))


def test_a_stronger_regularizer_still_improving_is_not_surely_pruned_while_the_head_may_lead():
    """The prune of a stronger regularizer still improving waits if the head ends up leading
    (:meth:`Screening.deferred`), and that is not known before the head is done."""
    screening, (_, head_cfg, _), (_, second_cfg), _ = _head_and_next([80.0] * 20, 60)
    assert second_cfg == {"dropout": 0.5} and regularizes_more(second_cfg, head_cfg, screening.space)
    rising = _points([50.0 + 2.5 * i for i in range(20)])
    assert not screening.surely_pruned(second_cfg, rising[:5], True, Predecessor(head_cfg, 60, False))
    peaked = _points([70.0, 75.0, 70.0, 70.0, 70.0])                    # not improving: the prune cannot wait
    assert screening.surely_pruned(second_cfg, peaked, True, Predecessor(head_cfg, 60, False))


def test_the_screen_hands_out_no_more_trials_than_it_plans_while_none_has_finished():
    """On several workers trials are asked for before the ones before them finish: the plan
    bounds what is handed out, as it does one by one."""
    space = search_space([rec("dropout", 0.3, [0.1, 0.5])], {"dropout": 0.0})
    screening = Screening(space, [None, 3], seed=0, min_resource=50, max_trials=3)
    assert len(list(screening.configs())) == screening.planned() == 3


def test_a_trial_stopped_early_counts_at_the_rung_for_the_trials_after_it():
    """Three trials finished at 90, 50 and 45; the head stopped at the rung at 40; the next, at
    30, is surely pruned there and its value is known. The one after it, at 70, is second of six
    at the rung one by one, and promoted; with the 30 left out it would have to be first of
    five, and be pruned: what the trial between says is part of the rung."""
    space = search_space([rec("dropout", 0.3, [0.1, 0.5])], {"dropout": 0.0})
    screening = Screening(space, [None, 3], seed=0, min_resource=50, max_trials=10)
    configs = screening.configs()
    for peak in (90.0, 50.0, 45.0):
        trial, cfg = next(configs)
        screening.finish(trial, _scripted_curve(screening, trial, cfg, peak))
    head, head_cfg = next(configs)
    head_curve = _fed_curve(screening, head, head_cfg, [40.0] * 20)      # its decisions stop it at the rung
    assert head_curve.steps == 50
    (between, between_cfg), (after, after_cfg) = next(configs), next(configs)
    stopped_head = Predecessor(head_cfg, 50, stopped=True)
    settled = screening.surely_pruned(between_cfg, _points([30.0] * 5), True, stopped_head)
    assert settled == Settled(between_cfg, {0: 30.0}, certain=True)
    with_between = Predecessor(head_cfg, 50, True, (settled,))
    assert screening.surely_pruned(after_cfg, _points([70.0] * 5), True, with_between) is None
    assert screening.surely_pruned(after_cfg, _points([70.0] * 5), True, stopped_head) is not None   # the 30 left out
    # a trial between that the budget might stop before its rung counts both ways: here they differ
    maybe = Predecessor(head_cfg, 50, True, (Settled(between_cfg, {0: 30.0}, certain=False),))
    assert screening.surely_pruned(after_cfg, _points([70.0] * 5), True, maybe) is None
    assert screening.surely_pruned(after_cfg, _points([20.0] * 5), True, maybe) is not None   # last either way
    # in turn
    screening.finish(head, head_curve)
    screening.finish(between, _fed_curve(screening, between, between_cfg, [30.0] * 20))
    screening.finish(after, _fed_curve(screening, after, after_cfg, [70.0] * 20))
    assert screening.results[-2].pruned and screening.results[-2].curve.steps == 50
    assert screening.results[-1].curve.steps > 50                       # promoted at the rung


def test_without_optunas_rung_helpers_no_trial_is_judged_early(monkeypatch):
    import sys

    screening, (_, head_cfg, _), (_, second_cfg), _ = _head_and_next([80.0] * 20, 60)
    monkeypatch.setitem(sys.modules, "optuna.pruners._successive_halving", None)
    assert screening.surely_pruned(second_cfg, _points([60.0] * 5), True, Predecessor(head_cfg, 60, False)) is None
