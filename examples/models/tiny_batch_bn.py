"""A BatchNorm CNN trained at batch size 4: noisy normalization statistics.

What is wrong: BatchNorm normalizes each channel with the mean and variance of the current
batch. With 4 images a batch those estimates are noisy, so training sees a different
normalization each step and evaluation (which uses running averages) sees yet another:
Wu & He (2018, "Group Normalization") show BatchNorm's error rising steeply below ~32 images
per batch while GroupNorm stays flat. Advice: GroupNorm (or LayerNorm) instead of BatchNorm,
or a larger batch.

Data are generated 1x12x12 images of bars in four orientations with noise; nothing is
downloaded. Try: ``regadvisor probe examples/models/tiny_batch_bn.py``.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SIZE, CLASSES, BATCH = 12, 4, 4


def _images(n, gen):
    y = torch.randint(0, CLASSES, (n,), generator=gen)
    img = torch.zeros(n, 1, SIZE, SIZE)
    pos = torch.randint(2, SIZE - 2, (n,), generator=gen)
    idx = torch.arange(SIZE)
    for i in range(n):
        p, c = int(pos[i]), int(y[i])
        if c == 0:
            img[i, 0, p, :] = 1.0                      # horizontal bar
        elif c == 1:
            img[i, 0, :, p] = 1.0                      # vertical bar
        elif c == 2:
            img[i, 0, idx, idx] = 1.0                  # diagonal
        else:
            img[i, 0, idx, SIZE - 1 - idx] = 1.0       # anti-diagonal
    return img + 0.5 * torch.randn(n, 1, SIZE, SIZE, generator=gen), y


def build_data():
    gen = torch.Generator().manual_seed(3)
    x_train, y_train = _images(512, gen)
    x_val, y_val = _images(256, gen)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=64)
    return train, val


def build_model(normalization: str = "batchnorm"):
    def norm(c):
        return nn.BatchNorm2d(c) if normalization == "batchnorm" else nn.GroupNorm(min(4, c), c)

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), norm(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), norm(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, CLASSES),
    )


def build_optimizer(params):
    return torch.optim.AdamW(params, lr=3e-3, weight_decay=0.01)
