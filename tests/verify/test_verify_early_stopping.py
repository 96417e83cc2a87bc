"""The simulated early stopper (restore best) that measures ``early_stopping_patience`` without training."""

from __future__ import annotations

from regadvisor.probe.verify import _Verifier, simulate_early_stopping


def test_stops_after_patience_and_restores_best():
    loss = [1.0, 0.8, 0.7, 0.75, 0.72, 0.9, 0.65]
    stop = simulate_early_stopping(loss, patience=3)
    assert (stop.stop_index, stop.best_index, stop.stopped) == (5, 2, True)
    # a later, lower minimum is never seen: the stopper already stopped
    assert simulate_early_stopping(loss, patience=4).best_index == 6


def test_without_a_stop_the_best_evaluation_is_restored():
    loss = [1.0, 0.5, 0.6, 0.55]
    stop = simulate_early_stopping(loss, patience=5)
    assert (stop.stop_index, stop.best_index, stop.stopped) == (3, 1, False)


def test_patience_in_epochs_when_evaluations_are_more_frequent():
    # two evaluations per epoch: patience 1 epoch = 2 evaluations
    loss = [1.0, 0.8, 0.9, 0.85, 0.95]
    epochs = [0.5, 1.0, 1.5, 2.0, 2.5]
    stop = simulate_early_stopping(loss, patience=1, epochs=epochs)
    assert (stop.stop_index, stop.best_index) == (3, 1)
    assert simulate_early_stopping(loss, patience=1).stop_index == 2


def test_non_finite_losses_are_never_best():
    loss = [float("nan"), 0.9, float("inf"), 0.95]
    stop = simulate_early_stopping(loss, patience=2)
    assert stop.best_index == 1 and stop.stop_index == 3


def test_trial_metric_is_read_at_the_restored_evaluation():
    loss = [0.7, 0.6, 0.8, 0.9]
    acc = [80.0, 85.0, 78.0, 76.0]
    assert _Verifier._final(loss, acc, [1, 2, 3, 4], None) == 76.0     # no stopper: the end
    assert _Verifier._final(loss, acc, [1, 2, 3, 4], 2) == 85.0        # stopper: the best val_loss point
