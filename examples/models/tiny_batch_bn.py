"""An MLP with BatchNorm after every hidden layer, trained at batch size 4.

Task: tabular data, 16 numeric features, 4 classes decided by a small nonlinear function of
them (a fixed random "teacher" network); 1024 training rows, 512 validation rows. Generated,
nothing is downloaded.

What is wrong: BatchNorm normalizes each feature with the mean and variance of the current
batch. ``BatchNorm1d`` on ``(N, C)`` features has no spatial positions to pool over, so at
batch 4 each statistic comes from 4 numbers (a ``BatchNorm2d`` on 4 images of 12x12 pools 576
per channel, which is why tiny batches hurt convolutional nets less than this). Training sees a
different normalization every step, evaluation sees the running averages, and the six layers
compound it. Wu & He (2018, "Group Normalization") measure BatchNorm's error rising steeply
below ~32 examples a batch; a per-example norm does not depend on the batch. Advice: LayerNorm
(the per-example norm for MLPs; GroupNorm is the one for feature maps) or a larger batch.

Measured (10 epochs, 4 seeds, validation accuracy; ``OMP_NUM_THREADS=1``):

=============  ===========  ===========
batch size     BatchNorm    LayerNorm
=============  ===========  ===========
4 (as here)    65.0 ± 1.7   77.6 ± 0.9
32             74.0 ± 1.6   76.1 ± 0.6
=============  ===========  ===========

BatchNorm loses 9 points going from batch 32 to 4 and LayerNorm none: the loss is the tiny
batch, not BatchNorm as such. (GroupNorm with 32 groups on these 64 features normalizes pairs
of numbers, keeps only their sign, and ends predicting the majority class: 32.4% on every seed.)

Try: ``regadvisor probe examples/models/tiny_batch_bn.py --verify``.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 15  # the real training length

FEATURES, CLASSES, BATCH, HIDDEN, LAYERS = 16, 4, 4, 64, 6


def _rows(n, gen):
    teacher = torch.Generator().manual_seed(11)  # the same labelling function for every split
    w_in = torch.randn(FEATURES, 8, generator=teacher)
    w_out = torch.randn(8, CLASSES, generator=teacher)
    x = torch.randn(n, FEATURES, generator=gen)
    return x, (torch.tanh(x @ w_in) @ w_out).argmax(dim=1)


def build_data():
    gen = torch.Generator().manual_seed(3)
    x_train, y_train = _rows(1024, gen)
    x_val, y_val = _rows(512, gen)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    return train, val


def build_model():
    layers, width = [], FEATURES
    for _ in range(LAYERS):
        layers += [nn.Linear(width, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU()]
        width = HIDDEN
    return nn.Sequential(*layers, nn.Linear(width, CLASSES))


def build_optimizer(params):
    return torch.optim.AdamW(params, lr=3e-3, weight_decay=0.01)
