"""Reference dropout against torch: the expectation contract, exact masks, gradients."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from regadvisor.reference import ChannelDropout, Dropout, channel_dropout, dropout

SHAPES = [(1000,), (64, 33), (8, 16, 7, 5)]
DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_training_preserves_mean_and_drops_fraction_p(p):
    n = 200_000
    x = torch.full((n,), 3.0, dtype=torch.float64)
    y = dropout(x, p, training=True)
    # Each output is 3 * B / (1 - p), B ~ Bernoulli(1 - p): mean 3, variance 9 * p / (1 - p).
    mean_sd = 3.0 * math.sqrt(p / (1 - p) / n)
    assert abs(y.mean().item() - 3.0) < 5 * mean_sd
    dropped = (y == 0).double().mean().item()
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n)
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 3.0 / (1 - p)))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_eval_mode_is_identity(shape, dtype):
    x = torch.randn(shape, dtype=dtype)
    module = Dropout(0.5).eval()
    assert torch.equal(module(x), x)
    assert torch.equal(module(x), nn.Dropout(0.5).eval()(x))
    assert torch.equal(dropout(x, 0.0, training=True), x)


def test_p_one_zeroes_everything_and_keeps_gradient_path():
    x = torch.randn(10, 4, requires_grad=True)
    y = dropout(x, 1.0, training=True)
    assert torch.equal(y, torch.zeros_like(x))
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_invalid_probability_is_rejected(bad):
    with pytest.raises(ValueError):
        Dropout(bad)
    with pytest.raises(ValueError):
        dropout(torch.ones(3), bad)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_same_seed_same_mask_and_gradient_as_torch(shape, dtype, p):
    base = torch.randn(shape, dtype=dtype)
    upstream = torch.randn(shape, dtype=dtype)

    x_ref = base.clone().requires_grad_(True)
    torch.manual_seed(7)
    y_ref = Dropout(p).train()(x_ref)
    y_ref.backward(upstream)

    x_torch = base.clone().requires_grad_(True)
    torch.manual_seed(7)
    y_torch = nn.Dropout(p).train()(x_torch)
    y_torch.backward(upstream)

    torch.testing.assert_close(y_ref, y_torch)
    torch.testing.assert_close(x_ref.grad, x_torch.grad)
    # The gradient is the mask: 0 where dropped, 1 / (1 - p) where kept.
    expected = torch.where(y_ref == 0, 0.0, 1.0 / (1 - p)).to(dtype) * upstream
    torch.testing.assert_close(x_ref.grad, expected)


@pytest.mark.parametrize("shape,torch_fn", [
    ((6, 5, 40), F.dropout1d),
    ((6, 5, 9, 7), F.dropout2d),
    ((4, 3, 5, 4, 6), F.dropout3d),
])
def test_channel_dropout_zeroes_whole_channels_and_matches_torch(shape, torch_fn):
    x = torch.rand(shape, dtype=torch.float64) + 0.5  # strictly positive: zero means dropped
    x_ref = x.clone().requires_grad_(True)
    torch.manual_seed(3)
    y = ChannelDropout(0.5).train()(x_ref)
    per_channel = y.flatten(2)
    zero_channels = (per_channel == 0).all(dim=2)
    kept_channels = (per_channel != 0).all(dim=2)
    assert torch.equal(zero_channels | kept_channels, torch.ones_like(zero_channels))
    assert zero_channels.any() and kept_channels.any()
    torch.testing.assert_close(per_channel[kept_channels], (x.flatten(2) * 2.0)[kept_channels])

    y.sum().backward()
    x_torch = x.clone().requires_grad_(True)
    torch.manual_seed(3)
    y_torch = torch_fn(x_torch, 0.5, training=True)
    y_torch.sum().backward()
    torch.testing.assert_close(y, y_torch)
    torch.testing.assert_close(x_ref.grad, x_torch.grad)


def test_channel_dropout_fraction_and_mean():
    p, n, c = 0.3, 500, 200
    x = torch.ones(n, c, 4, 4, dtype=torch.float64)
    y = channel_dropout(x, p, training=True)
    dropped = (y.flatten(2) == 0).all(dim=2).double().mean().item()
    trials = n * c
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / trials)
    mean_sd = math.sqrt(p / (1 - p) / trials)  # one decision per channel
    assert abs(y.mean().item() - 1.0) < 5 * mean_sd


def test_channel_dropout_eval_identity_and_rejects_unbatched():
    x = torch.randn(2, 3, 4)
    assert torch.equal(ChannelDropout(0.5).eval()(x), x)
    with pytest.raises(ValueError, match="spatial"):
        channel_dropout(torch.randn(4, 5), 0.5, training=True)
