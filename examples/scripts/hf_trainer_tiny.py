"""An ordinary Hugging Face ``Trainer`` script, with a tiny BERT built from a config (no download).

The task is made up and small enough for a CPU: a sequence of 16 tokens is labelled 1 when
token 5 occurs in it, and a tenth of the 160 training labels are flipped; 40 epochs on so
little data is the classic fine-tuning set-up that memorizes. The model is a two-layer BERT of width 32 created from a
``BertConfig``, so nothing is fetched from the Hub. Nothing in it knows about regadvisor::

    python examples/scripts/hf_trainer_tiny.py --epochs 3
    regadvisor probe examples/scripts/hf_trainer_tiny.py -- --epochs 3

regadvisor runs it unmodified, adds its callback to the ``Trainer`` and reads what the Trainer
logs (``loss``, ``eval_loss``, ``eval_accuracy``) as the curves.
"""

import argparse
import tempfile

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

VOCAB, LENGTH = 32, 16


class CountingTask(torch.utils.data.Dataset):
    """Random token sequences; the label says whether token 5 occurs."""

    def __init__(self, size, seed, label_noise=0.0):
        g = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(3, VOCAB, (size, LENGTH), generator=g)
        self.labels = (self.input_ids == 5).any(1).long()
        flip = torch.rand(size, generator=g) < label_noise
        self.labels[flip] = 1 - self.labels[flip]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.input_ids[i], "attention_mask": torch.ones(LENGTH, dtype=torch.long),
                "labels": self.labels[i]}


def accuracy(eval_pred):
    logits, labels = eval_pred
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def main():
    parser = argparse.ArgumentParser(description="A tiny BERT trained with the Hugging Face Trainer")
    parser.add_argument("--epochs", type=float, default=40)
    parser.add_argument("--train-size", type=int, default=160)
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args()

    config = BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=LENGTH, num_labels=2)
    model = BertForSequenceClassification(config)
    training_args = TrainingArguments(
        output_dir=args.output_dir or tempfile.mkdtemp(prefix="hf-tiny-"),
        num_train_epochs=args.epochs, per_device_train_batch_size=32, per_device_eval_batch_size=128,
        learning_rate=1e-3, eval_strategy="epoch", logging_steps=4, save_strategy="no", report_to="none",
        use_cpu=True, seed=0,
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=CountingTask(args.train_size, 1, label_noise=0.1),
                      eval_dataset=CountingTask(256, 2), compute_metrics=accuracy)
    trainer.train()


if __name__ == "__main__":
    main()
