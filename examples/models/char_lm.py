"""A tiny causal transformer language model on 64 sequences: it memorizes its training text.

Task: next-token prediction over a vocabulary of 24 in sequences of 33 tokens from a
first-order Markov "language" (each token has three likely successors; 20% of tokens are
random). 64 training sequences, 256 validation sequences from the same process. Generated,
nothing is downloaded. Outputs are ``(batch, tokens, vocabulary)`` logits: the default
cross-entropy flattens them, and accuracy is per token.

What is wrong: a 2-layer pre-norm transformer (d = 64, 4 heads, about 100k parameters for
about 2,000 training tokens) with dropout 0 and no weight decay, trained for 30 epochs. Dropout
0 is the pre-training convention for large corpora; on a small one the model memorizes:
validation loss is lowest after about 5 epochs and then climbs while training token accuracy
heads for 100%. Early stopping, dropout (0.1 is the transformer default, Vaswani et al. 2017)
and weight decay help.

Try: ``regadvisor probe examples/models/char_lm.py``.
"""
import torch
from torch import nn

EPOCHS = 30  # the real training length
VOCAB, CONTEXT = 24, 32


def _corpus(n_seq, gen):
    """``n_seq`` sequences of the Markov language (its transition table is fixed by seed 99)."""
    g = torch.Generator().manual_seed(99)
    succ = torch.randint(0, VOCAB, (VOCAB, 3), generator=g)
    seqs = torch.empty(n_seq, CONTEXT + 1, dtype=torch.long)
    tok = torch.randint(0, VOCAB, (n_seq,), generator=gen)
    for t in range(CONTEXT + 1):
        seqs[:, t] = tok
        pick = torch.randint(0, 3, (n_seq,), generator=gen)
        rand = torch.randint(0, VOCAB, (n_seq,), generator=gen)
        noisy = torch.rand(n_seq, generator=gen) < 0.2
        tok = torch.where(noisy, rand, succ[tok, pick])
    return seqs


class TinyGPT(nn.Module):
    """Token and position embeddings, causal pre-norm encoder blocks, a vocabulary head."""

    def __init__(self, dropout=0.0, d=64):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(torch.zeros(CONTEXT, d))
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=dropout, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d, VOCAB)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(CONTEXT))

    def forward(self, x):
        h = self.tok(x) + self.pos[: x.shape[1]]
        return self.head(self.blocks(h, mask=self.mask, is_causal=True))


def build_data():
    gen = torch.Generator().manual_seed(5)
    train, val = _corpus(64, gen), _corpus(256, gen)
    tb = [(train[i:i + 16, :-1], train[i:i + 16, 1:]) for i in range(0, len(train), 16)]
    vb = [(val[i:i + 128, :-1], val[i:i + 128, 1:]) for i in range(0, len(val), 128)]
    return tb, vb


def build_model(dropout: float = 0.0):
    return TinyGPT(dropout)


def build_optimizer(params, weight_decay: float = 0.0, learning_rate: float = 1e-3):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
