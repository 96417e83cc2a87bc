"""Label-smoothed cross entropy against F.cross_entropy, and mixup."""

import math

import pytest
import torch
import torch.nn.functional as F

from regadvisor.reference import (
    LabelSmoothingCrossEntropy,
    label_smoothed_cross_entropy,
    mixup,
    mixup_cross_entropy,
    mixup_loss,
    sample_lambda,
    smooth_targets,
)

SHAPES = [(12, 5), (6, 7, 4), (3, 4, 5, 2)]  # (N, C, *)


def make_case(shape, dtype, ignore=False):
    logits = torch.randn(shape, dtype=dtype) * 3
    target_shape = (shape[0],) + shape[2:]
    target = torch.randint(0, shape[1], target_shape)
    if ignore:
        target.view(-1)[::3] = -100
    return logits, target


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch_forward_and_backward(shape, dtype, smoothing, reduction):
    logits, target = make_case(shape, dtype)
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    ours = label_smoothed_cross_entropy(a, target, smoothing, reduction=reduction)
    theirs = F.cross_entropy(b, target, label_smoothing=smoothing, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    upstream = torch.randn_like(ours)
    ours.backward(upstream)
    theirs.backward(upstream)
    torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch_with_class_weights_and_ignore_index(shape, reduction):
    logits, target = make_case(shape, torch.float64, ignore=True)
    weight = torch.rand(shape[1], dtype=torch.float64) + 0.2
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    loss_fn = LabelSmoothingCrossEntropy(0.2, weight=weight, reduction=reduction)
    ours = loss_fn(a, target)
    theirs = F.cross_entropy(b, target, weight=weight, label_smoothing=0.2, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(a.grad, b.grad)
    assert torch.equal(a.grad.movedim(1, -1)[target == -100], torch.zeros_like(a.grad.movedim(1, -1)[target == -100]))


def test_equals_cross_entropy_against_smoothed_distribution():
    logits, target = make_case((10, 6), torch.float64)
    q = smooth_targets(target, 6, 0.1).to(torch.float64)
    torch.testing.assert_close(q.sum(-1), torch.ones(10, dtype=torch.float64))
    torch.testing.assert_close(q[torch.arange(10), target], torch.full((10,), 0.9 + 0.1 / 6, dtype=torch.float64))
    torch.testing.assert_close(label_smoothed_cross_entropy(logits, target, 0.1), F.cross_entropy(logits, q))


def test_smoothing_penalizes_overconfidence():
    target = torch.tensor([0])
    confident = torch.tensor([[20.0, 0.0, 0.0]])
    moderate = torch.tensor([[4.0, 0.0, 0.0]])
    assert F.cross_entropy(confident, target) < F.cross_entropy(moderate, target)
    assert label_smoothed_cross_entropy(confident, target, 0.1) > label_smoothed_cross_entropy(moderate, target, 0.1)


def test_rejects_bad_arguments():
    logits, target = make_case((4, 3), torch.float32)
    with pytest.raises(ValueError):
        label_smoothed_cross_entropy(logits, target, 1.5)
    with pytest.raises(ValueError):
        label_smoothed_cross_entropy(logits, target, 0.1, reduction="avg")


# ---------------------------------------------------------------------------------------------
# mixup
# ---------------------------------------------------------------------------------------------

def test_mixup_mixes_inputs_and_pairs_targets():
    x = torch.randn(16, 3, 4, 4)
    y = torch.randint(0, 10, (16,))
    batch = mixup(x, y, lam=0.7, generator=torch.Generator().manual_seed(0))
    assert sorted(batch.index.tolist()) == list(range(16))
    assert not torch.equal(batch.index, torch.arange(16))
    torch.testing.assert_close(batch.inputs, 0.7 * x + 0.3 * x[batch.index])
    assert torch.equal(batch.targets_a, y) and torch.equal(batch.targets_b, y[batch.index])
    assert batch.lam == 0.7


def test_mixup_loss_is_cross_entropy_against_mixed_targets():
    x = torch.randn(8, 5, dtype=torch.float64)
    y = torch.randint(0, 4, (8,))
    batch = mixup(x, y, alpha=0.4)
    outputs = torch.randn(8, 4, dtype=torch.float64, requires_grad=True)
    loss = mixup_cross_entropy(outputs, batch)
    soft = batch.lam * F.one_hot(batch.targets_a, 4) + (1 - batch.lam) * F.one_hot(batch.targets_b, 4)
    torch.testing.assert_close(loss, F.cross_entropy(outputs, soft.to(torch.float64)))
    torch.testing.assert_close(loss, mixup_loss(F.cross_entropy, outputs, batch))
    loss.backward()
    assert outputs.grad is not None


def test_alpha_zero_and_lam_one_leave_the_batch_alone():
    x = torch.randn(6, 2)
    assert sample_lambda(0.0) == 1.0
    batch = mixup(x, torch.zeros(6, dtype=torch.long), alpha=0.0)
    assert batch.lam == 1.0 and torch.equal(batch.inputs, x)
    with pytest.raises(ValueError):
        mixup(x, torch.zeros(6, dtype=torch.long), lam=1.5)


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_lambda_follows_beta_alpha_alpha(alpha):
    n = 4000
    lams = torch.tensor([sample_lambda(alpha) for _ in range(n)], dtype=torch.float64)
    assert ((lams >= 0) & (lams <= 1)).all()
    var = 1.0 / (4 * (2 * alpha + 1))  # variance of Beta(a, a)
    assert abs(lams.mean().item() - 0.5) < 5 * math.sqrt(var / n)
    # For a variable in [0, 1] the sample variance has sd <= sqrt(var / n).
    assert abs(lams.var().item() - var) < 5 * math.sqrt(var / n)


def test_generator_makes_mixup_reproducible():
    x = torch.randn(10, 3)
    y = torch.arange(10)
    first = mixup(x, y, alpha=0.2, generator=torch.Generator().manual_seed(5))
    second = mixup(x, y, alpha=0.2, generator=torch.Generator().manual_seed(5))
    third = mixup(x, y, alpha=0.2, generator=torch.Generator().manual_seed(6))
    assert first.lam == second.lam and torch.equal(first.index, second.index)
    assert first.lam != third.lam
