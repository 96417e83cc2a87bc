"""Reference BatchNorm / LayerNorm / RMSNorm / GroupNorm against torch.nn, forward and backward."""

import pytest
import torch
from torch import nn

from regadvisor.reference import BatchNorm, GroupNorm, LayerNorm, RMSNorm

DTYPES = [torch.float32, torch.float64]


def randomize_affine(*modules):
    """Give twin modules the same non-trivial parameters (weight 1, bias 0 would hide bugs)."""
    names = [n for n, _ in modules[0].named_parameters()]
    for name in names:
        value = torch.randn_like(dict(modules[0].named_parameters())[name])
        for m in modules:
            with torch.no_grad():
                dict(m.named_parameters())[name].copy_(value)


def tolerance(dtype):
    """float32 gradients of the affine parameters are sums over N * spatial products, computed in a
    different order by torch's kernels; 1e-4 covers that rounding. float64 keeps the strict default."""
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {}


def compare_forward_backward(ref, tor, x):
    """Same output, same input gradient, same parameter gradients."""
    tol = tolerance(x.dtype)
    upstream = torch.randn_like(x)
    x_ref = x.clone().requires_grad_(True)
    x_tor = x.clone().requires_grad_(True)
    y_ref = ref(x_ref)
    y_tor = tor(x_tor)
    torch.testing.assert_close(y_ref, y_tor, **tol)
    y_ref.backward(upstream)
    y_tor.backward(upstream)
    torch.testing.assert_close(x_ref.grad, x_tor.grad, **tol)
    ref_params = dict(ref.named_parameters())
    tor_params = dict(tor.named_parameters())
    assert ref_params.keys() == tor_params.keys()
    for name in ref_params:
        torch.testing.assert_close(ref_params[name].grad, tor_params[name].grad, **tol, msg=lambda m, name=name: f"{name}: {m}")


# ---------------------------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------------------------

BN_CASES = [
    (nn.BatchNorm1d, (16, 5)),
    (nn.BatchNorm1d, (8, 6, 11)),
    (nn.BatchNorm2d, (4, 3, 7, 9)),
    (nn.BatchNorm3d, (2, 4, 3, 5, 6)),
]


@pytest.mark.parametrize("torch_cls,shape", BN_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_train_and_eval_match_torch(torch_cls, shape, dtype):
    c, eps = shape[1], 1e-3
    ref = BatchNorm(c, eps=eps, momentum=0.2, dtype=dtype)
    tor = torch_cls(c, eps=eps, momentum=0.2, dtype=dtype)
    randomize_affine(ref, tor)
    for _ in range(4):  # several steps so that the running statistics move
        x = torch.randn(shape, dtype=dtype) * 3 + 1.5
        compare_forward_backward(ref.train(), tor.train(), x)
    torch.testing.assert_close(ref.running_mean, tor.running_mean)
    torch.testing.assert_close(ref.running_var, tor.running_var)
    assert int(ref.num_batches_tracked) == int(tor.num_batches_tracked) == 4
    # Evaluation uses the running statistics: a different output than batch statistics.
    x = torch.randn(shape, dtype=dtype) * 3 + 1.5
    compare_forward_backward(ref.eval(), tor.eval(), x)
    assert not torch.allclose(ref.eval()(x), ref.train()(x))


def test_batchnorm_running_var_is_unbiased():
    x = torch.randn(5, 2, 3, dtype=torch.float64)  # n = 15 values per channel
    bn = BatchNorm(2, momentum=1.0, dtype=torch.float64).train()
    bn(x)
    per_channel = x.transpose(0, 1).reshape(2, -1)
    torch.testing.assert_close(bn.running_mean, per_channel.mean(1))
    torch.testing.assert_close(bn.running_var, per_channel.var(1, unbiased=True))
    assert not torch.allclose(bn.running_var, per_channel.var(1, unbiased=False))


def test_batchnorm_cumulative_average_when_momentum_none():
    ref = BatchNorm(3, momentum=None, dtype=torch.float64)
    tor = nn.BatchNorm2d(3, momentum=None, dtype=torch.float64)
    batches = [torch.randn(4, 3, 5, 5, dtype=torch.float64) + i for i in range(5)]
    for x in batches:
        ref(x)
        tor(x)
    torch.testing.assert_close(ref.running_mean, tor.running_mean)
    torch.testing.assert_close(ref.running_var, tor.running_var)
    expected_mean = torch.stack([x.mean(dim=(0, 2, 3)) for x in batches]).mean(0)
    torch.testing.assert_close(ref.running_mean, expected_mean)


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_without_running_stats_uses_batch_stats_in_eval(affine):
    ref = BatchNorm(4, affine=affine, track_running_stats=False, dtype=torch.float64).eval()
    tor = nn.BatchNorm2d(4, affine=affine, track_running_stats=False, dtype=torch.float64).eval()
    if affine:
        randomize_affine(ref, tor)
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64)
    compare_forward_backward(ref, tor, x)
    assert ref.running_mean is None and "running_mean" not in ref.state_dict()


def test_batchnorm_state_dict_is_interchangeable_with_torch():
    tor = nn.BatchNorm2d(3)
    for _ in range(3):
        tor(torch.randn(4, 3, 2, 2) * 2 + 1)
    ref = BatchNorm(3)
    ref.load_state_dict(tor.state_dict())
    x = torch.randn(4, 3, 2, 2)
    torch.testing.assert_close(ref.eval()(x), tor.eval()(x))


