"""L2 vs decoupled weight decay, the reference Adam/AdamW, and no-decay parameter groups."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from regadvisor.reference import (
    RMSNorm,
    ReferenceAdamW,
    compare_l2_and_decoupled,
    decoupled_weight_decay_,
    is_norm_module,
    l2_penalty,
    param_groups,
    split_decay,
)


def mlp():
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def clone_model(model):
    twin = mlp()
    twin.load_state_dict(model.state_dict())
    return twin


def batches(n=5):
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(10, 6, generator=gen, dtype=torch.float64),
             torch.randint(0, 3, (10,), generator=gen)) for _ in range(n)]


def train(model, optimizer, data, *, l2=0.0, decoupled=0.0, lr=0.1):
    for x, y in data:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if l2:
            loss = loss + l2_penalty(model.parameters(), l2)
        loss.backward()
        if decoupled:
            decoupled_weight_decay_(model.parameters(), lr, decoupled)
        optimizer.step()
    return model


def params_of(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_l2_penalty_gradient_is_weight_decay_times_w():
    w = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    penalty = l2_penalty([w, b], 0.3)
    torch.testing.assert_close(penalty, 0.15 * (w.pow(2).sum() + b.pow(2).sum()))
    penalty.backward()
    torch.testing.assert_close(w.grad, 0.3 * w.detach())
    torch.testing.assert_close(b.grad, 0.3 * b.detach())


def test_sgd_l2_penalty_builtin_weight_decay_and_decoupled_decay_agree():
    lr, wd = 0.1, 0.05
    torch.manual_seed(0)
    base = mlp()
    data = batches()
    builtin = clone_model(base)
    train(builtin, torch.optim.SGD(builtin.parameters(), lr=lr, weight_decay=wd), data)
    penalty = clone_model(base)
    train(penalty, torch.optim.SGD(penalty.parameters(), lr=lr), data, l2=wd)
    decoupled = clone_model(base)
    train(decoupled, torch.optim.SGD(decoupled.parameters(), lr=lr), data, decoupled=wd, lr=lr)
    plain = clone_model(base)
    train(plain, torch.optim.SGD(plain.parameters(), lr=lr), data)
    torch.testing.assert_close(params_of(penalty), params_of(builtin))
    torch.testing.assert_close(params_of(decoupled), params_of(builtin))
    assert not torch.allclose(params_of(plain), params_of(builtin))


def test_adam_with_l2_and_adamw_give_different_updates():
    lr, wd = 1e-2, 0.1
    torch.manual_seed(0)
    base = mlp()
    data = batches(3)
    coupled = clone_model(base)
    train(coupled, torch.optim.Adam(coupled.parameters(), lr=lr, weight_decay=wd), data)
    l2_loss = clone_model(base)
    train(l2_loss, torch.optim.Adam(l2_loss.parameters(), lr=lr), data, l2=wd)
    adamw = clone_model(base)
    train(adamw, torch.optim.AdamW(adamw.parameters(), lr=lr, weight_decay=wd), data)
    adam_then_decay = clone_model(base)
    train(adam_then_decay, torch.optim.Adam(adam_then_decay.parameters(), lr=lr), data, decoupled=wd, lr=lr)
    # Adam's weight_decay is the L2 penalty; decoupled decay before a plain Adam step is AdamW.
    torch.testing.assert_close(params_of(l2_loss), params_of(coupled))
    torch.testing.assert_close(params_of(adam_then_decay), params_of(adamw))
    difference = (params_of(coupled) - params_of(adamw)).abs().max().item()
    assert difference > 1e-3


@pytest.mark.parametrize("decoupled,torch_cls", [(True, torch.optim.AdamW), (False, torch.optim.Adam)])
def test_reference_adamw_matches_torch(decoupled, torch_cls):
    torch.manual_seed(0)
    base = mlp()
    ref_model, tor_model = clone_model(base), clone_model(base)
    settings = dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-7)
    ref_groups = [{"params": list(ref_model[0].parameters()), "weight_decay": 0.2},
                  {"params": list(ref_model[2].parameters()), "weight_decay": 0.0}]
    tor_groups = [{"params": list(tor_model[0].parameters()), "weight_decay": 0.2},
                  {"params": list(tor_model[2].parameters()), "weight_decay": 0.0}]
    data = batches(6)
    train(ref_model, ReferenceAdamW(ref_groups, decoupled=decoupled, **settings), data)
    train(tor_model, torch_cls(tor_groups, **settings), data)
    torch.testing.assert_close(params_of(ref_model), params_of(tor_model))


def test_compare_l2_and_decoupled_shows_scale_dependence_of_adam_l2():
    rows = compare_l2_and_decoupled((1e-3, 1.0, 1e3), lr=1e-3, weight_decay=0.1, steps=100)
    assert [r["grad_scale"] for r in rows] == [1e-3, 1.0, 1e3]
    adamw = [r["adamw_effect"] for r in rows]
    adam_l2 = [r["adam_l2_effect"] for r in rows]
    # AdamW: about lr * wd * steps * w = 0.01 of decay, whatever the gradient scale.
    for effect in adamw:
        assert effect == pytest.approx(-0.01, rel=0.05)
    assert max(adamw) - min(adamw) < 1e-6
    # Adam + L2: ten times that with tiny gradients, almost nothing with large ones.
    assert adam_l2[0] < -0.05
    assert abs(adam_l2[2]) < 1e-4
    assert abs(adam_l2[0]) / abs(adam_l2[2]) > 1e3


def test_decoupled_weight_decay_is_a_pure_shrink():
    w = torch.randn(3, 3)
    expected = w * (1 - 0.1 * 0.5)
    decoupled_weight_decay_([w], lr=0.1, weight_decay=0.5)
    torch.testing.assert_close(w, expected)


# ---------------------------------------------------------------------------------------------
# param_groups
# ---------------------------------------------------------------------------------------------

class TinyRMSNorm(nn.Module):  # a hand-written norm as many code bases have (LlamaRMSNorm)
    def __init__(self, d):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.pos = nn.Parameter(torch.zeros(1, 4, 8))
        self.conv = nn.Conv1d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm1d(8)
        self.ln = nn.LayerNorm(8)
        self.gn = nn.GroupNorm(2, 8)
        self.rms = nn.RMSNorm(8)
        self.ref_rms = RMSNorm(8)
        self.custom = TinyRMSNorm(8)
        self.fc = nn.Linear(8, 8)
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(8, 20, bias=False)
        self.head.weight = self.embed.weight  # tied


EXPECTED_DECAY = {"conv.weight", "fc.weight", "pos"}
EXPECTED_NO_DECAY = {
    "embed.weight", "conv.bias", "bn.weight", "bn.bias", "ln.weight", "ln.bias", "gn.weight", "gn.bias",
    "rms.weight", "ref_rms.weight", "custom.scale", "fc.bias",
}


def test_param_groups_default_split():
    model = Net()
    split = split_decay(model)
    assert set(split.decay_names) == EXPECTED_DECAY
    assert set(split.no_decay_names) == EXPECTED_NO_DECAY
    groups = param_groups(model, 0.05)
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)), "a parameter appears twice"
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert set(ids) == trainable, "every trainable parameter exactly once"
    assert id(model.head.weight) in {id(p) for p in groups[1]["params"]}


def test_optimizer_accepts_groups_and_decays_only_the_decay_group():
    model = Net()
    opt = torch.optim.AdamW(param_groups(model, 0.5), lr=0.1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient signal: only decay can move a weight
    opt.step()
    after = dict(model.named_parameters())
    for name in EXPECTED_DECAY:
        torch.testing.assert_close(after[name].detach(), before[name] * (1 - 0.1 * 0.5))
    for name in EXPECTED_NO_DECAY:
        assert torch.equal(after[name].detach(), before[name]), name


@pytest.mark.parametrize("flags,moved", [
    ({"decay_bias": True}, {"conv.bias", "fc.bias"}),  # norm biases stay: they belong to norms
    ({"decay_embedding": True}, {"embed.weight"}),
    ({"decay_norm": True}, {"bn.weight", "ln.weight", "gn.weight", "rms.weight", "ref_rms.weight",
                            "custom.scale"}),  # norm biases stay: they are biases
    ({"decay_bias": True, "decay_norm": True, "decay_embedding": True}, EXPECTED_NO_DECAY),
])
def test_flags_move_parameters_to_the_decay_group(flags, moved):
    split = split_decay(Net(), **flags)
    assert set(split.decay_names) == EXPECTED_DECAY | moved
    assert set(split.no_decay_names) == EXPECTED_NO_DECAY - moved


def test_no_decay_predicate_and_patterns():
    by_pattern = split_decay(Net(), no_decay=["pos", "conv.*"])
    assert set(by_pattern.decay_names) == {"fc.weight"}
    by_predicate = split_decay(Net(), no_decay=lambda name, p, m: p.ndim != 2)
    assert set(by_predicate.decay_names) == {"fc.weight"}
    only_predicate = split_decay(Net(), no_decay=lambda name, p, m: False, decay_bias=True,
                                 decay_norm=True, decay_embedding=True)
    assert only_predicate.no_decay_names == []


def test_frozen_parameters_are_skipped_unless_asked():
    assert "frozen.weight" not in split_decay(Net()).decay_names
    with_frozen = split_decay(Net(), include_frozen=True)
    assert {"frozen.weight"} <= set(with_frozen.decay_names)
    assert {"frozen.bias"} <= set(with_frozen.no_decay_names)


def test_empty_groups_are_left_out_and_negative_decay_rejected():
    groups = param_groups(nn.LayerNorm(4), 0.1)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.0
    torch.optim.SGD(groups, lr=0.1)
    with pytest.raises(ValueError):
        param_groups(nn.Linear(2, 2), -1.0)


def test_is_norm_module():
    assert is_norm_module(nn.BatchNorm2d(3)) and is_norm_module(nn.InstanceNorm1d(3))
    assert is_norm_module(TinyRMSNorm(3))  # recognized by its class name
    assert is_norm_module(RMSNorm(3)) and is_norm_module(nn.RMSNorm(3))
    assert not is_norm_module(nn.Linear(2, 2))
    assert not is_norm_module(nn.Sequential())
