"""Conv1d classifier of synthetic noisy waveforms, trained with SGD: late overfitting on noisy labels.

Task: classify 1-D time series (length 64) into 5 waveform classes: sine at
2 cycles, sine at 4 cycles, and square / triangle / sawtooth at 3 cycles, each
with random phase, random amplitude, +-8% frequency jitter, a random DC offset
and Gaussian noise.

What is wrong: only 240 training series against 1500 validation series, the
training labels come from a sloppy annotator (40% of them re-drawn at random,
i.e. ~32% wrong; validation labels are clean), and the CNN is over-sized for
that (3 conv layers + a 256-unit fully connected head on the flattened feature
map, ~75k parameters) and trained with SGD (lr 0.03, momentum 0.9) for 50
epochs. The network first learns the waveform shapes, then memorises the noisy
training set: train accuracy reaches 100% (by epoch ~35) while validation
accuracy peaks early and then declines and stalls.

Measured (torch.manual_seed(0), 1 CPU thread, ~2.5-3 s for 50 epochs):
best val acc 0.765 at epoch 17, final val acc 0.687 (train 1.000).
dropout=0.5: best 0.849 at epoch 31, final 0.825. SGD weight_decay=0.05 is
far too strong here (collapses to chance, 0.20); 0.01 -> best 0.748@21 /
final 0.664; 0.02 -> best 0.761@38 / final 0.724; <=0.005 changes little.
Seeds 1/2: best 0.765@25 / 0.757@21, final 0.719 / 0.700.

Written apart from regadvisor, by an author given only the probe contract (not its rules, code
or other examples), as a case no one had tuned the tool to. Try: ``regadvisor probe examples/models/conv1d_signals.py``.
"""
import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 50
N_CLASSES = 5
LENGTH = 64
N_TRAIN = 240
N_VAL = 1500
BATCH_SIZE = 32
DATA_SEED = 1234
NOISE = 0.3
LABEL_NOISE = 0.4


def _make_series(n, gen):
    y = torch.arange(n) % N_CLASSES
    y = y[torch.randperm(n, generator=gen)]
    t = torch.linspace(0, 1, LENGTH).unsqueeze(0)  # (1, L)
    phase = torch.rand(n, 1, generator=gen)
    amp = 0.6 + 0.8 * torch.rand(n, 1, generator=gen)
    offset = 0.5 * torch.randn(n, 1, generator=gen)
    freq = torch.tensor([2.0, 4.0, 3.0, 3.0, 3.0])[y].unsqueeze(1)
    freq = freq * (1 + 0.08 * torch.randn(n, 1, generator=gen))
    cyc = freq * t + phase            # cycles
    frac = cyc - torch.floor(cyc)
    sine = torch.sin(2 * math.pi * cyc)
    square = torch.sign(sine)
    triangle = 4 * torch.abs(frac - 0.5) - 1
    saw = 2 * frac - 1
    waves = torch.stack([sine, sine, square, triangle, saw], 1)  # (n, C, L)
    x = waves[torch.arange(n), y]
    x = amp * x + offset + NOISE * torch.randn(n, LENGTH, generator=gen)
    return x.unsqueeze(1), y


def build_data():
    gen = torch.Generator().manual_seed(DATA_SEED)
    xtr, ytr = _make_series(N_TRAIN, gen)
    flip = torch.rand(N_TRAIN, generator=gen) < LABEL_NOISE
    ytr = torch.where(flip, torch.randint(0, N_CLASSES, (N_TRAIN,), generator=gen), ytr)
    xva, yva = _make_series(N_VAL, gen)
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=BATCH_SIZE, shuffle=True)
    val = DataLoader(TensorDataset(xva, yva), batch_size=500, shuffle=False)
    return train, val


class SignalCNN(nn.Module):
    def __init__(self, dropout=0.0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 16, 7, padding=3), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(32, 32, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(32 * (LENGTH // 8), 256), nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(256, N_CLASSES),
        )

    def forward(self, x):
        return self.head(self.features(x))


def build_model(dropout: float = 0.0) -> nn.Module:
    return SignalCNN(dropout)


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 0.03):
    return torch.optim.SGD(params, lr=learning_rate, momentum=0.9, weight_decay=weight_decay)
