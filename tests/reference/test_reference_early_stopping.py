"""EarlyStopping: patience, min_delta, mode, best-weights restore, reason."""

import math

import pytest
import torch
from torch import nn

from regadvisor.reference import EarlyStopping


def run(stopper, values, model=None):
    """Feed values until the stopper says stop; return the 1-based evaluation it stopped at."""
    for i, v in enumerate(values, start=1):
        if stopper.step(v, model):
            return i
    return None


def test_stops_after_patience_evaluations_without_improvement():
    stopper = EarlyStopping(patience=3)
    assert run(stopper, [1.0, 0.9, 0.8, 0.85, 0.81, 0.9, 0.7]) == 6
    assert stopper.best == 0.8 and stopper.best_step == 3 and stopper.bad_steps == 3
    assert stopper.stopped and stopper.stopped_step == 6


def test_improvement_resets_the_counter():
    stopper = EarlyStopping(patience=2)
    assert run(stopper, [1.0, 1.1, 0.9, 1.2, 0.8, 1.0, 0.95, 0.7]) == 7
    assert stopper.best == 0.8


def test_patience_zero_stops_at_first_non_improvement():
    assert run(EarlyStopping(patience=0), [3.0, 2.0, 2.5]) == 3


def test_min_delta_requires_a_large_enough_improvement():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    # 0.95 and 0.92 are improvements by less than 0.1 and do not count.
    assert run(stopper, [1.0, 0.95, 0.92, 0.5]) == 3
    assert stopper.best == 1.0
    lenient = EarlyStopping(patience=2, min_delta=0.0)
    assert run(lenient, [1.0, 0.95, 0.92, 0.5]) is None
    assert lenient.best == 0.5


def test_mode_max_for_accuracies():
    stopper = EarlyStopping(patience=2, mode="max", min_delta=0.01)
    assert run(stopper, [0.5, 0.6, 0.605, 0.59, 0.7]) == 4
    assert stopper.best == 0.6
    assert "increase" in stopper.reason


def test_reason_names_patience_best_value_and_evaluation():
    stopper = EarlyStopping(patience=2, min_delta=0.001)
    run(stopper, [0.5, 0.4, 0.45, 0.46])
    assert stopper.reason.startswith("no decrease of more than 0.001 for 2 evaluations (patience 2)")
    assert "best 0.4 at evaluation 2 of 4" in stopper.reason
    assert EarlyStopping().reason == ""


def test_restores_best_weights_when_stopping():
    model = nn.Linear(3, 2)
    stopper = EarlyStopping(patience=2)
    saved = None
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.8]):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        if loss == 0.5:
            saved = {k: v.clone() for k, v in model.state_dict().items()}
        if stopper.step(loss, model):
            break
    assert stopper.stopped
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key])
    assert torch.equal(model.weight, torch.ones_like(model.weight))
    assert stopper.reason.endswith("restored the best weights")


def test_snapshot_is_a_copy_and_restore_on_demand():
    model = nn.Linear(2, 2)
    stopper = EarlyStopping(patience=5)
    stopper.step(1.0, model)
    best = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(5.0)  # in-place training must not change the snapshot
    stopper.step(2.0, model)
    assert not stopper.stopped
    assert stopper.restore(model)
    assert torch.equal(model.weight, best)


def test_no_restore_when_disabled_or_without_model():
    model = nn.Linear(2, 2)
    stopper = EarlyStopping(patience=1, restore_best=False)
    stopper.step(1.0, model)
    with torch.no_grad():
        model.weight.zero_()
    assert stopper.step(2.0, model)
    assert torch.equal(model.weight, torch.zeros_like(model.weight))
    assert stopper.restore(model) is False
    assert EarlyStopping().restore(model) is False


def test_nan_stops_immediately_and_tensors_are_accepted():
    stopper = EarlyStopping(patience=10)
    assert not stopper.step(torch.tensor(1.0))
    assert stopper.step(float("nan"))
    assert "nan" in stopper.reason and stopper.stopped_step == 2
    assert stopper.step(0.1), "stays stopped"
    tolerant = EarlyStopping(patience=2, stop_on_nonfinite=False)
    assert run(tolerant, [1.0, math.nan, math.nan]) == 3
    assert tolerant.best == 1.0


@pytest.mark.parametrize("kwargs", [{"patience": -1}, {"min_delta": -0.1}, {"mode": "maximize"}])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        EarlyStopping(**kwargs)


def test_state_dict_round_trip():
    stopper = EarlyStopping(patience=3)
    run(stopper, [1.0, 0.9, 0.95])
    other = EarlyStopping()
    other.load_state_dict(stopper.state_dict())
    assert (other.best, other.bad_steps, other.num_steps, other.patience) == (0.9, 1, 3, 3)
    assert run(other, [0.96, 0.97]) == 2
