"""Each example in examples/models/ runs on a small budget and shows the problem it documents,
as facts and as the signals the rules test. Also: probe signals on a non-probe run are None."""

from __future__ import annotations

from pathlib import Path

import pytest

from regadvisor import api
from regadvisor.model import Run
from regadvisor.probe import run_probe
from regadvisor.signals.registry import SignalContext, specs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"
# What plain `regadvisor probe` must call each example at its real length (its EPOCHS): the
# overfitting ones overfit late or early, in several kinds of model; the others fail otherwise.
VERDICTS = {
    "overfit_mlp": "overfitting", "small_transformer": "overfitting", "cnn_digits": "overfitting",
    "gru_series": "overfitting", "mse_regression": "overfitting", "char_lm": "overfitting",
    "adam_l2": "overfitting", "conv1d_signals": "overfitting", "bag_of_words": "overfitting",
    "sgd_regression": "overfitting", "rmsprop_tabular": "overfitting",
    "over_regularized": "underfitting", "deep_plain": "not-learning",
    "tiny_batch_bn": "underfitting", "healthy": "healthy",
}


def probe(name: str, **budget):
    result = run_probe(EXAMPLES / f"{name}.py", device="cpu", seed=0, **budget)
    assert not result.diverged and not result.interrupted
    return result, SignalContext(result.run)


def test_every_example_has_a_docstring_saying_what_is_wrong():
    names = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    assert set(VERDICTS) == set(names)
    for p in EXAMPLES.glob("*.py"):
        text = p.read_text()
        assert text.startswith('"""') and ("What is wrong" in text or "Nothing is wrong" in text), p.name


def test_overfit_mlp_shows_a_large_gap():
    r, sig = probe("overfit_mlp", epochs=12)
    s = r.run.series
    assert s["train_acc"].values[-1] - s["val_acc"].values[-1] > 0.15
    assert min(s["val_loss"].values) < s["val_loss"].values[-1]  # validation loss has turned up
    assert sig.get("max_dropout") == 0.0 and sig.get("params_per_example") > 100
    assert r.run.facts["weight_decay"] == 0.0


def test_deep_plain_vanishes():
    _r, sig = probe("deep_plain", epochs=1)
    assert sig.get("grad_norm_first_last_ratio") < 1e-3
    assert sig.get("min_layer_grad_mean_abs") < 1e-7
    assert sig.get("depth") > 30 and sig.get("has_residual") is False and sig.get("has_normalization") is False
    assert sig.get("update_weight_ratio_min") < 1e-8
    assert sig.get("architecture") == "mlp"


def test_tiny_batch_bn_sees_batch_four():
    r, sig = probe("tiny_batch_bn", steps=20)
    assert sig.get("batchnorm_min_batch_size") == 4
    assert sig.get("architecture") == "mlp" and r.run.facts["normalization_layers"] == ["batchnorm"]
    # BatchNorm1d on plain features: the per-example replacement is LayerNorm, not GroupNorm
    assert sig.get("batchnorm_replacement") == "layernorm"
    report = api.probe(EXAMPLES / "tiny_batch_bn.py", steps=20, device="cpu", select_rules=["NM001"])
    [rec] = report.recommendations
    assert (rec.knob, rec.current, rec.value) == ("normalization", "batchnorm", "layernorm")


def test_tiny_batch_bn_normalization_knob_swaps_the_layers():
    r, sig = probe("tiny_batch_bn", steps=5, knobs={"normalization": "layernorm"})
    assert "swapped 6 normalization layer(s) to layernorm" in r.run.facts["knobs_applied"]["normalization"]
    assert r.run.facts["normalization_layers"] == ["layernorm"]
    assert sig.get("batchnorm_min_batch_size") is None and sig.get("batchnorm_replacement") is None


def test_adam_l2_is_coupled():
    _r, sig = probe("adam_l2", steps=5)
    assert sig.get("adam_coupled_weight_decay") is True and sig.get("decay_on_bias_or_norm") is True
    _r, sig = probe("adam_l2", steps=5, knobs={"optimizer": "adamw"})
    assert sig.get("adam_coupled_weight_decay") is False


