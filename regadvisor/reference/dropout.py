"""Inverted dropout and channel (spatial) dropout.

Dropout (Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: A Simple Way to
Prevent Neural Networks from Overfitting", JMLR 15(56):1929-1958, 2014) sets each unit to zero
with probability ``p`` during training, so that no unit can rely on a particular set of other
units being present. The paper scales weights by ``1 - p`` at test time; every modern framework
instead uses *inverted* dropout: survivors are multiplied by ``1 / (1 - p)`` while training, so
that ``E[dropout(x)] = x`` element-wise and evaluation is the plain identity. Nothing has to be
rescaled when the model is switched to ``eval()``.

Typical drop probabilities (the values regadvisor recommends start from these):

* ``p = 0.5`` for the hidden layers of a fully connected network (Srivastava et al. 2014 used
  0.5 for hidden units and about 0.2 for inputs);
* ``p = 0.1`` inside transformers (attention weights, residual branches; Vaswani et al. 2017);
* ``p = 0.1`` to ``0.3`` in CNN heads, often none at all when the network has BatchNorm;
* ``p = 0`` for large-language-model pre-training on effectively unlimited data.

Channel dropout (``torch.nn.Dropout1d/2d/3d``; Tompson et al., "Efficient Object Localization
Using Convolutional Networks", CVPR 2015) drops whole feature maps instead of single
activations: neighbouring pixels of a convolutional feature map are strongly correlated, so
zeroing isolated pixels removes almost no information, whereas zeroing a whole channel does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["dropout", "channel_dropout", "Dropout", "ChannelDropout"]


def _check_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    return float(p)


def _keep_mask(shape: tuple[int, ...], p: float, like: Tensor, generator: torch.Generator | None) -> Tensor:
    """A tensor of ``0`` (dropped) and ``1 / (1 - p)`` (kept) entries of the given shape.

    Each entry is kept independently with probability ``1 - p``. Building the mask with
    ``bernoulli_`` on a fresh tensor and then dividing is the same recipe torch uses on the CPU,
    so under the same seed this module draws exactly the same mask as ``torch.nn.Dropout``.
    """
    keep = 1.0 - p
    mask = torch.empty(shape, dtype=like.dtype, device=like.device)
    mask.bernoulli_(keep, generator=generator)
    return mask.div_(keep)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, *, generator: torch.Generator | None = None) -> Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale survivors by ``1/(1-p)``.

    In training the expected value of every output element equals its input
    (``(1 - p) * x / (1 - p) = x``), which is why evaluation can return ``x`` unchanged.
    The gradient with respect to ``x`` is the same mask: dropped units receive no gradient and
    kept units receive ``1 / (1 - p)`` times the upstream gradient.

    Equivalent to ``torch.nn.functional.dropout(x, p, training)``. Typical ``p``: 0.5 for MLP
    hidden layers, 0.1 for transformers (Srivastava et al. 2014, JMLR 15).
    """
    p = _check_p(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * torch.zeros_like(x)
    return x * _keep_mask(tuple(x.shape), p, x, generator)


def channel_dropout(x: Tensor, p: float = 0.5, training: bool = True, *,
                    generator: torch.Generator | None = None) -> Tensor:
    """Channel ("spatial") dropout: zero whole channels of an ``(N, C, *spatial)`` tensor.

    One keep/drop decision is drawn per (sample, channel) pair and broadcast over all spatial
    positions, so a dropped channel is zero everywhere in that sample. Survivors are scaled by
    ``1 / (1 - p)`` exactly as in :func:`dropout`, so the expectation is preserved.

    Equivalent to ``torch.nn.functional.dropout1d/2d/3d`` for batched input with 1, 2 or 3
    spatial dimensions (Tompson et al. 2015; dropout itself: Srivastava et al. 2014, JMLR 15).
    Typical ``p``: 0.1 to 0.2 for convolutional feature maps.
    """
    p = _check_p(p)
    if x.dim() < 3:
        raise ValueError(
            f"channel_dropout expects a batched (N, C, *spatial) tensor with at least one spatial "
            f"dimension, got shape {tuple(x.shape)}; use dropout() for (N, C) features"
        )
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * torch.zeros_like(x)
    per_channel = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
    return x * _keep_mask(per_channel, p, x, generator)


class Dropout(nn.Module):
    """Module form of :func:`dropout`; active in ``train()`` mode, the identity in ``eval()``.

    A drop-in replacement for ``torch.nn.Dropout(p)`` (Srivastava et al. 2014, JMLR 15).
    Typical ``p``: 0.5 for MLP hidden layers, 0.1 for transformers.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = _check_p(p)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ChannelDropout(nn.Module):
    """Module form of :func:`channel_dropout`, replacing ``torch.nn.Dropout1d/2d/3d(p)``.

    Works for any number of spatial dimensions; the input must be batched ``(N, C, *spatial)``.
    Typical ``p``: 0.1 to 0.2 on convolutional feature maps (Tompson et al. 2015).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = _check_p(p)

    def forward(self, x: Tensor) -> Tensor:
        return channel_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
