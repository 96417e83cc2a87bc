"""An MLP regularized far harder than its task needs: over-regularization.

Task: 24 Gaussian features, 8 classes decided by a fixed random nonlinear function of them
(clean labels); 3,000 training and 1,000 validation examples. Generated, nothing is downloaded.

What is wrong: dropout 0.7 after both hidden layers and AdamW weight decay 0.5 (fifty times
torch's default), trained for 15 epochs. There is no overfitting to prevent: training and
validation accuracy stay together, and the model is still improving when training ends
(about 86% validation accuracy after 15 epochs, where the same MLP with dropout 0 and weight
decay 1e-4 is at 92% after five). Lower dropout and weight decay help; adding regularization
(the gap table's reflex) makes it worse.

Try: ``regadvisor probe examples/models/over_regularized.py``.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 15  # the real training length
DIM, CLASSES = 24, 8


def build_data():
    gen = torch.Generator().manual_seed(17)
    w = torch.randn(DIM, CLASSES, generator=gen)

    def make(n):
        x = torch.randn(n, DIM, generator=gen)
        y = torch.tanh(x @ w).argmax(1)
        return x, y

    xt, yt = make(3000)
    xv, yv = make(1000)
    return DataLoader(TensorDataset(xt, yt), batch_size=64, shuffle=True), DataLoader(TensorDataset(xv, yv), batch_size=500)


def build_model(dropout: float = 0.7):
    return nn.Sequential(nn.Linear(DIM, 128), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(128, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, CLASSES))


def build_optimizer(params, weight_decay: float = 0.5, learning_rate: float = 1e-3):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
