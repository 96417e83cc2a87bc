"""Instruments (hooks.py) and static inspection (inspect.py) on small hand-built models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from regadvisor.model import Run
from regadvisor.probe.hooks import Instruments
from regadvisor.probe.inspect import (
    CallOrder,
    architecture,
    classification_info,
    depth,
    forward_order_facts,
    model_facts,
    optimizer_facts,
    residual,
)


def _train(model, inst, steps=3, lr=0.01, inputs=None):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x = inputs if inputs is not None else torch.randn(32, 8)
    y = torch.randint(0, 2, (x.shape[0],))
    norms = []
    try:
        for step in range(1, steps + 1):
            inst.start_step(step)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            norms.append(inst.after_backward())
            inst.before_update()
            opt.step()
            inst.after_update()
    finally:
        inst.close()
    return norms


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_global_norm_matches_clip_grad_norm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    inst = Instruments(model, "default")
    inst.start_step(1)
    nn.functional.cross_entropy(model(torch.randn(4, 8)), torch.tensor([0, 1, 0, 1])).backward()
    ours = inst.after_backward()
    inst.close()
    ref = nn.utils.clip_grad_norm_(model.parameters(), 1e9)
    assert torch.allclose(ours, ref)


def test_full_depth_stats_and_hooks_removed():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2))
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every ReLU unit dead
    inst = Instruments(model, "full")
    assert _hook_count(model) == 0
    norms = _train(model, inst, steps=3, inputs=torch.randn(32, 8) * 50)
    assert _hook_count(model) == 0 and len(norms) == 3
    s = inst.summary()
    assert s["instrumented_steps"] == [1, 2, 3]
    assert s["layer_order"] == ["0", "2", "4"]
    # raw quantities: one value per sampled step (per call, for activations)
    acts = {a["name"]: a for a in s["activation_stats"]}
    assert [a["name"] for a in s["activation_stats"]] == ["0", "1", "2", "3", "4"]
    assert acts["1"]["dead_fraction"] == [1.0] * 3 and acts["1"]["nonpositive_fraction"] == [1.0] * 3
    assert None not in acts["3"]["saturated_fraction"] and acts["3"]["dead_fraction"] == [None] * 3
    layers = {ly["name"]: ly for ly in s["layer_stats"]}
    assert layers["0"]["grad_norm"] == [0.0] * 3 and layers["0"]["grad_zero_fraction"] == [1.0] * 3
    assert all(ly["called"] for ly in s["layer_stats"])
    tensors = {t["name"]: t for t in s["tensor_stats"]}
    assert set(tensors) == {n for n, _ in model.named_parameters()}
    assert tensors["0.weight"]["update_norm"] == [0.0] * 3 and all(u > 0 for u in tensors["4.weight"]["update_norm"])
    assert tensors["4.weight"]["weight_norm"][0] == pytest.approx(model[4].weight.norm().item(), rel=0.5)
    # what is derived from them is a signal
    from regadvisor.signals.registry import SignalContext

    ctx = SignalContext(Run("probe", "probe", facts=s))
    assert ctx.get("grad_norm_first_last_ratio") == 0.0 and ctx.get("grad_ratio_layers") == "0 → 4"
    assert ctx.get("max_dead_unit_fraction") == 1.0 and ctx.get("update_weight_ratio_min") == 0.0


def test_saturation_counts_preactivations_beyond_five():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(4))
        model[0].bias.zero_()
    x = torch.tensor([[10.0, -10.0, 0.0, 1.0]] * 8)
    inst = Instruments(model, "full")
    _train(model, inst, steps=1, lr=0.0, inputs=x)
    acts = {a["name"]: a for a in inst.summary()["activation_stats"]}
    assert acts["1"]["saturated_fraction"] == [pytest.approx(0.5)]


def test_default_depth_samples_sparsely():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    inst = Instruments(model, "default", sample_every=4)
    norms = _train(model, inst, steps=9)
    s = inst.summary()
    assert s["instrumented_steps"] == [1, 5, 9] and len(norms) == 9 and len(inst.global_norms()) == 9


def test_dead_units_in_conv_are_channels():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(2, 1, 6, 6))
    with torch.no_grad():
        model[0].bias.copy_(torch.tensor([-100.0, -100.0, 100.0, 100.0]))
    inst = Instruments(model, "full")
    _train(model, inst, steps=1, inputs=torch.randn(32, 1, 6, 6))
    acts = {a["name"]: a for a in inst.summary()["activation_stats"]}
    assert acts["1"]["dead_fraction"] == [0.5]


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        return x + torch.relu(self.fc(x))


class PosAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(10, 8)
        self.pos = nn.Embedding(4, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.tok(x) + self.pos(torch.arange(x.shape[1])))


def test_residual_heuristic():
    assert residual(nn.Sequential(nn.Linear(8, 8), Block(8)))[0] is True
    assert "torch.fx" in residual(nn.Sequential(Block(8)))[1]
    assert residual(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)))[0] is False
    assert residual(PosAdd())[0] is False  # tok + pos embeddings are not a skip connection
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    assert residual(nn.TransformerEncoder(layer, 1, enable_nested_tensor=False))[0] is True


def test_architecture_and_depth():
    assert architecture(nn.Sequential(nn.Linear(2, 2))) == "mlp"
    assert architecture(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))) == "cnn"
    assert architecture(nn.LSTM(4, 4, num_layers=2)) == "rnn"
    assert architecture(nn.TransformerEncoderLayer(8, 2)) == "transformer"
    assert depth(nn.LSTM(4, 4, num_layers=3)) == 3
    assert depth(PosAdd()) == 1


def test_model_facts_norms_and_dropout():
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.3), nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.LayerNorm(8), nn.Dropout(0.1), nn.Linear(8, 2))
    f = model_facts(model)
    assert f["normalization_layers"] == ["batchnorm", "layernorm"] and f["has_normalization"]
    assert f["max_dropout"] == 0.3 and [d["p"] for d in f["dropout_layers"]] == [0.3, 0.1]
    with CallOrder(model) as order:
        model(torch.randn(4, 8))
    assert _hook_count(model) == 0
    facts = forward_order_facts(order.calls)
    assert facts["dropout_before_batchnorm"] is True
    assert facts["dropout_batchnorm_pairs"] == [{"dropout": "1", "batchnorm": "3", "modules_between": 1}]
    plain = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    with CallOrder(plain) as order:
        plain(torch.randn(4, 8))
    assert forward_order_facts(order.calls)["dropout_before_batchnorm"] is False


def test_optimizer_facts():
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    f = optimizer_facts(torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-2), model)
    assert f["optimizer"] == "adam" and f["adam_coupled_weight_decay"] is True
    assert f["decay_on_bias"] and f["decay_on_norm"] and f["decay_on_bias_or_norm"]
    f = optimizer_facts(torch.optim.AdamW(model.parameters(), lr=1e-3), model)
    assert f["adam_coupled_weight_decay"] is False and f["weight_decay"] == 0.01
    decay = [p for p in model.parameters() if p.dim() == 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    f = optimizer_facts(torch.optim.AdamW([{"params": decay}, {"params": rest, "weight_decay": 0.0}]), model)
    assert f["decay_on_bias_or_norm"] is False and len(f["param_groups"]) == 2
    assert f["param_groups"][1] == {"lr": 1e-3, "weight_decay": 0.0, "tensors": 4, "elements": 26,
                                    "betas": [0.9, 0.999]}
    f = optimizer_facts(torch.optim.Adam(model.parameters(), weight_decay=0.0), model)
    assert f["adam_coupled_weight_decay"] is False


def test_classification_info():
    assert classification_info(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)) == ("classification", 3)
    assert classification_info(torch.zeros(4, 5, 7), torch.zeros(4, 5, dtype=torch.long)) == ("classification", 7)
    assert classification_info(torch.zeros(4, 1), torch.zeros(4, 1)) == ("regression", None)


@pytest.mark.parametrize("native", [True, False])
def test_clip_reuses_the_measured_norm(monkeypatch, native):
    from regadvisor.probe.runner import _clip

    if not native:
        monkeypatch.delattr(torch.nn.utils, "clip_grads_with_norm_", raising=False)
    torch.manual_seed(0)
    a, b = nn.Linear(8, 4), nn.Linear(8, 4)
    b.load_state_dict(a.state_dict())
    x = torch.randn(16, 8) * 10
    for m in (a, b):
        m(x).pow(2).sum().backward()
    inst = Instruments(a)
    total = inst.after_backward()
    _clip(inst.params, 1.0, total)
    nn.utils.clip_grad_norm_(b.parameters(), 1.0)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-6)
