"""RegadvisorCallback in a real (tiny) Lightning training made to overfit."""

from __future__ import annotations

import io
import json
import math

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")

from regadvisor.api import diagnose
from regadvisor.integrations.lightning import RegadvisorCallback, RegadvisorCheckFailed
from tests.conftest import run_cli
from tests.integrations._data import make_split, wide_mlp


class Classifier(L.LightningModule):
    def __init__(self, lr: float = 3e-3, weight_decay: float = 0.0):
        super().__init__()
        self.save_hyperparameters()
        self.net = wide_mlp()

    def forward(self, x):
        return self.net(x)

    def _step(self, batch, split: str):
        x, y = batch
        logits = self(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        self.log(f"{split}_acc", acc, on_step=False, on_epoch=True)
        if split == "val":
            self.log("val_loss", loss, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


def _loaders():
    from torch.utils.data import DataLoader, TensorDataset

    train = TensorDataset(*make_split(64, seed=0))
    val = TensorDataset(*make_split(256, seed=1))
    return DataLoader(train, batch_size=16, shuffle=True), DataLoader(val, batch_size=256)


def _fit(tmp_path, callback, epochs: int = 30):
    torch.manual_seed(0)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        num_sanity_val_steps=1, deterministic=True, callbacks=[callback])
    train, val = _loaders()
    trainer.fit(Classifier(), train, val)
    return trainer


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lightning")
    out = io.StringIO()
    callback = RegadvisorCallback(stream=out)
    _fit(tmp, callback)
    return callback, out.getvalue(), tmp


def test_report_says_overfitting(fitted):
    callback, printed, _ = fitted
    assert callback.report is not None
    assert callback.report.verdict == "overfitting", printed
    assert "OVERFITTING" in printed
    knobs = {r.knob for r in callback.report.recommendations}
    assert knobs & {"dropout", "weight_decay", "early_stopping_patience"}


def test_log_layout_and_contents(fitted):
    callback, _, tmp = fitted
    path = callback.log_path
    assert path == tmp / "regadvisor_logs" / "version_0" / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    steps = [r for r in records if "train_loss" in r]
    assert len(steps) == 30 * 4  # 64 examples / batch 16, every batch
    norms = [r["grad_norm"] for r in steps]
    assert all(math.isfinite(g) and g > 0 for g in norms)
    assert all(r["lr"] == pytest.approx(3e-3) for r in steps)
    vals = [r for r in records if "val_loss" in r]
    assert len(vals) == 30  # one per epoch; the sanity check is not recorded
    assert all("val_acc" in r for r in vals)
    assert sum("train_acc" in r for r in records) == 30
    import yaml

    facts = yaml.safe_load((path.parent / "hparams.yaml").read_text())
    assert facts["optimizer"] == "adam" and facts["weight_decay"] == 0.0
    assert facts["batch_size"] == 16 and facts["num_train_examples"] == 64
    assert facts["dropout"] == 0.0 and facts["max_epochs"] == 30
    assert callback.report.run.facts["optimizer"] == "adam"


def test_grad_norm_and_facts_reach_the_report(fitted):
    callback, _, _ = fitted
    run = callback.report.run
    assert len(run.series["grad_norm"]) == 120
    assert len(run.series["val_loss"]) == 30 and len(run.series["train_acc"]) == 30


def test_diagnose_reads_the_log_with_the_same_verdict(fitted):
    callback, _, _ = fitted
    assert diagnose(callback.log_path).verdict == "overfitting"
    result = run_cli("diagnose", str(callback.log_path), "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "overfitting"
    assert report["run"]["format"] == "jsonl"


def test_fail_on_raises_and_quiet(tmp_path):
    callback = RegadvisorCallback(tmp_path / "run" / "metrics.jsonl", print_report=False, fail_on="warning",
                                  stream=io.StringIO())
    with pytest.raises(RegadvisorCheckFailed, match="overfitting"):
        _fit(tmp_path, callback, epochs=20)
    assert callback.stream.getvalue() == ""
    assert (tmp_path / "run" / "metrics.jsonl").is_file()


def test_bad_fail_on_is_refused():
    with pytest.raises(ValueError, match="fail_on"):
        RegadvisorCallback(fail_on="sometimes")


class Crashes(Classifier):
    def training_step(self, batch, batch_idx):
        if self.global_step == 30:
            raise RuntimeError("boom")
        return super().training_step(batch, batch_idx)


def test_a_crashed_run_leaves_a_readable_log(tmp_path):
    from regadvisor.api import read

    callback = RegadvisorCallback(tmp_path / "run" / "metrics.jsonl", flush_every=1000, stream=io.StringIO())
    trainer = L.Trainer(max_epochs=30, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[callback])
    train, val = _loaders()
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Crashes(), train, val)
    with open(callback.log_path, "a") as f:  # and a record cut off mid-write, as a kill leaves it
        f.write('{"step": 31, "train_lo')
    run = read(callback.log_path)
    assert len(run.series["train_loss"]) == 30 and len(run.series["val_loss"]) == 7
    assert any("not complete JSON" in w for w in run.warnings)
