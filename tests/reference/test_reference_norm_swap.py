"""make_norm and swap_norms: every kind, both layouts, both implementations, shapes preserved."""

import pytest
import torch
from torch import nn

from regadvisor.reference import (
    NORM_KINDS,
    BatchNorm,
    GroupNorm,
    LayerNorm,
    NoNorm,
    RMSNorm,
    default_num_groups,
    make_norm,
    swap_norms,
)

CHANNELS_LAST_INPUTS = [(16, 24), (4, 10, 24)]
CHANNELS_FIRST_INPUTS = [(16, 24), (4, 24, 9), (4, 24, 5, 6)]


def copy_state(src, dst):
    """Random parameters in ``src``, copied to ``dst`` (the keys must agree)."""
    with torch.no_grad():
        for p in src.parameters():
            p.copy_(torch.randn_like(p))
    dst.load_state_dict(src.state_dict())


def test_norm_kinds_are_the_design_knob_values():
    assert NORM_KINDS == ("batchnorm", "layernorm", "rmsnorm", "groupnorm", "none")


@pytest.mark.parametrize("kind", NORM_KINDS)
@pytest.mark.parametrize("layout,shapes", [("channels_last", CHANNELS_LAST_INPUTS),
                                           ("channels_first", CHANNELS_FIRST_INPUTS)])
def test_reference_and_torch_impl_compute_the_same_function(kind, layout, shapes):
    for shape in shapes:
        ref = make_norm(kind, 24, layout=layout, impl="reference", dtype=torch.float64)
        tor = make_norm(kind, 24, layout=layout, impl="torch", dtype=torch.float64)
        copy_state(ref, tor)
        for training in (True, False):
            ref.train(training)
            tor.train(training)
            x = (torch.randn(shape, dtype=torch.float64) * 2 + 1).requires_grad_(True)
            x2 = x.detach().clone().requires_grad_(True)
            y, y2 = ref(x), tor(x2)
            assert y.shape == x.shape
            torch.testing.assert_close(y, y2)
            y.pow(2).sum().backward()
            y2.pow(2).sum().backward()
            torch.testing.assert_close(x.grad, x2.grad)


def test_make_norm_builds_the_expected_torch_layers():
    assert isinstance(make_norm("batchnorm", 8, layout="channels_first", impl="torch", spatial_dims=2), nn.BatchNorm2d)
    assert isinstance(make_norm("batchnorm", 8, layout="channels_first", impl="torch", spatial_dims=1), nn.BatchNorm1d)
    assert isinstance(make_norm("layernorm", 8, impl="torch"), nn.LayerNorm)
    assert isinstance(make_norm("rmsnorm", 8, impl="torch"), nn.RMSNorm)
    gn = make_norm("groupnorm", 64, layout="channels_first", impl="torch")
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 32
    ln_conv = make_norm("layernorm", 8, layout="channels_first", impl="torch")
    assert isinstance(ln_conv, nn.GroupNorm) and ln_conv.num_groups == 1
    assert isinstance(make_norm("layernorm", 8), LayerNorm)
    assert isinstance(make_norm("none", 8), NoNorm)
    assert make_norm("rmsnorm", 8).eps == 1e-5
    assert make_norm("batchnorm", 8, layout="channels_first", momentum=0.3).momentum == 0.3


def test_channels_first_layernorm_is_groupnorm_with_one_group():
    x = torch.randn(3, 6, 4, 5, dtype=torch.float64)
    ln = make_norm("layernorm", 6, layout="channels_first", dtype=torch.float64)
    per_sample = x.flatten(1)
    expected = ((per_sample - per_sample.mean(1, keepdim=True))
                / torch.sqrt(per_sample.var(1, unbiased=False, keepdim=True) + 1e-5)).reshape(x.shape)
    torch.testing.assert_close(ln(x), expected)
    # On (N, C) features it is exactly a LayerNorm over C.
    feats = torch.randn(5, 6, dtype=torch.float64)
    torch.testing.assert_close(ln(feats), nn.LayerNorm(6, dtype=torch.float64)(feats))


def test_channels_last_batchnorm_normalizes_each_channel_over_batch_and_time():
    x = torch.randn(4, 7, 5, dtype=torch.float64)  # (N, T, C)
    bn = make_norm("batchnorm", 5, layout="channels_last", dtype=torch.float64).train()
    expected = nn.BatchNorm1d(5, dtype=torch.float64).train()(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(bn(x), expected)


def test_channels_last_groupnorm_is_per_position():
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    gn = make_norm("groupnorm", 8, layout="channels_last", num_groups=1, dtype=torch.float64)
    torch.testing.assert_close(gn(x), nn.LayerNorm(8, dtype=torch.float64)(x))
    # Changing one token leaves the others untouched.
    y = x.clone()
    y[:, 0] += 10
    torch.testing.assert_close(gn(x)[:, 1:], gn(y)[:, 1:])


def test_channels_first_rmsnorm_normalizes_each_position_over_channels():
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64)
    norm = make_norm("rmsnorm", 6, layout="channels_first", dtype=torch.float64)
    torch.testing.assert_close(norm(x).pow(2).mean(1), torch.ones(2, 3, 3, dtype=torch.float64), rtol=1e-4, atol=1e-4)


