"""A deep plain network that will not train: vanishing gradients.

What is wrong: 40 blocks of ``Linear(32, 32)`` + ``Sigmoid``, no residual connections and no
normalization, default initialization, plain SGD. Each sigmoid passes back at most a quarter
of the gradient and the default init shrinks it further, so the first layer's gradient is
tens of orders of magnitude below the last layer's (AutoTrainer's first/last ratio test:
< 1e-3 means vanishing). The loss stays at log(4) ≈ 1.386: the model does not learn.
Residual connections, a normalization layer per block, or ReLU with He init fix it.

``build_model`` accepts the ``residual`` and ``normalization`` knobs (off by default, which is
the problem), so ``regadvisor probe --verify`` can measure the fix it recommends.

Data are generated (four Gaussian clusters); nothing is downloaded.
Try: ``regadvisor probe examples/models/deep_plain.py``.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from regadvisor.reference import make_norm

EPOCHS = 20  # the real training length: long enough to see that nothing is learned

DIM, CLASSES, DEPTH = 32, 4, 40


def build_data():
    gen = torch.Generator().manual_seed(7)
    centers = torch.randn(CLASSES, DIM, generator=gen) * 2.0

    def make(n):
        y = torch.randint(0, CLASSES, (n,), generator=gen)
        return centers[y] + torch.randn(n, DIM, generator=gen), y

    x_train, y_train = make(1024)
    x_val, y_val = make(512)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    return train, val


class Block(nn.Module):
    """``Linear`` + ``Sigmoid``, optionally pre-normalized and wrapped in an identity skip."""

    def __init__(self, residual: bool, normalization: str):
        super().__init__()
        self.norm = make_norm(normalization, DIM, impl="torch")
        self.linear = nn.Linear(DIM, DIM)
        self.act = nn.Sigmoid()
        self.residual = residual

    def forward(self, x):
        out = self.act(self.linear(self.norm(x)))
        return x + out if self.residual else out


def build_model(residual: bool = False, normalization: str = "none"):
    blocks = [Block(residual, normalization) for _ in range(DEPTH)]
    return nn.Sequential(*blocks, nn.Linear(DIM, CLASSES))


def build_optimizer(params, learning_rate: float = 0.05):
    return torch.optim.SGD(params, lr=learning_rate, momentum=0.9)
