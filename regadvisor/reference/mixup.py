"""mixup: train on convex combinations of pairs of examples and of their labels.

Zhang, Cisse, Dauphin & Lopez-Paz, "mixup: Beyond Empirical Risk Minimization", ICLR 2018.
Draw ``lam ~ Beta(alpha, alpha)``, pair every example of the batch with another one (a random
permutation of the same batch), and train on

    x_mix = lam * x_i + (1 - lam) * x_j,     loss = lam * CE(f(x_mix), y_i) + (1 - lam) * CE(f(x_mix), y_j).

Because cross entropy is linear in the target distribution, the loss equals cross entropy
against the mixed one-hot target ``lam * y_i + (1 - lam) * y_j``. The model is pushed to behave
linearly between training examples, which regularizes it, improves calibration and robustness to
label noise. Typical ``alpha``: 0.1 to 0.4 for ImageNet-scale training (the paper uses 0.2 for
ResNets on ImageNet), 1.0 on CIFAR-10/100 (``lam`` uniform on [0, 1]); smaller ``alpha`` keeps
``lam`` near 0 or 1, i.e. weaker mixing. ``alpha <= 0`` disables mixing (``lam = 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MixedBatch", "sample_lambda", "mixup", "mixup_loss", "mixup_cross_entropy"]


@dataclass
class MixedBatch:
    """A mixed batch: inputs, the two target sets, the mixing weight and the pairing."""

    inputs: Tensor
    targets_a: Tensor
    targets_b: Tensor
    lam: float
    index: Tensor


def sample_lambda(alpha: float, generator: torch.Generator | None = None) -> float:
    """Draw ``lam ~ Beta(alpha, alpha)``; ``1.0`` when ``alpha <= 0`` (no mixing).

    Uses ``Beta(a, a) = G1 / (G1 + G2)`` with ``G1, G2 ~ Gamma(a, 1)`` independent, so that an
    explicit ``generator`` makes the draw reproducible.
    """
    if alpha <= 0:
        return 1.0
    concentration = torch.full((2,), float(alpha), dtype=torch.float64)
    if generator is None:
        gammas = torch._standard_gamma(concentration)
    else:
        # torch._standard_gamma takes no generator; fork the global RNG and seed it from ours.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            gammas = torch._standard_gamma(concentration)
    return float(gammas[0] / gammas.sum())


def mixup(
    inputs: Tensor,
    targets: Tensor,
    alpha: float = 0.2,
    *,
    lam: float | None = None,
    generator: torch.Generator | None = None,
) -> MixedBatch:
    """Mix a batch with a shuffled copy of itself: ``lam * x + (1 - lam) * x[index]``.

    ``lam`` is drawn from ``Beta(alpha, alpha)`` unless given; ``index`` is a random
    permutation of the batch. Returns a :class:`MixedBatch` with the mixed inputs, ``targets``
    (``targets_a``), ``targets[index]`` (``targets_b``), ``lam`` and ``index``. One ``lam`` per
    batch, as in the paper's reference implementation. Typical ``alpha``: 0.2 (ImageNet), 1.0
    (CIFAR) (Zhang et al. 2018, ICLR).
    """
    if lam is None:
        lam = sample_lambda(alpha, generator)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    index = torch.randperm(inputs.shape[0], generator=generator, device="cpu").to(inputs.device)
    mixed = lam * inputs + (1.0 - lam) * inputs[index]
    return MixedBatch(mixed, targets, targets[index.to(targets.device)], float(lam), index)


def mixup_loss(criterion, outputs: Tensor, batch: MixedBatch) -> Tensor:
    """``lam * criterion(outputs, targets_a) + (1 - lam) * criterion(outputs, targets_b)``."""
    return batch.lam * criterion(outputs, batch.targets_a) + (1.0 - batch.lam) * criterion(outputs, batch.targets_b)


def mixup_cross_entropy(outputs: Tensor, batch: MixedBatch, **kwargs) -> Tensor:
    """:func:`mixup_loss` with ``F.cross_entropy`` (keyword arguments are passed on)."""
    return mixup_loss(lambda out, tgt: F.cross_entropy(out, tgt, **kwargs), outputs, batch)
