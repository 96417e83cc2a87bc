"""Gradient clipping by global norm.

Pascanu, Mikolov & Bengio ("On the difficulty of training recurrent neural networks", ICML
2013) rescale the whole gradient when its norm exceeds a threshold: the direction of the step is
kept, only its length is capped, so one batch with an exploding gradient cannot throw the
parameters far from where training was going. The norm is taken over *all* parameters together
(the concatenation of every gradient), not per tensor, which is what
``torch.nn.utils.clip_grad_norm_`` does.

Typical thresholds: 1.0 is the default of GPT-2-style training (nanoGPT ``grad_clip = 1.0``)
and of the Hugging Face Trainer (``max_grad_norm=1.0``); 0.5–5 is common for RNNs. A threshold
far below the usual gradient norm turns training into normalized gradient descent, i.e. it
changes the effective learning rate; regadvisor's logs view shows the 90th percentile of your
own norms as a gentler alternative.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor

__all__ = ["clip_grad_norm"]


def clip_grad_norm(parameters: Iterable[Tensor], max_norm: float, eps: float = 1e-6) -> Tensor:
    """Scale all gradients in place so that their global L2 norm is at most ``max_norm``.

    Returns the norm *before* clipping (log it: its spikes are what DV004 looks for). The
    ``eps`` keeps the scale finite for an all-zero gradient, as torch's version does.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (total + eps), max=1.0)
    for g in grads:
        g.mul_(scale.to(g.dtype))
    return total
