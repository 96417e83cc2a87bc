"""An ordinary Lightning training script: a LightningModule and ``Trainer.fit``.

An MLP classifies scikit-learn's bundled 8x8 digits (no download) from a deliberately small
training split (300 images), with Adam and an L2 ``weight_decay``: the kind of script a
Lightning user already has. Nothing in it knows about regadvisor::

    python examples/scripts/lightning_digits.py --epochs 20
    regadvisor probe examples/scripts/lightning_digits.py -- --epochs 20

regadvisor runs it unmodified, adds its callback to the ``Trainer`` and reads the metrics the
module logs (``val_loss``, ``val_acc``, ``train_acc``) as the curves.
"""

import argparse

import lightning as L
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class DigitsClassifier(L.LightningModule):
    def __init__(self, hidden=256, dropout=0.1, lr=1e-3, weight_decay=1e-4):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, 10),
        )

    def forward(self, x):
        return self.net(x)

    def _step(self, batch, split):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        self.log(f"{split}_loss", loss, on_step=False, on_epoch=True, prog_bar=split == "val")
        self.log(f"{split}_acc", acc, on_step=False, on_epoch=True, prog_bar=split == "val")
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


def digits_loaders(batch_size, train_size=300):
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, val = order[:train_size], order[train_size:train_size + 500]
    return (DataLoader(TensorDataset(x[train], y[train]), batch_size=batch_size, shuffle=True),
            DataLoader(TensorDataset(x[val], y[val]), batch_size=256))


def main():
    parser = argparse.ArgumentParser(description="Lightning digits classifier")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    L.seed_everything(args.seed)
    train_loader, val_loader = digits_loaders(args.batch_size)
    model = DigitsClassifier(lr=args.lr)
    trainer = L.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(model, train_loader, val_loader)


if __name__ == "__main__":
    main()
