"""Bag-of-words document classifier on synthetic token-id "documents", trained with AdamW.

Task: 4-way topic classification of variable-length documents (20-60 tokens,
padded with id 0) over a vocabulary of 3000 token ids. Each class owns 6
informative "keyword" ids; about 15% of the positions in a document are
keywords (30% of those drawn from a random class), the rest are distractor
tokens drawn from a Zipf-like distribution shared by all classes.

Model: nn.EmbeddingBag(3000, 64, mode="mean", padding_idx=0) -> Linear(64,128)
-> ReLU -> Dropout -> Linear(128, 4), ~200k parameters, trained with AdamW
(lr 1e-3) for 40 epochs, batch 32.

What is wrong: only 300 training documents for a 3000-row embedding table,
and the training labels are noisy (25% re-drawn at random, ~19% wrong;
validation labels are clean). Most distractor tokens occur in only a handful of
training documents, so Adam quickly gives them large per-token updates and the
model memorises the (partly wrong) training labels through distractor
co-occurrences instead of the keywords. Train accuracy goes to 100% while
validation accuracy peaks and then declines steadily.

Measured (torch.manual_seed(0), 1 CPU thread, ~1.6 s for 40 epochs):
best val acc 0.751 at epoch 16, final val acc 0.679 (train 1.000).
dropout=0.5: best 0.765@20, final 0.706. AdamW weight_decay=0.05 (decoupled)
has almost no effect (0.752@17 / 0.681); 2.0 -> 0.773@19 / 0.731.
Seeds 1/2: best 0.768@13 / 0.744@14, final 0.703 / 0.674.

Written apart from regadvisor, by an author given only the probe contract (not its rules, code
or other examples), as a case no one had tuned the tool to. Try: ``regadvisor probe examples/models/bag_of_words.py``.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPOCHS = 40
VOCAB = 3000
N_CLASSES = 4
KEYWORDS_PER_CLASS = 6
MIN_LEN, MAX_LEN = 20, 60
N_TRAIN = 300
N_VAL = 3000
BATCH_SIZE = 32
DATA_SEED = 4321
P_KEYWORD = 0.15      # per-position chance of a keyword
P_CONFUSE = 0.3       # chance a keyword comes from a random (possibly other) class
LABEL_NOISE = 0.25


def _make_docs(n, gen, keywords, zipf):
    y = torch.randint(0, N_CLASSES, (n,), generator=gen)
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=gen)
    tokens = torch.multinomial(zipf, n * MAX_LEN, replacement=True, generator=gen).view(n, MAX_LEN)
    is_kw = torch.rand(n, MAX_LEN, generator=gen) < P_KEYWORD
    kw_class = torch.where(torch.rand(n, MAX_LEN, generator=gen) < P_CONFUSE,
                           torch.randint(0, N_CLASSES, (n, MAX_LEN), generator=gen),
                           y.unsqueeze(1).expand(n, MAX_LEN))
    kw_idx = torch.randint(0, KEYWORDS_PER_CLASS, (n, MAX_LEN), generator=gen)
    tokens = torch.where(is_kw, keywords[kw_class, kw_idx], tokens)
    pad = torch.arange(MAX_LEN).unsqueeze(0) >= lengths.unsqueeze(1)
    tokens[pad] = 0
    return tokens, y


def build_data():
    gen = torch.Generator().manual_seed(DATA_SEED)
    perm = torch.randperm(VOCAB - 1, generator=gen) + 1
    keywords = perm[: N_CLASSES * KEYWORDS_PER_CLASS].view(N_CLASSES, KEYWORDS_PER_CLASS)
    zipf = 1.0 / torch.arange(1, VOCAB, dtype=torch.float).pow(0.8)
    zipf = torch.cat([torch.zeros(1), zipf[torch.randperm(VOCAB - 1, generator=gen)]])
    zipf[keywords.flatten()] = 0.0
    xtr, ytr = _make_docs(N_TRAIN, gen, keywords, zipf)
    flip = torch.rand(N_TRAIN, generator=gen) < LABEL_NOISE
    ytr = torch.where(flip, torch.randint(0, N_CLASSES, (N_TRAIN,), generator=gen), ytr)
    xva, yva = _make_docs(N_VAL, gen, keywords, zipf)
    train = DataLoader(TensorDataset(xtr, ytr), batch_size=BATCH_SIZE, shuffle=True)
    val = DataLoader(TensorDataset(xva, yva), batch_size=1000, shuffle=False)
    return train, val


class BagOfWords(nn.Module):
    def __init__(self, dropout=0.0, dim=64, hidden=128):
        super().__init__()
        self.embed = nn.EmbeddingBag(VOCAB, dim, mode="mean", padding_idx=0)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, N_CLASSES),
        )

    def forward(self, tokens):
        return self.mlp(self.embed(tokens))


def build_model(dropout: float = 0.0) -> nn.Module:
    return BagOfWords(dropout)


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 1e-3):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
