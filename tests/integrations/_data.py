"""Generated data for the callback tests: a small, noisy classification task a wide MLP memorizes.

Labels are a linear function of the inputs with a fraction flipped at random; with 64 training
examples and ~300k parameters the network fits the flipped labels too, so validation loss falls
for a few epochs and then climbs while training loss goes to zero: textbook overfitting.
"""

from __future__ import annotations

import torch


def make_split(n: int, *, features: int = 20, classes: int = 4, flip: float = 0.35, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(features, classes, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(n, features, generator=g)
    y = (x @ w).argmax(1)
    flipped = torch.rand(n, generator=g) < flip
    y[flipped] = torch.randint(0, classes, (int(flipped.sum()),), generator=g)
    return x, y


def wide_mlp(features: int = 20, classes: int = 4, hidden: int = 512) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(features, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, classes),
    )
