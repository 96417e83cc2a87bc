"""A small CNN on 8x8 digit images with a quarter of its training labels wrong: late overfitting.

Task: scikit-learn's bundled ``load_digits`` (1,797 grayscale 8x8 images, 10 classes, no
download), shaped ``(N, 1, 8, 8)``; 300 training images of which 25% get a random label, the
other 1,497 (clean labels) for validation.

What is wrong: two conv layers and a 128-unit head (about 85k parameters for 300 images), no
dropout, no weight decay, and a fixed 60-epoch schedule whose last weights are kept. For the
first 20-odd epochs the network learns the digits; training accuracy, scored in eval mode on the
noisy labels, stays *below* validation accuracy (the noise caps it near 80%), which is label
noise, not underfitting. After the validation minimum (around epoch 23) it starts memorizing
the wrong labels: training accuracy climbs past its clean level and validation accuracy falls
(about 89% at the best epoch, 78% after 60 epochs, seed 0). A ten-epoch probe ends before any
of this. Early stopping, dropout and weight decay help.

Needs scikit-learn (for the bundled data only).
Try: ``regadvisor probe examples/models/cnn_digits.py``.
"""
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 60  # the real training length; the validation minimum comes near epoch 23
N_TRAIN = 300
LABEL_NOISE = 0.25


def build_data():
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    gen = torch.Generator().manual_seed(7)
    order = torch.randperm(len(y), generator=gen)
    x, y = x[order], y[order]
    xt, yt = x[:N_TRAIN], y[:N_TRAIN].clone()
    flip = torch.rand(N_TRAIN, generator=gen) < LABEL_NOISE
    yt[flip] = torch.randint(0, 10, (int(flip.sum()),), generator=gen)
    train = DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x[N_TRAIN:], y[N_TRAIN:]), batch_size=256)
    return train, val


def build_model(dropout: float = 0.0):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout),
        nn.Linear(32 * 16, 128), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(128, 10),
    )


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 1e-3):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
