"""Global-norm gradient clipping against torch.nn.utils.clip_grad_norm_."""

from __future__ import annotations

import pytest
import torch

from regadvisor.reference.clipping import clip_grad_norm


def _model_with_grads(seed: int, scale: float) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(7, 13), torch.nn.ReLU(), torch.nn.Linear(13, 3))
    (model(torch.randn(5, 7)) * scale).sum().backward()
    return model


@pytest.mark.parametrize("scale,max_norm", [(100.0, 1.0), (0.01, 1.0), (10.0, 0.5)])
def test_matches_torch(scale, max_norm):
    ours, theirs = _model_with_grads(0, scale), _model_with_grads(0, scale)
    norm_ours = clip_grad_norm(ours.parameters(), max_norm)
    norm_theirs = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm)
    torch.testing.assert_close(norm_ours, norm_theirs)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a.grad, b.grad)
    clipped = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in ours.parameters()]))
    assert clipped <= max_norm * (1 + 1e-5)
    if norm_ours < max_norm:  # below the threshold nothing changes direction or length
        torch.testing.assert_close(clipped, norm_ours)


def test_no_gradients_gives_zero():
    assert clip_grad_norm([torch.nn.Parameter(torch.ones(3))], 1.0).item() == 0.0
