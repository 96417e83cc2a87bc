"""``probe --verify`` for real, on the bundled examples (one torch thread).

The overfitting MLP must keep a regularizing configuration with an interval above zero at its
real length, within the default budget of six full trainings; the healthy control must not be
told to change anything; the vanishing-gradient fix must be measured, not assumed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
import torch

from regadvisor import api
from regadvisor.model import Recommendation
from regadvisor.probe import runner
from regadvisor.probe.verify import verify
from regadvisor.render import json as render_json
from regadvisor.render.notes import note_text

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
SCHEMA = jsonschema.Draft202012Validator(json.loads(render_json.SCHEMA_PATH.read_text()))
REGULARIZERS = ("dropout", "weight_decay", "early_stopping_patience", "label_smoothing")


def _assert_only_helpful(report):
    for rec in report.recommendations:
        if rec.verified is not None:
            v = rec.verified
            assert v["helps"] is True, rec
            assert rec.snippet is None or repr(rec.value) in rec.snippet, rec     # the snippet shows the verified value
            assert v["difference"] - v["uncertainty"] > 0 if v["metric"] == "val_acc points" else \
                v["difference"] + v["uncertainty"] < 0
    SCHEMA.validate(json.loads(render_json.render(report)))


@pytest.fixture(scope="module")
def overfit():
    script = MODELS / "overfit_mlp.py"
    report = api.probe(script, seed=0, device="cpu")
    result = verify(script, report, device="cpu")
    return report, result


def test_overfitting_mlp_keeps_a_regularizing_configuration_at_its_real_length(overfit):
    report, result = overfit
    assert result.metric == "val_acc points" and result.length == {"epochs": 40} and result.length_known
    kept = [r for r in report.recommendations if r.verified and r.knob in REGULARIZERS]
    assert kept, report.notes
    assert {"dropout", "early_stopping_patience"} <= {r.knob for r in kept}, report.notes
    for rec in kept:
        assert rec.verified["difference"] - rec.verified["uncertainty"] > 5  # points of validation accuracy
        assert rec.verified["trials"] >= 3
    _assert_only_helpful(report)


def test_overfitting_mlp_stays_within_the_default_budget(overfit):
    report, result = overfit
    assert 1.0 < result.trainings <= 6.0
    assert len(result.screened) >= 5 and any(s.pruned for s in result.screened)
    assert result.seeds[:3] == [0, 1, 2]
    assert any(note_text(n).startswith("verified at 40 epochs: ") for n in report.notes)


def test_healthy_model_is_left_unchanged():
    script = MODELS / "healthy.py"
    report = api.probe(script, seed=0, device="cpu")
    assert report.verdict == "healthy"
    result = verify(script, report, device="cpu")
    assert result.kept == {}
    assert not any(r.verified for r in report.recommendations)


def test_knobs_the_probe_cannot_apply_stay_unverified(tmp_path):
    script = tmp_path / "plain.py"  # build_model takes no residual knob, and there is no standard way to add one
    script.write_text(
        "import torch\n"
        "EPOCHS = 3\n"
        "def build_model():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))\n"
        "def build_data():\n"
        "    g = torch.Generator().manual_seed(0)\n"
        "    x = torch.randn(64, 4, generator=g); y = (x[:, 0] > 0).long()\n"
        "    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)], [(x, y)]\n")
    report = api.probe(script, seed=0, device="cpu")
    report.recommendations = [
        Recommendation("residual", True, "vanishing gradients", ["TEST"], []),
        Recommendation("data_augmentation", "flips", "gap", ["TEST"], []),
    ]
    result = verify(script, report, device="cpu")
    assert set(result.unverified) == {"residual", "data_augmentation"}
    assert "build_model does not accept residual" in result.unverified["residual"]
    assert [r.verified for r in report.recommendations] == [None, None]


def test_deep_plain_fix_is_measured_and_kept():
    """The vanishing-gradient example: the residual fix the rules suggest is verified, not assumed."""
    script = MODELS / "deep_plain.py"
    report = api.probe(script, seed=0, device="cpu", train_epochs=6)
    assert {"GR001", "AR001"} <= {f.rule_id for f in report.fired()}
    result = verify(script, report, device="cpu")
    residual = next(r for r in report.recommendations if r.knob == "residual")
    assert residual.verified["helps"] and residual.verified["difference"] - residual.verified["uncertainty"] > 10
    assert result.length == {"epochs": 6} and result.trainings <= 6.0


def test_budget_in_seconds_is_honoured(overfit):
    script = MODELS / "overfit_mlp.py"
    report = api.probe(script, seed=0, device="cpu", train_epochs=8)
    seen = []
    result = verify(script, report, budget="4", device="cpu", progress=seen.append, workers=1)
    per_trial = result.seconds / max(result.trials, 1)
    assert result.seconds <= 4.0 + 2 * per_trial + 1.0
    assert seen[-1].label == "done" and seen[-1].trials_done == result.trials


def test_probe_pins_the_data_order_against_global_rng_use():
    from torch.utils.data import DataLoader, TensorDataset

    def orders(burn: int) -> list[list[float]]:
        x = torch.arange(32.0).unsqueeze(1)
        train = DataLoader(TensorDataset(x, x), batch_size=8, shuffle=True)
        runner._pin_shuffle(train, seed=3)
        out = []
        for _ in range(2):
            torch.rand(burn)            # what dropout would draw between epochs
            out.append([float(b[0][0, 0]) for b in train])
        return out

    assert orders(0) == orders(1000)
    assert orders(0)[0] != orders(0)[1]  # still shuffled, epoch to epoch


def test_cli_verify_json_and_export(cli, tmp_path):
    out, space = tmp_path / "report.json", tmp_path / "space.json"
    r = cli("probe", str(MODELS / "overfit_mlp.py"), "--train-epochs", "8", "--device", "cpu", "--verify",
            "--budget", "4x", "--export", "optuna", str(space), "--format", "json", "-o", str(out),
            env={"OMP_NUM_THREADS": "1"})
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(out.read_text())
    SCHEMA.validate(doc)
    assert any(n.startswith("verified at 8 epochs: ") for n in doc["notes"])
    data = json.loads(space.read_text())
    assert data["direction"] == "maximize" and "def suggest(trial)" in data["optuna"]
    for p in data["params"].values():
        if p["type"] in ("float", "int"):
            assert 0 <= p["low"] < p["high"] and math.isfinite(p["high"])


@pytest.mark.parametrize("args", [["--export", "optuna", "x.py"], ["--verify", "--budget", "3y"],
                                  ["--verify", "--export", "hyperopt", "x.py"]])
def test_cli_verify_option_errors(cli, args):
    r = cli("probe", str(MODELS / "overfit_mlp.py"), "--epochs", "1", *args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and ("--budget" in r.stderr or "--export" in r.stderr or "--verify" in r.stderr)
