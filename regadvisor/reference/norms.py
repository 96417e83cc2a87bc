"""BatchNorm, LayerNorm, RMSNorm and GroupNorm, a factory that swaps them, and ``swap_norms``.

All four layers compute ``y = (x - mean) / sqrt(var + eps) * weight + bias`` (RMSNorm: without
the mean and the bias); they differ only in *which elements share a mean and a variance*:

==========  ==============================================  ================================
layer       statistics over                                  source, typical use
==========  ==============================================  ================================
BatchNorm   the batch and spatial positions, per channel    Ioffe & Szegedy 2015; CNNs with
                                                             batch >= 32
LayerNorm   the features of one sample (one token)          Ba, Kiros & Hinton 2016;
                                                             transformers, RNNs
RMSNorm     the features of one sample, no centering        Zhang & Sennrich 2019; LLaMA-style
                                                             pre-norm transformers
GroupNorm   groups of channels (and positions) of a sample  Wu & He 2018; CNNs with small
                                                             batches (< 32 per device)
==========  ==============================================  ================================

Only BatchNorm depends on the other samples of the batch, which is why it needs running
statistics for evaluation and why it becomes noisy with small batches: Wu & He (2018, ECCV)
report ResNet-50 ImageNet top-1 error with BatchNorm rising from about 23.6% at 32 images per
GPU to 24.8% at 8, 27.3% at 4 and 34.7% at 2, while GroupNorm (32 groups) stays near 24.1%.
RMSNorm drops the mean subtraction; Zhang & Sennrich (2019, NeurIPS) report 7% to 64% less
running time than LayerNorm on their RNN/transformer models with comparable accuracy
(measure it on your own hardware: ``benchmarks/bench_norms.py``).

Variances are the biased (divide-by-``n``) estimate when normalizing, as in every framework;
BatchNorm's running variance stores the unbiased (``n - 1``) estimate, as torch does. They are
computed as the mean of squared deviations from the mean (two passes, numerically safe) rather
than with ``Tensor.var``: on torch 2.13's CPU build ``x.var(-1)`` over a ``(1024, 512)`` float32
tensor took about 2.8 ms against 0.16 ms for the two-pass form. Half
precision inputs are normalized in float32 and cast back, like torch's CPU kernels.

The modules keep torch's parameter and buffer names (``weight``, ``bias``, ``running_mean``,
``running_var``, ``num_batches_tracked``), so a ``state_dict`` moves between a reference layer
and its ``torch.nn`` twin unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "NORM_KINDS",
    "BatchNorm",
    "LayerNorm",
    "RMSNorm",
    "GroupNorm",
    "ChannelsFirst",
    "ChannelsLast",
    "NoNorm",
    "default_num_groups",
    "make_norm",
    "swap_norms",
    "Swap",
]

NORM_KINDS = ("batchnorm", "layernorm", "rmsnorm", "groupnorm", "none")
"""The values of the ``normalization`` recommendation knob (docs/ARCHITECTURE.md), in this order."""

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _compute_dtype(x: Tensor) -> Tensor:
    return x.float() if x.dtype in _LOW_PRECISION else x


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: Sequence[int]) -> Tensor:
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


# ---------------------------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------------------------

class BatchNorm(nn.Module):
    """Batch normalization over ``(N, C)`` or ``(N, C, *spatial)`` inputs, any number of spatial dims.

    Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
    Internal Covariate Shift", ICML 2015. In training each channel is normalized with the mean
    and (biased) variance of that channel over the batch and all positions, and the running
    estimates move towards the batch values::

        running_mean <- (1 - momentum) * running_mean + momentum * batch_mean
        running_var  <- (1 - momentum) * running_var  + momentum * batch_var * n / (n - 1)

    with ``n`` the number of values per channel. ``momentum=None`` gives a cumulative average
    (factor ``1 / num_batches_tracked``). In evaluation the running estimates are used, so the
    output of a sample no longer depends on the rest of the batch. With
    ``track_running_stats=False`` batch statistics are used in both modes.

    Replaces ``torch.nn.BatchNorm1d/2d/3d`` (same defaults: ``eps=1e-5``, ``momentum=0.1``;
    the paper's setting is batches of 32 or more per device — below that, prefer GroupNorm).
    """

    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}) expects (N, {self.num_features}, *) input, "
                f"got shape {tuple(x.shape)}"
            )
        xc = _compute_dtype(x)
        reduce_dims = [0] + list(range(2, x.dim()))
        stat_shape = [1, self.num_features] + [1] * (x.dim() - 2)
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            n = x.numel() // self.num_features
            if self.training and n <= 1:
                raise ValueError(
                    f"BatchNorm needs more than one value per channel in training, got input shape {tuple(x.shape)}"
                )
            mean = xc.mean(dim=reduce_dims)
            var = (xc - mean.reshape(stat_shape)).pow(2).mean(dim=reduce_dims)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n)
        else:
            assert self.running_mean is not None and self.running_var is not None  # tracked, or batch stats above
            mean = self.running_mean.to(xc.dtype)
            var = self.running_var.to(xc.dtype)
        y = (xc - mean.reshape(stat_shape)) * torch.rsqrt(var.reshape(stat_shape) + self.eps)
        return _affine(y, self.weight, self.bias, stat_shape).to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, n: int) -> None:
        assert self.running_mean is not None and self.running_var is not None and self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        if self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        unbiased_var = var * (n / (n - 1))
        self.running_mean.mul_(1.0 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1.0 - factor).add_(unbiased_var.to(self.running_var.dtype), alpha=factor)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


# ---------------------------------------------------------------------------------------------
# LayerNorm and RMSNorm
# ---------------------------------------------------------------------------------------------

def _as_shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)


def _check_trailing(x: Tensor, shape: tuple[int, ...], who: str) -> tuple[int, ...]:
    if tuple(x.shape[x.dim() - len(shape):]) != shape or x.dim() < len(shape):
        raise ValueError(f"{who}{list(shape)} expects input ending in {shape}, got shape {tuple(x.shape)}")
    return tuple(range(x.dim() - len(shape), x.dim()))


class LayerNorm(nn.Module):
    """Layer normalization over the trailing ``normalized_shape`` dimensions of each sample.

    Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450, 2016. Every sample (every
    token, for a sequence) is centred and scaled by its own mean and biased variance over the
    last ``len(normalized_shape)`` dimensions, then an element-wise ``weight`` and ``bias`` are
    applied. Training and evaluation compute the same thing, and the result does not depend on
    the batch size, which suits transformers (pre-norm, Xiong et al. 2020) and RNNs.

    Replaces ``torch.nn.LayerNorm`` (same default ``eps=1e-5``; ``bias=False`` keeps only the
    gain, as in ``torch.nn.LayerNorm(bias=False)``).
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, **factory))
            self.bias = nn.Parameter(torch.zeros(self.normalized_shape, **factory)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        dims = _check_trailing(x, self.normalized_shape, "LayerNorm")
        xc = _compute_dtype(x)
        centered = xc - xc.mean(dim=dims, keepdim=True)
        var = centered.pow(2).mean(dim=dims, keepdim=True)
        y = centered * torch.rsqrt(var + self.eps)
        return _affine(y, self.weight, self.bias, self.normalized_shape).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(nn.Module):
    """Root-mean-square normalization: ``y = x / sqrt(mean(x**2) + eps) * weight``.

    Zhang & Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019. LayerNorm without
    the re-centering: the authors argue re-scaling invariance is what matters and report 7% to
    64% less running time than LayerNorm at similar quality. It is the norm of LLaMA-family
    pre-norm transformers (eps 1e-5 or 1e-6). There is no bias.

    Replaces ``torch.nn.RMSNorm`` (torch >= 2.4). As there, ``eps=None`` means
    ``torch.finfo(x.dtype).eps``.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def forward(self, x: Tensor) -> Tensor:
        dims = _check_trailing(x, self.normalized_shape, "RMSNorm")
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        xc = _compute_dtype(x)
        mean_square = xc.pow(2).mean(dim=dims, keepdim=True)
        y = xc * torch.rsqrt(mean_square + eps)
        return _affine(y, self.weight, None, self.normalized_shape).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


# ---------------------------------------------------------------------------------------------
# GroupNorm
# ---------------------------------------------------------------------------------------------

class GroupNorm(nn.Module):
    """Group normalization of ``(N, C, *spatial)`` inputs: statistics per sample and channel group.

    Wu & He, "Group Normalization", ECCV 2018. The ``C`` channels are split into
    ``num_groups`` consecutive groups; each (sample, group) is normalized with the mean and
    biased variance of its ``C / num_groups`` channels over all spatial positions, then a
    per-channel ``weight`` and ``bias`` are applied. Independent of the batch size, so it is the
    paper's answer to BatchNorm's degradation below 32 images per device; the paper's default is
    32 groups (16 channels per group also works well). One group gives LayerNorm over
    ``(C, *spatial)``; ``C`` groups give InstanceNorm.

    Replaces ``torch.nn.GroupNorm`` (same default ``eps=1e-5``).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        factory = {"device": device, "dtype": dtype}
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels, **factory))
            self.bias = nn.Parameter(torch.zeros(num_channels, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm(.., {self.num_channels}) expects (N, {self.num_channels}, *) input, "
                f"got shape {tuple(x.shape)}"
            )
        xc = _compute_dtype(x)
        grouped = xc.reshape(x.shape[0], self.num_groups, -1)
        centered = grouped - grouped.mean(dim=2, keepdim=True)
        var = centered.pow(2).mean(dim=2, keepdim=True)
        y = (centered * torch.rsqrt(var + self.eps)).reshape(x.shape)
        stat_shape = [1, self.num_channels] + [1] * (x.dim() - 2)
        return _affine(y, self.weight, self.bias, stat_shape).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


# ---------------------------------------------------------------------------------------------
# Layout adapters and the factory
# ---------------------------------------------------------------------------------------------

class ChannelsFirst(nn.Module):
    """Apply a last-dimension norm (LayerNorm/RMSNorm over ``C``) to ``(N, C, *spatial)`` input.

    Moves the channel axis last, normalizes each position's channel vector, and moves it back
    (the "channels_first" LayerNorm of ConvNeXt, Liu et al. 2022).
    """

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.norm = norm

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


class ChannelsLast(nn.Module):
    """Apply a channel-axis norm (BatchNorm/GroupNorm over ``(N, C)``) to ``(..., C)`` input.

    Flattens all leading dimensions into one batch axis, so BatchNorm's statistics run over
    every sample and position (like ``BatchNorm1d`` on ``(N, C, L)``), while GroupNorm's run
    over the channel groups of each position separately (no mixing across tokens).
    """

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.norm = norm

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class NoNorm(nn.Identity):
    """The identity, standing where a norm layer was (``normalization="none"``).

    Remembers ``num_features`` and ``layout`` so that :func:`swap_norms` can put a real norm
    back in its place.
    """

    def __init__(self, num_features: int = 0, layout: str = "channels_last", spatial_dims: int | None = None):
        super().__init__()
        self.num_features = num_features
        self.layout = layout
        self.spatial_dims = spatial_dims

    def extra_repr(self) -> str:
        return f"{self.num_features}, layout={self.layout!r}"


FEATURE_GROUP_SIZE = 16
"""Fewest channels per GroupNorm group where there are no spatial positions to pool over.

A group's mean and variance come from its own channels only on ``(N, C)`` features (and per
position on ``(..., C)`` tokens), so Wu & He's 32 groups leave 2 values per statistic at C = 64.
Measured on ``examples/models/tiny_batch_bn.py`` (six 64-wide layers, 10 epochs, 4 seeds,
validation accuracy): 2 channels a group 32.4 (the majority class on every seed), 4: 57.6 ± 5.0,
8: 76.6 ± 1.3, 16: 76.4 ± 1.6, one group (LayerNorm) 77.6 ± 0.9. 16 is also the sample size
below which NM001 calls BatchNorm's statistics severely noisy."""


def default_num_groups(num_channels: int, preferred: int = 32, min_group_size: int = 1) -> int:
    """The largest divisor of ``num_channels`` not above ``preferred`` (Wu & He 2018 use 32) that
    leaves at least ``min_group_size`` channels in each group (1 group if none does)."""
    preferred = min(preferred, num_channels // max(1, min_group_size))
    for g in range(max(1, min(preferred, num_channels)), 0, -1):
        if num_channels % g == 0:
            return g
    return 1


class _BatchNormAnyDim(nn.modules.batchnorm._BatchNorm):
    """``torch.nn`` BatchNorm that accepts ``(N, C)`` and ``(N, C, *)`` of any rank (``F.batch_norm``)."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")


_TORCH_BATCHNORM = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def make_norm(
    kind: str,
    num_features: int,
    *,
    layout: str = "channels_last",
    impl: str = "reference",
    eps: float | None = None,
    affine: bool = True,
    momentum: float | None = 0.1,
    num_groups: int | None = None,
    spatial_dims: int | None = None,
    device=None,
    dtype=None,
) -> nn.Module:
    """A normalization layer for ``num_features`` channels, chosen by name — one line to swap.

    ``kind`` is a value of the ``normalization`` knob: ``"batchnorm"``, ``"layernorm"``,
    ``"rmsnorm"``, ``"groupnorm"`` or ``"none"``. ``impl="reference"`` builds this module's
    classes, ``impl="torch"`` the ``torch.nn`` ones; both compute the same function.

    ``layout`` says where the features are:

    * ``"channels_last"`` — ``(..., C)``: MLP activations ``(N, C)``, transformer tokens
      ``(N, T, C)``. LayerNorm/RMSNorm normalize each position over ``C``; BatchNorm normalizes
      each channel over all leading dimensions; GroupNorm normalizes each position's channel
      groups.
    * ``"channels_first"`` — ``(N, C, *spatial)``: convolutional feature maps. BatchNorm and
      GroupNorm are the usual layers. **LayerNorm is ``GroupNorm(1, C)``**: statistics over the
      whole ``(C, *spatial)`` map of a sample with a per-channel gain and bias, which is how Wu &
      He (2018) define LayerNorm for CNNs and needs no knowledge of the spatial size. RMSNorm has
      no group form, so it normalizes each position's channel vector (``ChannelsFirst``).
      ``(N, C)`` input works in both layouts and gives the same result.

    ``eps`` defaults to 1e-5 (torch's default for all of them; RMSNorm gets it too, rather than
    torch's dtype-dependent default, so that swapping norms changes one thing only).
    ``num_groups`` defaults to :func:`default_num_groups`: 32 or the largest divisor of ``C``
    below it for feature maps, and no group smaller than :data:`FEATURE_GROUP_SIZE` channels
    where there are no spatial positions to pool (``channels_last``, and ``spatial_dims`` 0 or 1,
    i.e. ``BatchNorm1d``'s place, which may see ``(N, C)``). ``spatial_dims`` (0 to 3) selects
    ``torch.nn.BatchNorm1d/2d/3d`` for ``impl="torch"``; left ``None``, a ``torch.nn`` BatchNorm
    that accepts any rank is used.
    ``momentum`` applies to BatchNorm only.

    Typical choices: BatchNorm for CNNs with batch >= 32 (Ioffe & Szegedy 2015), GroupNorm
    with 32 groups below that (Wu & He 2018), LayerNorm (Ba et al. 2016) or RMSNorm (Zhang &
    Sennrich 2019) pre-norm for transformers.
    """
    if kind not in NORM_KINDS:
        raise ValueError(f"unknown normalization kind {kind!r}; expected one of {', '.join(NORM_KINDS)}")
    if layout not in ("channels_last", "channels_first"):
        raise ValueError(f"layout must be 'channels_last' or 'channels_first', got {layout!r}")
    if impl not in ("reference", "torch"):
        raise ValueError(f"impl must be 'reference' or 'torch', got {impl!r}")
    eps = 1e-5 if eps is None else eps
    factory = {"device": device, "dtype": dtype}
    ref = impl == "reference"

    norm = _build(kind, num_features, layout, ref, eps, affine, momentum, num_groups, spatial_dims, factory)
    if spatial_dims is not None:
        # Remembered so that swap_norms can later rebuild, say, a BatchNorm2d in this place.
        norm.spatial_dims = spatial_dims  # type: ignore[assignment]  # an attribute of ours on any module
    return norm


def _build(kind, num_features, layout, ref, eps, affine, momentum, num_groups, spatial_dims, factory) -> nn.Module:
    if kind == "none":
        return NoNorm(num_features, layout, spatial_dims)

    norm: nn.Module
    cls: Any
    if kind == "batchnorm":
        if ref:
            norm = BatchNorm(num_features, eps=eps, momentum=momentum, affine=affine, **factory)
        else:
            cls = _TORCH_BATCHNORM.get(spatial_dims, _BatchNormAnyDim) if layout == "channels_first" else nn.BatchNorm1d
            norm = cls(num_features, eps=eps, momentum=momentum, affine=affine, **factory)
        return norm if layout == "channels_first" else ChannelsLast(norm)

    if kind == "groupnorm" or (kind == "layernorm" and layout == "channels_first"):
        pooled = layout == "channels_first" and spatial_dims not in (0, 1)   # feature maps: positions pooled
        groups = 1 if kind == "layernorm" else (
            num_groups or default_num_groups(num_features, min_group_size=1 if pooled else FEATURE_GROUP_SIZE))
        cls = GroupNorm if ref else nn.GroupNorm
        norm = cls(groups, num_features, eps=eps, affine=affine, **factory)
        return norm if layout == "channels_first" else ChannelsLast(norm)

    if kind == "layernorm":
        cls = LayerNorm if ref else nn.LayerNorm
        return cls(num_features, eps=eps, elementwise_affine=affine, **factory)

    cls = RMSNorm if ref else nn.RMSNorm
    norm = cls(num_features, eps=eps, elementwise_affine=affine, **factory)
    return norm if layout == "channels_last" else ChannelsFirst(norm)


# ---------------------------------------------------------------------------------------------
# swap_norms
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Swap:
    """One replacement made (or declined) by :func:`swap_norms`."""

    name: str
    old: str
    new: str | None
    layout: str | None
    reason: str = ""


def _describe(module: nn.Module) -> tuple[int, str, int | None, float | None, bool] | str:
    """``(num_features, layout, spatial_dims, eps, affine)`` of a norm module, or why not."""
    info = _describe_layer(module)
    remembered = getattr(module, "spatial_dims", None)
    if isinstance(info, tuple) and remembered is not None:
        info = info[:2] + (remembered,) + info[3:]
    return info


def _describe_layer(module: nn.Module) -> tuple[int, str, int | None, float | None, bool] | str:
    if isinstance(module, NoNorm):
        if module.num_features <= 0:
            return "NoNorm without num_features"
        return module.num_features, module.layout, module.spatial_dims, None, True
    if isinstance(module, ChannelsFirst):
        inner = _describe(module.norm)
        return inner if isinstance(inner, str) else (inner[0], "channels_first", None, inner[3], inner[4])
    if isinstance(module, ChannelsLast):
        inner = _describe(module.norm)
        return inner if isinstance(inner, str) else (inner[0], "channels_last", None, inner[3], inner[4])
    if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)):
        spatial = {"1d": 1, "2d": 2, "3d": 3}.get(type(module).__name__[-2:])
        return module.num_features, "channels_first", spatial, module.eps, module.affine
    if isinstance(module, BatchNorm):
        return module.num_features, "channels_first", None, module.eps, module.affine
    if isinstance(module, (nn.GroupNorm, GroupNorm)):
        return module.num_channels, "channels_first", None, module.eps, module.affine
    if isinstance(module, (nn.LayerNorm, LayerNorm, nn.RMSNorm, RMSNorm)):
        if len(module.normalized_shape) != 1:
            return f"normalized_shape {tuple(module.normalized_shape)} spans several dimensions"
        return module.normalized_shape[0], "channels_last", None, module.eps, module.elementwise_affine
    return "not a normalization layer"


def _is_swappable(module: nn.Module) -> bool:
    return isinstance(module, (
        NoNorm, ChannelsFirst, ChannelsLast, BatchNorm, GroupNorm, LayerNorm, RMSNorm,
        nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
        nn.GroupNorm, nn.LayerNorm, nn.RMSNorm,
    ))


def swap_norms(model: nn.Module, kind: str, *, impl: str = "torch", eps: float | None = None,
               num_groups: int | None = None) -> list[Swap]:
    """Replace every normalization layer of ``model`` by one of ``kind``, in place.

    Used by ``regadvisor probe --verify`` to try a different ``normalization`` setting on a
    model whose script does not accept the knob. Each norm's feature count and layout are read
    from the layer being replaced:

    * ``BatchNorm1d/2d/3d``, ``InstanceNorm*`` and ``GroupNorm`` see ``(N, C, *spatial)``
      (``(N, C)`` too, for ``BatchNorm1d``), so the new layer is built with
      ``layout="channels_first"``: LayerNorm becomes ``GroupNorm(1, C)`` (statistics over the
      whole feature map, Wu & He 2018), RMSNorm normalizes each position's channel vector.
      A ``BatchNorm2d`` becomes a ``BatchNorm2d`` again when ``kind="batchnorm"``.
    * ``LayerNorm(C)`` and ``RMSNorm(C)`` see ``(..., C)`` and get ``layout="channels_last"``.
      A LayerNorm over several trailing dimensions is left alone and reported.
    * Layers made by :func:`make_norm` (adapters, ``NoNorm``) are recognized, so swapping back
      and forth works, ``"none"`` included.

    New layers start freshly initialized (weight 1, bias 0, fresh running statistics), keep the
    old layer's ``eps`` (unless ``eps`` is given), affine setting, device, dtype and
    ``training`` flag. Returns one :class:`Swap` per norm found; ``new`` is ``None`` for layers
    that were left in place, with the reason. Only children are replaced: a ``model`` that is
    itself a norm layer is left as it is (build a new one with :func:`make_norm`).
    """
    if kind not in NORM_KINDS:
        raise ValueError(f"unknown normalization kind {kind!r}; expected one of {', '.join(NORM_KINDS)}")
    swaps: list[Swap] = []

    def visit(parent: nn.Module, prefix: str) -> None:
        for child_name, child in list(parent.named_children()):
            name = f"{prefix}.{child_name}" if prefix else child_name
            if not _is_swappable(child):
                visit(child, name)
                continue
            info = _describe(child)
            if isinstance(info, str):
                swaps.append(Swap(name, type(child).__name__, None, None, info))
                continue
            features, layout, spatial, old_eps, affine = info
            reference_tensor: Tensor | None = next(iter(child.parameters()), None)
            if reference_tensor is None:
                reference_tensor = next(iter(child.buffers()), None)
            factory: dict[str, Any] = {}
            if reference_tensor is not None:
                factory = {"device": reference_tensor.device}
                if reference_tensor.is_floating_point():
                    factory["dtype"] = reference_tensor.dtype
            new = make_norm(
                kind, features, layout=layout, impl=impl, eps=eps if eps is not None else old_eps,
                affine=affine, num_groups=num_groups, spatial_dims=spatial, **factory,
            )
            new.train(child.training)
            setattr(parent, child_name, new)
            swaps.append(Swap(name, type(child).__name__, type(new).__name__, layout))

    visit(model, "")
    return swaps
