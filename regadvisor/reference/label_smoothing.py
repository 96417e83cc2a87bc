"""Label-smoothed cross entropy.

Szegedy, Vanhoucke, Ioffe, Shlens & Wojna ("Rethinking the Inception Architecture for Computer
Vision", CVPR 2016, Section 7) replace the one-hot target by a mixture with the uniform
distribution over the ``C`` classes::

    q = (1 - eps) * one_hot(y) + eps / C

Cross entropy against ``q`` splits into two terms,

    loss = (1 - eps) * (-log p_y) + eps * mean_c(-log p_c),

the usual negative log-likelihood plus a pull of every log-probability towards uniform. The
model can no longer reduce the loss by growing its logits without bound, which curbs
over-confidence and improves calibration (Müller, Kornblith & Hinton, "When Does Label
Smoothing Help?", NeurIPS 2019). Typical value: ``eps = 0.1`` (Szegedy et al. 2016 on
ImageNet; Vaswani et al. 2017 for translation). It is available in torch as
``F.cross_entropy(..., label_smoothing=eps)`` and ``nn.CrossEntropyLoss(label_smoothing=eps)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["smooth_targets", "label_smoothed_cross_entropy", "LabelSmoothingCrossEntropy"]


def smooth_targets(target: Tensor, num_classes: int, smoothing: float = 0.1) -> Tensor:
    """The smoothed target distribution ``(1 - eps) * one_hot(y) + eps / C``.

    ``target`` holds class indices of any shape; the classes go on a new last dimension.
    Each row sums to one and the true class gets ``1 - eps + eps / C``.
    """
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing must be in [0, 1], got {smoothing}")
    one_hot = F.one_hot(target, num_classes).to(torch.get_default_dtype())
    return one_hot * (1.0 - smoothing) + smoothing / num_classes


def label_smoothed_cross_entropy(
    logits: Tensor,
    target: Tensor,
    smoothing: float = 0.1,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Cross entropy against label-smoothed targets; equals ``F.cross_entropy(label_smoothing=...)``.

    ``logits`` is ``(N, C)`` or ``(N, C, d1, ...)``, ``target`` holds class indices of shape
    ``(N)`` or ``(N, d1, ...)``. The loss of one element is
    ``(1 - eps) * w_y * (-log p_y) + (eps / C) * sum_c w_c * (-log p_c)`` (``w`` the optional
    class weights, 1 without), and elements whose target is ``ignore_index`` contribute
    nothing. ``reduction="mean"`` divides the sum by the number of counted elements — or, with
    class weights, by the sum of their targets' weights, which is torch's convention for both
    terms. Only class-index targets are handled; for probability targets (mixup, distillation)
    smooth them yourself and use ``F.cross_entropy``. Typical ``smoothing``: 0.1 (Szegedy et al.
    2016).
    """
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing must be in [0, 1], got {smoothing}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    num_classes = logits.shape[1]
    log_p = torch.log_softmax(logits, dim=1)
    counted = target != ignore_index
    safe_target = torch.where(counted, target, torch.zeros_like(target))

    nll = -log_p.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    class_shape = [1, num_classes] + [1] * (logits.dim() - 2)
    if weight is not None:
        target_weight = weight[safe_target]
        nll = nll * target_weight
        uniform = -(log_p * weight.reshape(class_shape)).sum(dim=1)
    else:
        target_weight = torch.ones_like(nll)
        uniform = -log_p.sum(dim=1)
    zero = torch.zeros((), dtype=nll.dtype, device=nll.device)
    nll = torch.where(counted, nll, zero)
    uniform = torch.where(counted, uniform, zero)
    per_element = (1.0 - smoothing) * nll + (smoothing / num_classes) * uniform

    if reduction == "none":
        return per_element
    if reduction == "sum":
        return per_element.sum()
    denominator = torch.where(counted, target_weight, zero).sum()
    return per_element.sum() / denominator


class LabelSmoothingCrossEntropy(nn.Module):
    """Module form of :func:`label_smoothed_cross_entropy` (typical ``smoothing=0.1``)."""

    weight: Tensor | None

    def __init__(self, smoothing: float = 0.1, *, weight: Tensor | None = None,
                 ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.smoothing = smoothing
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.register_buffer("weight", weight)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return label_smoothed_cross_entropy(
            logits, target, self.smoothing, weight=self.weight,
            ignore_index=self.ignore_index, reduction=self.reduction,
        )
