"""A model trained with ``torch.optim.Adam(weight_decay=...)``: coupled L2, not weight decay.

What is wrong: ``torch.optim.Adam``'s ``weight_decay`` adds ``wd * w`` to the gradient before
Adam's per-coordinate scaling, i.e. an L2 penalty that is divided by the running gradient
magnitude, so weights with large gradients are barely regularized. Loshchilov & Hutter (2019,
"Decoupled Weight Decay Regularization") show that decoupling the decay from the gradient
(``torch.optim.AdamW``) regularizes as intended and makes the best weight decay independent of
the learning rate. It also decays biases, which is rarely wanted. Advice: AdamW with the decay
on weights only.

Data are generated (Gaussian class clusters); nothing is downloaded.
Try: ``regadvisor probe examples/models/adam_l2.py``.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

DIM, CLASSES = 16, 5


def build_data():
    gen = torch.Generator().manual_seed(11)
    centers = torch.randn(CLASSES, DIM, generator=gen) * 1.2

    def make(n):
        y = torch.randint(0, CLASSES, (n,), generator=gen)
        return centers[y] + torch.randn(n, DIM, generator=gen), y

    x_train, y_train = make(1024)
    x_val, y_val = make(512)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    return train, val


def build_model(dropout: float = 0.1):
    return nn.Sequential(
        nn.Linear(DIM, 128), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(128, 128), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(128, CLASSES),
    )


def build_optimizer(params):
    return torch.optim.Adam(params, lr=1e-3, weight_decay=1e-2)
