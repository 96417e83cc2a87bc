"""A GRU classifier of short time series with a quarter of its training labels wrong.

Task: 4-channel series of 24 steps; each class is a sine of its own frequency (0.15, 0.25 or
0.35 per step, random phase, random amplitude per channel) under Gaussian noise of 0.8. 400
training series (25% of labels replaced at random), 600 clean validation series. Generated,
nothing is downloaded.

What is wrong: a one-layer GRU with 64 hidden units and a linear head, no dropout, no weight
decay, 80 epochs with the last weights kept. The network needs some 15 epochs to find the
frequencies at all, peaks near epoch 19 and then memorizes the wrong labels: validation
accuracy falls from about 66% to 60% while training accuracy reaches 100% (seed 0). Early
stopping, dropout on the GRU's output and weight decay help.

Try: ``regadvisor probe examples/models/gru_series.py``.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 80  # the real training length
T, F, CLASSES = 24, 4, 3


class GRUClassifier(nn.Module):
    """GRU over the series, a linear head on its last hidden state."""

    def __init__(self, dropout=0.0, hidden=64):
        super().__init__()
        self.gru = nn.GRU(F, hidden, batch_first=True, num_layers=1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(self.drop(out[:, -1]))


def build_data():
    gen = torch.Generator().manual_seed(11)
    freqs = torch.tensor([0.15, 0.25, 0.35])

    def make(n, noise):
        y = torch.randint(0, CLASSES, (n,), generator=gen)
        t = torch.arange(T).float()
        phase = torch.rand(n, 1, generator=gen) * 6.28
        base = torch.sin(freqs[y].unsqueeze(1) * t + phase)
        x = base.unsqueeze(-1) * torch.rand(n, 1, F, generator=gen) + 0.8 * torch.randn(n, T, F, generator=gen)
        if noise:
            flip = torch.rand(n, generator=gen) < noise
            y = torch.where(flip, torch.randint(0, CLASSES, (n,), generator=gen), y)
        return x, y

    xt, yt = make(400, 0.25)
    xv, yv = make(600, 0.0)
    return DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True), DataLoader(TensorDataset(xv, yv), batch_size=500)


def build_model(dropout: float = 0.0):
    return GRUClassifier(dropout)


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 2e-3):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
