"""Tabular binary classification with many noise features, a BatchNorm MLP and RMSprop.

Task: synthetic tabular data (fixed torch.Generator seed). Each row has 16 standard
Gaussian features: 4 informative ones, from which the label is computed by a linear
rule (x0 + x1 - x2 + 0.5*x3 > 0), plus 12 pure noise columns. LABEL NOISE: 20% of the
labels (train and validation alike) are flipped at random, so no model can exceed
~80% validation accuracy. Only 512 rows are used for training, 2048 for validation.
The model is an MLP 16 -> 256 -> 256 -> 2 with BatchNorm1d,
ReLU and Dropout after each hidden layer; it is trained with cross-entropy,
batch size 64, ``torch.optim.RMSprop``.

What is wrong: a ~70k-parameter network sees only 512 examples, most of whose
columns are noise and a fifth of whose labels are wrong. RMSprop's per-parameter
step normalisation keeps taking full-size steps even when the gradients get small,
so once the real rule has been picked up the network quickly fits the label noise
and the spurious correlations in the noise columns: training accuracy reaches 100%
while validation accuracy falls off its peak and validation loss rises steeply.
Nothing regularizes it (no dropout, no weight decay, no early stopping).

Measured (a plain training loop, torch.manual_seed(0), 1 CPU thread, evaluation of train and
validation sets in model.eval() after every epoch; dropout 0, weight decay 0):
best validation accuracy 71.8% at epoch 5 of 100 (validation loss minimum 0.588 at
epoch 5); final validation accuracy 65.3% (-6.5 points), final validation loss 0.896,
training accuracy 100% from epoch ~80. A full 100-epoch training takes about 1.7 s
(about 3 s with a validation pass every epoch). With validation-only evaluation,
seeds 0/1/2: best 71.7/72.0/71.8% at epochs 7/4/2, final drop 7.0/7.0/6.7 points.
Regularization (same protocol): dropout 0.5 -> best 72.5% at epoch 20, final 71.2%
(-1.3 points), validation loss stays ~0.59, training accuracy 81%. Weight decay
(coupled L2 inside RMSprop) does not help and even hurts, because BatchNorm makes
the hidden layers scale-invariant: 1e-3 / 1e-2 / 1e-1 / 5e-1 -> final 65.4 / 65.1 /
64.1 / 63.6% (best ~71.6-71.8% at epochs 5-15).

Written apart from regadvisor, by an author given only the probe contract (not its rules, code
or other examples), as a case no one had tuned the tool to. Try: ``regadvisor probe examples/models/rmsprop_tabular.py``.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 100
BATCH_SIZE = 64
N_TRAIN = 512
N_VAL = 2048
N_INFORMATIVE = 4
N_NOISE = 12
LABEL_NOISE = 0.20


def _make(n, g):
    x = torch.randn(n, N_INFORMATIVE + N_NOISE, generator=g)
    a = x[:, :N_INFORMATIVE]
    score = a[:, 0] + a[:, 1] - a[:, 2] + 0.5 * a[:, 3]
    y = (score > 0).long()
    flip = torch.rand(n, generator=g) < LABEL_NOISE
    y = torch.where(flip, 1 - y, y)
    return x, y


def build_data():
    g = torch.Generator().manual_seed(2024)
    xtr, ytr = _make(N_TRAIN, g)
    xva, yva = _make(N_VAL, g)
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=BATCH_SIZE, shuffle=True)
    val = DataLoader(TensorDataset(xva, yva), batch_size=512, shuffle=False)
    return train, val


def build_model(dropout: float = 0.0) -> nn.Module:
    d, h = N_INFORMATIVE + N_NOISE, 256
    return nn.Sequential(
        nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(h, 2),
    )


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 1e-4):
    return torch.optim.RMSprop(params, lr=learning_rate, weight_decay=weight_decay)
