"""Nonlinear regression on scikit-learn's bundled diabetes data with a wide MLP and plain SGD.

Task: predict the (standardized) one-year disease progression score from the ten
baseline features of the diabetes dataset (442 patients). Only 80 patients are used
for training; the remaining 362 form the validation set. Features and targets are
standardized with statistics of the training split. The model is a three-hidden-layer
MLP (10 -> 256 -> 256 -> 256 -> 1, ReLU, a Dropout after every hidden layer) trained
with mean squared error and ``torch.optim.SGD`` without momentum, batch size 8.

What is wrong: the network has roughly 135k parameters for 80 noisy training examples
(the diabetes target is only ~50% explainable from the features), no regularization is
used and it is trained for far too many epochs with small batches and a relatively
high learning rate. After a short phase in which it learns the real signal, it starts
memorising the noise of the training targets: training MSE keeps falling toward zero
while validation MSE climbs well above its minimum.

Measured (a plain training loop, torch.manual_seed(0), 1 CPU thread, evaluation of train and
validation sets in model.eval() after every epoch; dropout 0, weight decay 0):
best validation MSE 0.407 at epoch 15 of 150 (10%); final validation MSE 0.705
(+73% over the minimum) with training MSE 0.012. A full 150-epoch training takes
about 1.5 s (about 2.4 s including the per-epoch evaluation). With validation-only
evaluation the curve is the same within noise (seeds 0/1/2: minimum 0.408/0.414/0.416
at epochs 14/17/13, final +75%/+61%/+81%).
Regularization (same protocol): dropout 0.5 -> best 0.410 at epoch 27, final 0.465
(+13%); weight decay 1e-3 / 1e-2 / 3e-2 / 1e-1 -> final 0.701 / 0.664 / 0.603 / 0.448
(minimum ~0.403-0.407 at epochs 15-19).

Written apart from regadvisor, by an author given only the probe contract (not its rules, code
or other examples), as a case no one had tuned the tool to. Try: ``regadvisor probe examples/models/sgd_regression.py``.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from sklearn.datasets import load_diabetes

EPOCHS = 150
BATCH_SIZE = 8
N_TRAIN = 80


def build_data():
    x, y = load_diabetes(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.float32).unsqueeze(1)
    g = torch.Generator().manual_seed(1234)
    perm = torch.randperm(len(x), generator=g)
    tr, va = perm[:N_TRAIN], perm[N_TRAIN:]
    xm, xs = x[tr].mean(0), x[tr].std(0)
    ym, ys = y[tr].mean(0), y[tr].std(0)
    x = (x - xm) / xs
    y = (y - ym) / ys
    train = DataLoader(TensorDataset(x[tr], y[tr]), batch_size=BATCH_SIZE, shuffle=True)
    val = DataLoader(TensorDataset(x[va], y[va]), batch_size=256, shuffle=False)
    return train, val


def build_model(dropout: float = 0.0) -> nn.Module:
    h = 256
    return nn.Sequential(
        nn.Linear(10, h), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(h, h), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(h, h), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(h, 1),
    )


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 0.01):
    return torch.optim.SGD(params, lr=learning_rate, weight_decay=weight_decay)


def loss_fn(outputs, targets):
    return nn.functional.mse_loss(outputs, targets)
