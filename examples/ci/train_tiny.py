"""Train a tiny classifier on generated data and write a log `regadvisor check` gates.

    python train_tiny.py --out runs/healthy              # generalizes: passes the gates
    python train_tiny.py --out runs/overfit --overfit    # memorizes noise: fails them

Plain PyTorch, no other dependency, a few seconds on a CPU. It writes the same two files as
regadvisor's trainer callbacks (regadvisor.integrations), in ``--out``:

- ``metrics.jsonl``: one JSON object per line, appended as training runs: every optimizer
  step ``{"step", "epoch", "train_loss", "grad_norm", "lr"}`` and after every epoch
  ``{"step", "epoch", "train_acc", "val_loss", "val_acc"}``;
- ``hparams.yaml``: the hyperparameters (written as JSON, which is valid YAML).

``--overfit`` trains a wide MLP without dropout or weight decay on 64 examples whose labels are
35% random, and evaluates on 512 others: training accuracy reaches 100% while validation loss
climbs. Without it, the task has 2048 clean-ish examples, a small network, dropout 0.1 and
AdamW weight decay 0.01, and validation follows training.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

FEATURES, CLASSES = 20, 4


def make_split(n: int, flip: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels are a fixed linear function of the inputs, a fraction ``flip`` replaced at random."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(FEATURES, CLASSES, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(n, FEATURES, generator=g)
    y = (x @ w).argmax(1)
    flipped = torch.rand(n, generator=g) < flip
    y[flipped] = torch.randint(0, CLASSES, (int(flipped.sum()),), generator=g)
    return x, y


def build(overfit: bool) -> tuple[nn.Module, dict]:
    if overfit:
        hp = {"hidden": 512, "dropout": 0.0, "weight_decay": 0.0, "learning_rate": 3e-3, "batch_size": 16,
              "num_train_examples": 64, "label_noise": 0.35, "epochs": 30}
    else:
        hp = {"hidden": 64, "dropout": 0.1, "weight_decay": 0.01, "learning_rate": 2e-3, "batch_size": 64,
              "num_train_examples": 2048, "label_noise": 0.05, "epochs": 8}
    h = hp["hidden"]
    model = nn.Sequential(nn.Linear(FEATURES, h), nn.ReLU(), nn.Dropout(hp["dropout"]),
                          nn.Linear(h, h), nn.ReLU(), nn.Dropout(hp["dropout"]), nn.Linear(h, CLASSES))
    return model, hp


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    model.train()
    return loss, acc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/tiny"), help="folder for metrics.jsonl and hparams.yaml")
    ap.add_argument("--overfit", action="store_true", help="make the run overfit (tiny noisy data, no regularization)")
    ap.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a model this small runs faster on one thread than on several
    model, hp = build(args.overfit)
    epochs = args.epochs or hp["epochs"]
    x, y = make_split(hp["num_train_examples"], hp["label_noise"], seed=args.seed)
    xv, yv = make_split(512, hp["label_noise"], seed=args.seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=hp["learning_rate"], weight_decay=hp["weight_decay"])

    args.out.mkdir(parents=True, exist_ok=True)
    facts = {"optimizer": "adamw", "learning_rate": hp["learning_rate"], "weight_decay": hp["weight_decay"],
             "dropout": hp["dropout"], "batch_size": hp["batch_size"], "max_epochs": epochs,
             "num_classes": CLASSES, "num_train_examples": hp["num_train_examples"]}
    (args.out / "hparams.yaml").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")

    step, start = 0, time.time()
    with open(args.out / "metrics.jsonl", "w", encoding="utf-8") as log:
        for epoch in range(epochs):
            order = torch.randperm(len(x))
            correct = 0
            for i in range(0, len(x), hp["batch_size"]):
                idx = order[i:i + hp["batch_size"]]
                logits = model(x[idx])
                loss = nn.functional.cross_entropy(logits, y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))  # measures only
                opt.step()
                step += 1
                correct += int((logits.argmax(1) == y[idx]).sum())
                log.write(json.dumps({"step": step, "epoch": epoch, "train_loss": loss.item(),
                                      "grad_norm": grad_norm.item(), "lr": opt.param_groups[0]["lr"]}) + "\n")
            val_loss, val_acc = evaluate(model, xv, yv)
            log.write(json.dumps({"step": step, "epoch": epoch, "train_acc": correct / len(x),
                                  "val_loss": val_loss, "val_acc": val_acc}) + "\n")
            log.flush()
    print(f"trained {epochs} epochs ({step} steps) in {time.time() - start:.1f} s: "
          f"val_loss {val_loss:.3f}, val_acc {val_acc:.3f}; log in {args.out / 'metrics.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
