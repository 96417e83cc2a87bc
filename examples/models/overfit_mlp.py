"""An MLP that memorizes noisy labels: overfitting.

What is wrong: 30% of the training labels are replaced by random classes, and a wide
(20 → 512 → 512 → 10, ~280k parameters for 512 examples) MLP is trained with no dropout and no
weight decay. It fits the noise: training accuracy climbs toward 100% while validation
accuracy (clean labels) stalls and validation loss turns upward after a few epochs, a large
train/validation gap. Regularization (dropout 0.3-0.5, weight decay, early stopping) helps.

Data are generated (Gaussian class clusters); nothing is downloaded.
Try: ``regadvisor probe examples/models/overfit_mlp.py``.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 40  # the real training length: validation loss is lowest near epoch 3 and rises after

DIM, CLASSES = 20, 10
N_TRAIN, N_VAL = 512, 1024
LABEL_NOISE = 0.3


def _clusters(n, gen, centers, noise):
    y = torch.randint(0, CLASSES, (n,), generator=gen)
    x = centers[y] + torch.randn(n, DIM, generator=gen)
    if noise:
        flip = torch.rand(n, generator=gen) < noise
        y = torch.where(flip, torch.randint(0, CLASSES, (n,), generator=gen), y)
    return x, y


def build_data():
    gen = torch.Generator().manual_seed(1234)
    centers = torch.randn(CLASSES, DIM, generator=gen) * 0.9
    x_train, y_train = _clusters(N_TRAIN, gen, centers, LABEL_NOISE)
    x_val, y_val = _clusters(N_VAL, gen, centers, 0.0)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    return train, val


def build_model(dropout: float = 0.0):
    return nn.Sequential(
        nn.Linear(DIM, 512), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(512, 512), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(512, CLASSES),
    )


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 2e-3):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