def test_batchnorm_rejects_wrong_channels_and_single_value_batches():
    with pytest.raises(ValueError, match="expects"):
        BatchNorm(3)(torch.randn(4, 5))
    with pytest.raises(ValueError, match="more than one value"):
        BatchNorm(3).train()(torch.randn(1, 3))


# ---------------------------------------------------------------------------------------------
# LayerNorm / RMSNorm
# ---------------------------------------------------------------------------------------------

LN_CASES = [((32, 16), (16,)), ((4, 10, 24), (24,)), ((3, 5, 6, 7), (6, 7))]


@pytest.mark.parametrize("shape,normalized", LN_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_layernorm_matches_torch(shape, normalized, dtype, mode):
    eps = 1e-6
    ref = LayerNorm(normalized, eps=eps, dtype=dtype).train(mode == "train")
    tor = nn.LayerNorm(normalized, eps=eps, dtype=dtype).train(mode == "train")
    randomize_affine(ref, tor)
    compare_forward_backward(ref, tor, torch.randn(shape, dtype=dtype) * 4 - 2)


def test_layernorm_without_bias_and_without_affine():
    x = torch.randn(6, 12, dtype=torch.float64)
    for kwargs in ({"bias": False}, {"elementwise_affine": False}):
        ref = LayerNorm(12, eps=1e-5, dtype=torch.float64, **kwargs)
        tor = nn.LayerNorm(12, eps=1e-5, dtype=torch.float64, **kwargs)
        assert [n for n, _ in ref.named_parameters()] == [n for n, _ in tor.named_parameters()]
        randomize_affine(ref, tor)
        compare_forward_backward(ref, tor, x)


@pytest.mark.parametrize("shape,normalized", LN_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_rmsnorm_matches_torch(shape, normalized, dtype, mode):
    eps = 1e-6
    ref = RMSNorm(normalized, eps=eps, dtype=dtype).train(mode == "train")
    tor = nn.RMSNorm(normalized, eps=eps, dtype=dtype).train(mode == "train")
    randomize_affine(ref, tor)
    compare_forward_backward(ref, tor, torch.randn(shape, dtype=dtype) * 4 + 1)


def test_rmsnorm_default_eps_follows_dtype_like_torch():
    x = torch.randn(4, 8) * 1e-4  # small enough for eps to matter
    torch.testing.assert_close(RMSNorm(8)(x), nn.RMSNorm(8)(x))
    assert not torch.allclose(RMSNorm(8, eps=1e-2)(x), nn.RMSNorm(8)(x))


def test_rmsnorm_does_not_center_and_layernorm_does():
    x = torch.randn(10, 32, dtype=torch.float64) + 5.0
    ln = LayerNorm(32, dtype=torch.float64)(x)
    rms = RMSNorm(32, eps=1e-8, dtype=torch.float64)(x)
    torch.testing.assert_close(ln.mean(-1), torch.zeros(10, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(rms.pow(2).mean(-1), torch.ones(10, dtype=torch.float64))
    assert (rms.mean(-1) > 0.5).all()


@pytest.mark.parametrize("cls,torch_cls", [(LayerNorm, nn.LayerNorm), (RMSNorm, nn.RMSNorm)])
def test_bfloat16_forward_close_to_torch(cls, torch_cls):
    x = torch.randn(16, 64).to(torch.bfloat16)
    ref = cls(64, eps=1e-5, dtype=torch.bfloat16)
    tor = torch_cls(64, eps=1e-5, dtype=torch.bfloat16)
    y_ref, y_tor = ref(x), tor(x)
    assert y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y_ref, y_tor, rtol=2e-2, atol=2e-2)


def test_layernorm_rejects_wrong_trailing_shape():
    with pytest.raises(ValueError, match="expects input ending"):
        LayerNorm(8)(torch.randn(3, 9))


# ---------------------------------------------------------------------------------------------
# GroupNorm
# ---------------------------------------------------------------------------------------------

GN_CASES = [(4, (6, 24)), (2, (3, 6, 10)), (3, (2, 12, 5, 7)), (1, (4, 4, 3, 3)), (8, (2, 8, 3, 3, 2))]


@pytest.mark.parametrize("groups,shape", GN_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_groupnorm_matches_torch(groups, shape, dtype, mode):
    eps = 1e-4
    ref = GroupNorm(groups, shape[1], eps=eps, dtype=dtype).train(mode == "train")
    tor = nn.GroupNorm(groups, shape[1], eps=eps, dtype=dtype).train(mode == "train")
    randomize_affine(ref, tor)
    compare_forward_backward(ref, tor, torch.randn(shape, dtype=dtype) * 2 + 3)


def test_groupnorm_is_batch_independent_unlike_batchnorm():
    x = torch.randn(8, 4, 5, 5, dtype=torch.float64)
    gn = GroupNorm(2, 4, dtype=torch.float64)
    bn = BatchNorm(4, dtype=torch.float64).train()
    torch.testing.assert_close(gn(x)[:2], gn(x[:2]))
    assert not torch.allclose(bn(x)[:2], bn(x[:2]))


def test_groupnorm_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="divisible"):
        GroupNorm(3, 8)

