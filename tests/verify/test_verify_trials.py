"""A trial's curve and what it is worth: early stopping replayed with the reference stopper."""

from __future__ import annotations

import math

from regadvisor.probe.trials import Curve, simulate_early_stopping


def test_stops_after_patience_and_restores_best():
    loss = [1.0, 0.8, 0.7, 0.75, 0.72, 0.9, 0.65]
    stop = simulate_early_stopping(loss, patience=3)
    assert (stop.stop_index, stop.best_index, stop.stopped) == (5, 2, True)
    # a later, lower minimum is never seen: the stopper already stopped
    assert simulate_early_stopping(loss, patience=4).best_index == 6


def test_without_a_stop_the_best_evaluation_is_restored():
    stop = simulate_early_stopping([1.0, 0.5, 0.6, 0.55], patience=5)
    assert (stop.stop_index, stop.best_index, stop.stopped) == (3, 1, False)


def test_non_finite_losses_are_never_best():
    stop = simulate_early_stopping([math.nan, 0.9, math.inf, 0.95], patience=2)
    assert stop.best_index == 1 and stop.stop_index == 3


def _curve(stop_reason: str, loss=(0.7, 0.6, 0.8, 0.9, 0.95), score=(80.0, 85.0, 78.0, 76.0, 75.0)) -> Curve:
    return Curve({}, 0, list(loss), list(score), [10, 20, 30, 40, 50], 50, stop_reason)


def test_a_complete_curve_is_worth_its_end_or_its_restore_point():
    c = _curve("epochs")
    assert c.value(None) == 75.0                  # no stopper: what training ends with
    assert c.value(2) == 85.0                     # stopper: the score at the lowest validation loss
    assert c.value(10) == 85.0                    # never ran out: the best checkpoint is restored at the end
    assert c.stop_steps(2) == 40 and c.stop_steps(None) == 50 and c.stop_steps(10) == 50


def test_a_cut_curve_says_only_what_it_can_tell():
    c = _curve("past-best")
    assert c.value(None) is None                  # the end of the real training was not seen
    assert c.value(2) == 85.0                     # the stopper ran out before the cut: exact
    assert c.value(4) is None                     # it would still be waiting at the cut: unknown
    assert c.best_variant([None, 2, 4]) == (85.0, 2)


def test_at_equal_scores_the_longest_patience_is_chosen():
    c = _curve("epochs")                           # the whole length: every patience can be valued
    assert c.value(2) == c.value(10) == 85.0
    assert c.best_variant([2, 10]) == (85.0, 10)


def test_diverged_curves_are_worth_nothing():
    c = _curve("diverged")
    c.diverged = True
    assert c.value(2) is None and c.best_variant([None, 2]) is None


def test_score_so_far_is_what_a_stopper_would_restore_now():
    assert _curve("pruned").score_so_far() == 85.0
    assert Curve({}, 0, [], [], [], 0, "pruned").score_so_far() == -math.inf
