"""RegadvisorTrainerCallback in a real (tiny) transformers Trainer run made to overfit.

The model is a 2-layer BERT built from a config (no weights downloaded) and fed ``input_ids``
tensors directly from a Dataset of dicts (no tokenizer). Labels depend on the tokens with a third
of them flipped, and 64 training sequences are memorized in a few dozen epochs.
"""

from __future__ import annotations

import io
import json
import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # Trainer needs it

from regadvisor.api import diagnose
from regadvisor.integrations.huggingface import (
    RegadvisorCheckFailed,
    RegadvisorTrainerCallback,
)
from tests.conftest import run_cli

SEQ, VOCAB, CLASSES = 12, 64, 4


class TokenDataset(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int, flip: float = 0.35):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (n, SEQ), generator=g)
        labels = self.ids[:, 0] % CLASSES
        flipped = torch.rand(n, generator=g) < flip
        labels[flipped] = torch.randint(0, CLASSES, (int(flipped.sum()),), generator=g)
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(SEQ, dtype=torch.long), "labels": self.labels[i]}


def _accuracy(pred):
    logits, labels = pred.predictions, pred.label_ids
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def _train(tmp_path, callback, epochs: int = 20):
    transformers.set_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=128, max_position_embeddings=SEQ, num_labels=CLASSES,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = transformers.BertForSequenceClassification(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=epochs, per_device_train_batch_size=16,
        per_device_eval_batch_size=128, learning_rate=2e-3, weight_decay=0.0, eval_strategy="epoch",
        logging_strategy="steps", logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
        disable_tqdm=True, dataloader_num_workers=0, seed=0,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=TokenDataset(64, 0),
                                   eval_dataset=TokenDataset(128, 1), compute_metrics=_accuracy,
                                   callbacks=[callback])
    trainer.train()
    return trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hf")
    out = io.StringIO()
    callback = RegadvisorTrainerCallback(stream=out)
    _train(tmp, callback)
    return callback, out.getvalue(), tmp


def test_report_says_overfitting(trained):
    callback, printed, _ = trained
    assert callback.report is not None, printed
    assert callback.report.verdict == "overfitting", printed
    assert "OVERFITTING" in printed


def test_log_contents(trained):
    callback, _, tmp = trained
    assert callback.log_path == tmp / "out" / "regadvisor_logs" / "version_0" / "metrics.jsonl"
    records = [json.loads(line) for line in callback.log_path.read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    assert len(train) == 20 * 4 and len(evals) == 20
    assert all(math.isfinite(r["grad_norm"]) and r["grad_norm"] > 0 for r in train)
    assert all("eval_accuracy" in r and "eval_runtime" not in r for r in evals)
    assert not any("train_runtime" in r or "train_loss" in r for r in records)


def test_facts(trained):
    callback, _, _ = trained
    import yaml

    facts = yaml.safe_load((callback.log_path.parent / "hparams.yaml").read_text())
    assert facts["per_device_train_batch_size"] == 16 and facts["num_train_epochs"] == 20
    assert facts["learning_rate"] == pytest.approx(2e-3) and facts["weight_decay"] == 0.0
    assert facts["max_grad_norm"] == 1.0 and facts["label_smoothing_factor"] == 0.0
    assert facts["hidden_dropout_prob"] == 0.0 and facts["num_labels"] == CLASSES
    run_facts = callback.report.run.facts
    assert run_facts["num_classes"] == CLASSES and run_facts["dropout"] == 0.0
    assert run_facts["batch_size"] == 16 and run_facts["optimizer"] == "adamw"


def test_grad_norm_recorded(trained):
    callback, _, _ = trained
    assert len(callback.report.run.series["grad_norm"]) == 80


def test_diagnose_reads_the_log_with_the_same_verdict(trained):
    callback, _, _ = trained
    assert diagnose(callback.log_path).verdict == "overfitting"
    result = run_cli("diagnose", str(callback.log_path), "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(result.stdout)["verdict"] == "overfitting"


def test_fail_on_raises(tmp_path):
    callback = RegadvisorTrainerCallback(tmp_path / "run" / "metrics.jsonl", print_report=False, fail_on="warning",
                                         stream=io.StringIO())
    with pytest.raises(RegadvisorCheckFailed, match="overfitting"):
        _train(tmp_path, callback, epochs=16)
    assert callback.stream.getvalue() == ""
