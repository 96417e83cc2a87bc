"""Probe signals derived from the instruments' raw quantities (hand-written facts, no torch)."""

from __future__ import annotations

from regadvisor.model import Run
from regadvisor.signals.registry import SignalContext


def _signals(**facts):
    return SignalContext(Run("model.py", "probe", facts=facts))


def _layer(name, kind="linear", called=True, **raw):
    return {"name": name, "kind": kind, "params": 10, "called": called, **raw}


def test_first_last_ratio_is_the_median_over_steps_of_called_non_embedding_layers():
    ctx = _signals(layer_stats=[
        _layer("emb", "embedding", grad_norm=[5.0, 5.0, 5.0]),
        _layer("fc1", grad_norm=[0.001, 0.002, 0.003]),
        _layer("out_proj", called=False, grad_norm=[9.0, 9.0, 9.0]),  # used functionally: not compared
        _layer("head", grad_norm=[1.0, 1.0, 0.0]),  # a zero last norm is no ratio
    ])
    assert ctx.get("grad_norm_first_last_ratio") == 0.0015
    assert ctx.get("grad_ratio_layers") == "fc1 → head"


def test_layer_medians_then_the_extreme_layer():
    ctx = _signals(layer_stats=[
        _layer("a", grad_mean_abs=[1e-3, 2e-3, 3e-3], grad_zero_fraction=[1.0, 1.0, 1.0]),  # first layer: zeros ignored
        _layer("b", grad_mean_abs=[1e-9, None, 3e-9], grad_zero_fraction=[0.7, 0.8, 0.9]),
        _layer("c", grad_mean_abs=[], grad_zero_fraction=[0.1, None, 0.3]),
    ])
    assert ctx.get("min_layer_grad_mean_abs") == 2e-9
    assert ctx.get("max_layer_zero_grad_fraction") == 0.8


def test_update_over_weight_per_tensor_then_across_weight_tensors():
    ctx = _signals(tensor_stats=[
        {"name": "0.weight", "dims": 2, "update_norm": [0.01, 0.02, 0.03], "weight_norm": [10.0, 10.0, 10.0]},
        {"name": "0.bias", "dims": 1, "update_norm": [1.0, 1.0], "weight_norm": [0.001, 0.001]},  # biases left out
        {"name": "1.weight", "dims": 2, "update_norm": [5.0, 6.0], "weight_norm": [0.0, 2.0]},  # zero weight: no ratio
    ])
    assert ctx.get("update_weight_ratio_min") == 0.002
    assert ctx.get("update_weight_ratio_max") == 3.0
    assert ctx.get("update_weight_ratio_median") == 1.501


def test_activation_medians_per_module():
    ctx = _signals(activation_stats=[
        {"name": "fc", "kind": "linear", "std": [1.0, 1.0]},
        {"name": "relu", "kind": "relu", "dead_fraction": [0.2, 0.6, 0.7], "nonpositive_fraction": [0.5, 0.9, 0.9],
         "std": [0.5, 0.5, 0.5]},
        {"name": "tanh", "kind": "tanh", "saturated_fraction": [0.0, 0.4, None], "std": [0.25, 0.25]},
    ])
    assert ctx.get("max_dead_unit_fraction") == 0.6 and ctx.get("max_nonpositive_activation_fraction") == 0.9
    assert ctx.get("max_saturated_fraction") == 0.2
    assert ctx.get("activation_std_drift") == 0.5  # last activation module's std over the first's


def test_a_log_has_no_probe_signals():
    ctx = SignalContext(Run("metrics.csv", "csv"))
    assert ctx.get("grad_norm_first_last_ratio") is None and ctx.get("update_weight_ratio_min") is None
