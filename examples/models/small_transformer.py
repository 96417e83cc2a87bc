"""A small post-norm transformer with no dropout on a little sequence task.

Task: sequences of 16 tokens from a vocabulary of 12; the label says whether token 1 occurs
more often than token 2 (sequence classification). 256 training sequences, 15% of their
labels flipped (real labels are noisy too); the validation labels are clean.

What is wrong: the encoder layers use ``dropout=0.0`` and post-norm (``norm_first=False``,
the original 2017 layout). Small-data transformers overfit without dropout (the standard
setting is p = 0.1 on attention and feed-forward outputs, Vaswani et al. 2017), and post-norm
puts the LayerNorm after the residual addition, which makes deep stacks sensitive to the
learning rate and warm-up (Xiong et al. 2020, "On Layer Normalization in the Transformer
Architecture"); pre-norm (``norm_first=True``) is the modern default. Advice: dropout 0.1,
pre-norm. Within the default probe (10 epochs) the model is still learning, so the curves show
no overfitting yet: the problems are in the configuration, which the probe's inspection names
(``max_dropout == 0``, ``transformer_post_norm``).

Data are generated; nothing is downloaded.
Try: ``regadvisor probe examples/models/small_transformer.py``.
"""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB, LENGTH, D_MODEL = 12, 16, 32


def _sequences(n, gen, noise=0.0):
    x = torch.randint(0, VOCAB, (n, LENGTH), generator=gen)
    y = ((x == 1).sum(1) > (x == 2).sum(1)).long()
    flip = torch.rand(n, generator=gen) < noise
    return x, torch.where(flip, 1 - y, y)


def build_data():
    gen = torch.Generator().manual_seed(5)
    x_train, y_train = _sequences(256, gen, noise=0.15)
    x_val, y_val = _sequences(512, gen)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=256)
    return train, val


class SeqClassifier(nn.Module):
    def __init__(self, dropout: float, norm_first: bool):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D_MODEL)
        self.pos = nn.Parameter(torch.zeros(1, LENGTH, D_MODEL))
        layer = nn.TransformerEncoderLayer(D_MODEL, nhead=4, dim_feedforward=64, dropout=dropout,
                                           batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(D_MODEL, 2)

    def forward(self, x):
        h = self.encoder(self.tok(x) + self.pos)
        return self.head(h.mean(dim=1))


def build_model(dropout: float = 0.0):
    return SeqClassifier(dropout=dropout, norm_first=False)


def build_optimizer(params, learning_rate: float = 1e-3, weight_decay: float = 0.01):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