def test_small_transformer_post_norm_without_dropout():
    _r, sig = probe("small_transformer", steps=10)
    assert sig.get("architecture") == "transformer"
    assert sig.get("transformer_post_norm") is True and sig.get("max_dropout") == 0.0
    assert sig.get("has_residual") is True


def test_healthy_is_healthy():
    r, sig = probe("healthy", epochs=2)
    assert r.run.series["val_acc"].values[-1] > 0.8
    assert abs(r.run.series["train_acc"].values[-1] - r.run.series["val_acc"].values[-1]) < 0.05
    assert 1e-3 < sig.get("grad_norm_first_last_ratio") < 70
    assert sig.get("min_layer_grad_mean_abs") > 1e-7
    assert sig.get("max_dead_unit_fraction") < 0.5
    assert 1e-8 < sig.get("update_weight_ratio_min") and sig.get("update_weight_ratio_max") < 10
    for flag in ("adam_coupled_weight_decay", "decay_on_bias_or_norm", "dropout_before_batchnorm"):
        assert sig.get(flag) is False, flag


PROBE_SIGNALS = sorted(n for n, s in specs().items() if s.provider.startswith("regadvisor.signals.probe_signals"))


@pytest.mark.parametrize("name", PROBE_SIGNALS)
def test_probe_signals_are_none_on_a_log_run(name):
    ctx = SignalContext(Run(source="log.csv", format="csv"))
    assert ctx.get(name) is (False if name == "probe_run" else None)


def test_adam_coupled_from_log_facts():
    run = Run(source="hparams.yaml", format="lightning", facts={"optimizer": "Adam", "weight_decay": 0.01})
    assert SignalContext(run).get("adam_coupled_weight_decay") is True


PROBE_CATEGORIES = ["gradients", "activations", "normalization", "optimizer", "dropout", "architecture"]


def _probe_rules():
    from regadvisor.engine.loader import load_rules, select

    return select(load_rules(known_signals=specs()), PROBE_CATEGORIES)


@pytest.mark.parametrize("name, budget, expected", [
    ("deep_plain", {"epochs": 1}, {"GR001", "GR003", "AR001"}),
    ("tiny_batch_bn", {"steps": 10}, {"NM001"}),
    ("adam_l2", {"steps": 5}, {"OPT001"}),
    ("small_transformer", {"steps": 5}, {"AR002", "DO001"}),
])
def test_probe_rules_fire_on_the_examples(name, budget, expected):
    from regadvisor.engine.evaluator import evaluate

    rules = _probe_rules()
    r, sig = probe(name, **budget)
    fired = {f.rule_id for f in evaluate(rules, sig.get, r.run.facts) if f.status == "fired"}
    assert expected <= fired


def test_probe_rules_quiet_on_healthy():
    from regadvisor.engine.evaluator import evaluate

    rules = _probe_rules()
    r, sig = probe("healthy", epochs=1)
    assert [f.rule_id for f in evaluate(rules, sig.get, r.run.facts) if f.status == "fired"] == []


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_plain_probe_calls_each_example_what_it_is(name):
    """At the real length, with no budget given, the verdict is the example's problem."""
    report = api.probe(EXAMPLES / f"{name}.py", seed=0, device="cpu")
    assert report.run.facts["train_length_source"] == "EPOCHS"
    assert report.verdict == VERDICTS[name], [f.rule_id for f in report.fired()]


def test_an_sgd_model_gets_weight_decay_in_sgds_units():
    """conv1d_signals trains with SGD (momentum 0.9, lr 0.03), where AdamW's 0.05 as SGD's L2
    coefficient drops it to chance accuracy: the advice is a hundredth of that, and says so."""
    report = api.probe(EXAMPLES / "conv1d_signals.py", seed=0, device="cpu")
    assert report.run.facts["optimizer"] == "sgd"
    [decay] = [r for r in report.recommendations if r.knob == "weight_decay"]
    assert decay.value <= 1e-3 and decay.unit == "SGD's L2 coefficient"
    assert decay.snippet.startswith("torch.optim.SGD(")
