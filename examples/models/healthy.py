"""A well-configured model that trains fine: the control case.

Nothing is wrong on purpose: a two-hidden-layer MLP (64 units) with LayerNorm, ReLU and dropout
0.1, AdamW with weight decay 0.01 on the weights only (biases and LayerNorm parameters in a
no-decay group), batch size 64, clean labels and plenty of data (16,384 examples for about 6k
parameters). The classes overlap (Gaussian clusters at 0.6 standard deviations), so validation
accuracy levels off near 87% with training accuracy a point or two above it, and validation
loss stays at its plateau through the ten epochs it is trained for. Its gradients, activations
and update/weight ratios sit in healthy ranges. The right advice is none.

Data are generated (Gaussian class clusters); nothing is downloaded.
Try: ``regadvisor probe examples/models/healthy.py``.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 10  # the real training length: converged, and validation loss has not turned up

DIM, CLASSES = 20, 6


def build_data():
    gen = torch.Generator().manual_seed(21)
    centers = torch.randn(CLASSES, DIM, generator=gen) * 0.6

    def make(n):
        y = torch.randint(0, CLASSES, (n,), generator=gen)
        return centers[y] + torch.randn(n, DIM, generator=gen), y

    x_train, y_train = make(16384)
    x_val, y_val = make(1024)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    return train, val


def build_model(dropout: float = 0.1):
    return nn.Sequential(
        nn.Linear(DIM, 64), nn.LayerNorm(64), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(64, 64), nn.LayerNorm(64), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(64, CLASSES),
    )


def build_optimizer(params, weight_decay: float = 0.01, learning_rate: float = 1e-3):
    params = list(params)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=learning_rate,
    )