def test_default_num_groups():
    assert default_num_groups(64) == 32
    assert default_num_groups(24) == 24
    assert default_num_groups(48) == 24
    assert default_num_groups(7) == 7
    assert default_num_groups(37) == 1


@pytest.mark.parametrize("bad", [{"kind": "instancenorm"}, {"layout": "nhwc"}, {"impl": "apex"}])
def test_make_norm_rejects_unknown_choices(bad):
    args = {"kind": "layernorm", **bad}
    kind = args.pop("kind")
    with pytest.raises(ValueError):
        make_norm(kind, 8, **args)


# ---------------------------------------------------------------------------------------------
# swap_norms
# ---------------------------------------------------------------------------------------------

def cnn():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10), nn.BatchNorm1d(10),
    )


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.norm2 = nn.RMSNorm(d, eps=1e-6)

    def forward(self, x):
        return self.norm2(x + self.ff(self.norm1(x)))


def transformer():
    return nn.Sequential(Block(16), Block(16))


EXPECTED_CLASSES = {
    "batchnorm": {"BatchNorm1d", "BatchNorm2d", "BatchNorm"},
    "layernorm": {"LayerNorm", "GroupNorm"},  # GroupNorm(1, C) on conv feature maps
    "rmsnorm": {"RMSNorm"},
    "groupnorm": {"GroupNorm"},
    "none": {"NoNorm"},
}
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.RMSNorm, nn.GroupNorm,
              BatchNorm, LayerNorm, RMSNorm, GroupNorm, NoNorm)


@pytest.mark.parametrize("kind", NORM_KINDS)
@pytest.mark.parametrize("impl", ["torch", "reference"])
@pytest.mark.parametrize("build,shape,count", [(cnn, (4, 3, 8, 8), 3), (transformer, (2, 5, 16), 4)])
def test_swap_norms_every_kind_keeps_shapes_and_trains(kind, impl, build, shape, count):
    model = build()
    x = torch.randn(shape)
    before = model(x).shape
    swaps = swap_norms(model, kind, impl=impl)
    assert len(swaps) == count and all(s.new is not None for s in swaps)
    assert model(x).shape == before
    norms = [m for m in model.modules() if isinstance(m, NORM_TYPES)]
    assert len(norms) == count
    assert {type(m).__name__ for m in norms} <= EXPECTED_CLASSES[kind]
    if kind != "none":
        loss = model(x).pow(2).mean()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())


def test_swap_norms_reads_layout_from_the_layer_replaced():
    model = cnn()
    swaps = swap_norms(model, "layernorm")
    assert [s.layout for s in swaps] == ["channels_first"] * 3
    assert isinstance(model[1], nn.GroupNorm) and model[1].num_groups == 1 and model[1].num_channels == 16
    block = transformer()
    swaps = swap_norms(block, "groupnorm", num_groups=4)
    assert {s.layout for s in swaps} == {"channels_last"}
    assert [s.name for s in swaps] == ["0.norm1", "0.norm2", "1.norm1", "1.norm2"]


def test_swap_back_and_forth_including_none():
    model = cnn()
    swap_norms(model, "none")
    assert all(isinstance(model[i], NoNorm) for i in (1, 4, 9))
    swap_norms(model, "rmsnorm")
    swap_norms(model, "batchnorm")
    assert isinstance(model[1], nn.BatchNorm2d) and model[1].num_features == 16
    assert isinstance(model[9], nn.BatchNorm1d) and model[9].num_features == 10
    assert model(torch.randn(4, 3, 8, 8)).shape == (4, 10)


def test_swap_keeps_dtype_eps_affine_and_mode():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8, eps=1e-3, elementwise_affine=False)).double().eval()
    swap_norms(model, "rmsnorm")
    new = model[1]
    assert isinstance(new, nn.RMSNorm) and new.eps == 1e-3 and new.weight is None and not new.training
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8)).double()
    swap_norms(model, "groupnorm", eps=1e-4)
    assert model[1].weight.dtype == torch.float64 and model[1].eps == 1e-4 and model[1].training
    assert model(torch.randn(2, 3, 4, 4, dtype=torch.float64)).dtype == torch.float64


def test_swap_leaves_multi_dimensional_layernorm_and_says_why():
    model = nn.Sequential(nn.Identity(), nn.LayerNorm([4, 5]))
    swaps = swap_norms(model, "rmsnorm")
    assert isinstance(model[1], nn.LayerNorm)
    assert swaps[0].new is None and "several dimensions" in swaps[0].reason


def test_swap_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown normalization"):
        swap_norms(cnn(), "weightnorm")


@pytest.mark.parametrize(("layout", "spatial", "channels", "groups"), [
    ("channels_first", 2, 64, 32),      # feature maps: Wu & He's 32 groups
    ("channels_first", None, 64, 32),
    ("channels_first", 1, 64, 4),       # BatchNorm1d's place, may see (N, C): 16 channels a group
    ("channels_last", None, 64, 4),
    ("channels_last", None, 512, 32),
    ("channels_last", None, 24, 1),     # fewer than 2 × 16 channels: one group, i.e. LayerNorm
])
def test_groupnorm_default_groups_keep_enough_values_per_statistic(layout, spatial, channels, groups):
    norm = make_norm("groupnorm", channels, layout=layout, spatial_dims=spatial, impl="torch")
    gn = norm.norm if hasattr(norm, "norm") else norm
    assert gn.num_groups == groups
