"""A wide MLP regressor trained with mean squared error on 200 noisy examples: overfitting without accuracy.

Task: 16 Gaussian features, the target a fixed random two-layer function of them plus noise
of standard deviation 0.5 (the noise floor: an MSE of 0.25 is the best any model can do);
200 training and 1,000 validation examples. Generated, nothing is downloaded. There are no
classes: the only metric is the validation loss (MSE), lower is better.

What is wrong: a 16 → 256 → 256 → 1 MLP (about 70k parameters, 350 per example) trained for
200 epochs with AdamW at lr 1e-4, no dropout and no weight decay. Validation MSE is lowest
near epoch 15 (about 0.31) and then climbs steadily as the network fits the noise of its 200
points (about 0.41 after 200 epochs, seed 0), while training MSE falls toward zero.
Early stopping, weight decay and dropout help.

Try: ``regadvisor probe examples/models/mse_regression.py``.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 200  # the real training length
DIM = 16


def build_data():
    gen = torch.Generator().manual_seed(3)
    w1 = torch.randn(DIM, 32, generator=gen) / DIM ** 0.5
    w2 = torch.randn(32, 1, generator=gen) / 32 ** 0.5

    def make(n, noise):
        x = torch.randn(n, DIM, generator=gen)
        y = torch.tanh(x @ w1) @ w2 + noise * torch.randn(n, 1, generator=gen)
        return x, y

    xt, yt = make(200, 0.5)
    xv, yv = make(1000, 0.5)
    return DataLoader(TensorDataset(xt, yt), batch_size=16, shuffle=True), DataLoader(TensorDataset(xv, yv), batch_size=500)


def build_model(dropout: float = 0.0):
    return nn.Sequential(nn.Linear(DIM, 256), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(256, 256), nn.ReLU(), nn.Dropout(dropout), nn.Linear(256, 1))


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 1e-4):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)


def loss_fn(outputs, targets):
    return nn.functional.mse_loss(outputs, targets)
