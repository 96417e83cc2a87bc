"""The probe loop: budgets, knobs, divergence, Ctrl-C, determinism, leaving state as found."""

from __future__ import annotations

import builtins
import math
import random
import sys
import types

import pytest
import torch
from torch import nn

from regadvisor import api
from regadvisor.errors import ConfigError, ScriptError
from regadvisor.model import Run
from regadvisor.probe import DEFAULT_EPOCHS, EvaluationPoint, ProbeProgress, ProbeResult, run_probe

VAL_CURVE_SCRIPT = '''
import torch
from torch import nn

CURVE = {curve!r}


class Scripted(nn.Module):
    """Outputs whose validation loss follows CURVE, one value per evaluation."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.evals = 0

    def forward(self, x):
        if not self.training and x.shape[0] == 3:
            self.evals += 1
        value = CURVE[min(self.evals, len(CURVE)) - 1] if self.evals else 1.0
        return self.w * 0 + torch.full((x.shape[0],), value)


def build_model():
    return Scripted()


def build_data():
    x = torch.zeros(4, 1)
    return [(x, torch.zeros(4))], [(torch.zeros(3, 1), torch.zeros(3))]


def loss_fn(outputs, targets):
    return outputs.mean()
'''


def test_result_shape_and_series(tiny_script):
    r = run_probe(tiny_script(), epochs=2, device="cpu")
    assert isinstance(r, ProbeResult) and isinstance(r.run, Run)
    assert r.run.format == "probe" and r.run.source.endswith("script.py")
    assert (r.steps, r.epochs, r.stop_reason, r.diverged, r.interrupted) == (8, 2.0, "epochs", False, False)
    s = r.run.series
    for name in ("train_loss", "grad_norm", "learning_rate"):
        assert len(s[name]) == 8, name
        assert list(s[name].steps) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert list(s["train_loss"].epochs) == [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    for name in ("val_loss", "val_acc", "train_acc", "train_eval_loss"):
        assert list(s[name].steps) == [4, 8] and list(s[name].epochs) == [1.0, 2.0], name
    assert all(0 <= v <= 1 for v in s["val_acc"].values)
    f = r.run.facts
    assert f["task"] == "classification" and f["num_classes"] == 2
    assert f["batch_size"] == 16 and f["num_train_examples"] == 64 and f["steps_per_epoch"] == 4
    assert f["optimizer_source"] == "default" and f["optimizer"] == "adamw"
    assert f["decay_on_bias_or_norm"] is False  # the default optimizer keeps biases out of decay


def test_budget_by_steps(tiny_script):
    r = run_probe(tiny_script(), steps=6, device="cpu")
    assert r.steps == 6 and r.stop_reason == "steps"
    assert len(r.run.series["val_loss"]) == 2  # end of epoch 1, and the final evaluation at step 6
    assert r.run.series["val_loss"].steps[-1] == 6


class _Clock:
    """A stand-in for the probe's clock that moves only when the script's optimizer steps."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


def test_budget_by_seconds(tiny_script, monkeypatch):
    """Each optimizer step takes 0.1 s of the probe's clock: a 0.35 s budget stops after step 4
    (0.4 s), whatever the machine's load."""
    from regadvisor.probe import runner

    clock = _Clock()
    monkeypatch.setattr(runner, "time", clock)
    monkeypatch.setattr(builtins, "_regadvisor_test_clock", clock, raising=False)
    path = tiny_script("""
import builtins

class TimedSGD(torch.optim.SGD):
    def step(self, closure=None):
        builtins._regadvisor_test_clock.now += 0.1
        return super().step(closure)

def build_optimizer(params):
    return TimedSGD(params, lr=0.01)
""")
    r = run_probe(path, seconds=0.35, device="cpu")
    assert (r.stop_reason, r.steps) == ("seconds", 4)
    assert r.seconds == pytest.approx(0.4) and r.run.facts["probe_seconds"] == pytest.approx(0.4)


def test_unknown_length_trains_the_default_epochs_and_says_so(tiny_script):
    r = run_probe(tiny_script(), device="cpu", stop_past_best=False)
    assert r.run.facts["probe_budget"] == {"steps": None, "epochs": DEFAULT_EPOCHS, "seconds": None}
    assert r.stop_reason == "epochs" and r.steps == 4 * DEFAULT_EPOCHS
    assert r.run.facts["train_length"] is None and r.run.facts["train_length_source"] is None


def test_the_scripts_epochs_is_the_real_length(tiny_script):
    r = run_probe(tiny_script("EPOCHS = 7\n"), device="cpu", stop_past_best=False)
    assert r.stop_reason == "epochs" and r.epochs == 7.0
    assert r.run.facts["train_length"] == {"epochs": 7} and r.run.facts["train_length_source"] == "EPOCHS"


def test_train_epochs_and_steps_override_the_script(tiny_script):
    path = tiny_script("EPOCHS = 7\n")
    r = run_probe(path, train_epochs=3, device="cpu")
    assert r.epochs == 3.0 and r.run.facts["train_length_source"] == "--train-epochs"
    r = run_probe(path, train_steps=6, device="cpu")
    assert (r.steps, r.stop_reason) == (6, "steps") and r.run.facts["train_length"] == {"steps": 6}
    # a probe budget shortens the run; the real length stays what the report talks about
    r = run_probe(path, epochs=2, device="cpu")
    assert r.epochs == 2.0 and r.run.facts["train_length"] == {"epochs": 7}


@pytest.mark.parametrize("value", ["10", 0, 2.5, True])
def test_a_bad_epochs_constant_is_a_script_error(tiny_script, value):
    with pytest.raises(ScriptError, match="EPOCHS"):
        run_probe(tiny_script(f"EPOCHS = {value!r}\n"), device="cpu")


def test_past_best_stops_once_validation_has_clearly_turned(write_script):
    """Validation loss falls for 4 epochs and rises after: with 40 planned epochs the probe stops
    after max(5 evaluations, a quarter of the length = 10 epochs) without a new best."""
    path = write_script(VAL_CURVE_SCRIPT.format(curve=[1.0, 0.8, 0.6, 0.5] + [0.5 + 0.1 * i for i in range(1, 60)]))
    r = run_probe(path, train_epochs=40, device="cpu")
    assert r.stop_reason == "past-best"
    assert r.epochs == 14.0  # best at epoch 4, then 10 epochs without a new best
    assert r.run.facts["past_best"] == {"stopped": True, "last_improvement_step": 4, "last_improvement_epoch": 4.0}
    # short runs keep at least 5 evaluations after the best
    r = run_probe(path, train_epochs=8, device="cpu")
    assert r.stop_reason == "epochs" and r.epochs == 8.0
    assert run_probe(path, train_epochs=40, device="cpu", stop_past_best=False).epochs == 40.0
    # verify's trials wait a tenth of the length: max(5 evaluations, 4 epochs) after the best
    r = run_probe(path, train_epochs=40, device="cpu", past_best_fraction=0.1)
    assert r.stop_reason == "past-best" and r.epochs == 9.0


def test_on_evaluation_can_prune_the_run(tiny_script):
    seen: list[EvaluationPoint] = []

    def prune_at_third(point: EvaluationPoint) -> bool:
        seen.append(point)
        return len(seen) == 3

    r = run_probe(tiny_script(), train_epochs=10, device="cpu", on_evaluation=prune_at_third)
    assert r.stop_reason == "pruned" and r.epochs == 3.0
    assert [p.epoch for p in seen] == [1.0, 2.0, 3.0] and [p.step for p in seen] == [4, 8, 12]
    assert seen[-1].val_loss == r.run.series["val_loss"].values[-1]
    assert seen[-1].val_acc == r.run.series["val_acc"].values[-1]


def test_one_shot_generators_are_replayed(write_script):
    path = write_script('''
import torch
from torch import nn

def build_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    y = (x[:, 0] > 0).long()
    train = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8))
    val = iter([(x[:16], y[:16])])
    return train, val

def build_model():
    return nn.Linear(4, 2)
''')
    r = run_probe(path, epochs=3, device="cpu")
    assert r.steps == 12 and len(r.run.series["val_loss"]) == 3
    assert r.run.facts["num_train_examples"] == 32


def test_nonfinite_loss_stops_and_is_recorded(tiny_script):
    path = tiny_script('''
import torch.nn.functional as F
CALLS = [0]

def loss_fn(outputs, targets):
    CALLS[0] += 1
    loss = F.cross_entropy(outputs, targets)
    return loss * float("nan") if CALLS[0] >= 4 else loss
''')
    r = run_probe(path, steps=50, device="cpu")
    assert r.diverged and r.stop_reason == "diverged" and not r.interrupted
    assert r.steps == 4 and r.run.facts["diverged_at_step"] == 4
    assert math.isnan(r.run.series["train_loss"].values[-1])
    assert any("step 4" in w for w in r.run.warnings)


def test_keyboard_interrupt_returns_partial_results(tiny_script):
    seen: list[ProbeProgress] = []

    def progress(p: ProbeProgress) -> None:
        seen.append(p)
        if p.phase == "train" and p.step == 3:
            raise KeyboardInterrupt

    r = run_probe(tiny_script(), epochs=5, device="cpu", progress=progress)
    assert r.interrupted and r.stop_reason == "interrupted" and not r.diverged
    assert r.steps == 3 and len(r.run.series["train_loss"]) == 3 and len(r.run.series["grad_norm"]) == 3
    assert r.run.facts["interrupted"] is True
    assert "interrupted" in r.run.warnings[0]
    assert seen[0].step == 1 and seen[0].loss is not None and seen[0].total_epochs == 5


def test_deterministic_given_seed(tiny_script):
    path = tiny_script()
    a = run_probe(path, steps=6, device="cpu", seed=3)
    b = run_probe(path, steps=6, device="cpu", seed=3)
    c = run_probe(path, steps=6, device="cpu", seed=4)
    assert list(a.run.series["train_loss"].values) == list(b.run.series["train_loss"].values)
    assert list(a.run.series["train_loss"].values) != list(c.run.series["train_loss"].values)


def test_leaves_model_hooks_modes_and_rng_as_found(write_script, tiny_data):
    shared = types.ModuleType("regadvisor_probe_test_shared")
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.BatchNorm1d(16), nn.Linear(16, 2))
    model[3].eval()  # a frozen BatchNorm the user set up deliberately
    user_hook = model[0].register_forward_hook(lambda m, i, o: None)
    tensor_hook = model[4].weight.register_hook(lambda g: g)
    shared.MODEL = model
    sys.modules[shared.__name__] = shared
    path = write_script(tiny_data + '''
import regadvisor_probe_test_shared

def build_model():
    return regadvisor_probe_test_shared.MODEL
''')

    def snapshot():
        return (
            [(n, m.training, dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks),
              dict(getattr(m, "_backward_pre_hooks", {})), dict(m._forward_hooks_with_kwargs))
             for n, m in model.named_modules()],
            [(n, dict(p._backward_hooks or {})) for n, p in model.named_parameters()],
        )

    random.seed(123)
    torch.manual_seed(123)
    before = snapshot()
    rng_py, rng_torch = random.getstate(), torch.get_rng_state()
    try:
        r = run_probe(path, steps=5, depth="full", device="cpu")
        assert r.steps == 5
        assert snapshot() == before
        assert all(p.grad is None for p in model.parameters())  # no gradients left on the user's model
        assert random.getstate() == rng_py
        assert torch.equal(torch.get_rng_state(), rng_torch)
        # also after a failure inside the loop
        model.train()
        model[3].eval()
        before = snapshot()
        r = run_probe(path, steps=5, device="cpu", progress=lambda p: (_ for _ in ()).throw(KeyboardInterrupt))
        assert r.interrupted and snapshot() == before
        assert torch.equal(torch.get_rng_state(), rng_torch)
    finally:
        user_hook.remove()
        tensor_hook.remove()
        del sys.modules[shared.__name__]


def test_knobs_through_signatures(tiny_script):
    path = tiny_script('''
def build_optimizer(params, weight_decay=0.0, learning_rate=1e-3):
    return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
''', model='''
def build_model(dropout=0.0, **kw):
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))
''')
    r = run_probe(path, steps=2, device="cpu",
                  knobs={"dropout": 0.3, "normalization": "layernorm", "weight_decay": 0.05, "learning_rate": 0.01})
    f = r.run.facts
    assert f["knobs_applied"]["dropout"] == "build_model(dropout=0.3)"
    assert f["knobs_applied"]["normalization"] == "build_model(normalization='layernorm')"
    assert f["knobs_applied"]["weight_decay"] == "build_optimizer(params, weight_decay=0.05)"
    assert f["knobs_applied"]["learning_rate"] == "build_optimizer(params, learning_rate=0.01)"
    assert f["max_dropout"] == 0.3 and f["weight_decay"] == 0.05 and f["learning_rate"] == 0.01
    assert f["knobs_not_applied"] == {}


def test_knobs_by_standard_means(tiny_script):
    path = tiny_script('''
def build_optimizer(params):
    return torch.optim.Adam(params, lr=1e-3)
''', model='''
def build_model():
    return nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 2))
''')
    r = run_probe(path, steps=3, device="cpu", knobs={
        "dropout": 0.4, "normalization": "groupnorm", "residual": True, "weight_decay": 0.1,
        "grad_clip_norm": 1.0, "label_smoothing": 0.1, "learning_rate": 3e-3})
    f = r.run.facts
    applied, not_applied = f["knobs_applied"], f["knobs_not_applied"]
    assert applied["dropout"] == "set p=0.4 on 1 existing dropout module(s)" and f["max_dropout"] == 0.4
    assert "swapped 1 normalization layer(s) to groupnorm" in applied["normalization"]
    assert f["normalization_layers"] == ["groupnorm"]     # 2 groups of 16 features (FEATURE_GROUP_SIZE)
    assert "rebuilt Adam as AdamW" in applied["weight_decay"] and f["optimizer"] == "adamw"
    assert f["adam_coupled_weight_decay"] is False and f["decay_on_bias_or_norm"] is False
    assert f["weight_decay"] == 0.1 and f["learning_rate"] == 3e-3
    assert "clip_grad_norm_" in applied["grad_clip_norm"]
    assert applied["label_smoothing"] == "F.cross_entropy(label_smoothing=0.1)"
    assert "residual" in not_applied


def test_optimizer_knob_rebuilds(tiny_script):
    path = tiny_script('''
def build_optimizer(params):
    return torch.optim.Adam(params, lr=2e-3, weight_decay=1e-4)
''')
    r = run_probe(path, steps=2, device="cpu", knobs={"optimizer": "AdamW"})
    f = r.run.facts
    assert f["optimizer_class"] == "AdamW" and f["learning_rate"] == 2e-3 and f["weight_decay"] == 1e-4
    assert f["knobs_applied"]["optimizer"] == "rebuilt Adam as AdamW with the same parameter groups"


def test_early_stopping_knob(write_script):
    """Validation loss by evaluation is scripted: best at the second, worse at the third, so a
    patience of 1 stops at epoch 3; a curve that keeps improving trains its full length."""
    turning = write_script(VAL_CURVE_SCRIPT.format(curve=[1.0, 0.8, 0.9, 0.7, 0.6, 0.5]), "turning.py")
    r = run_probe(turning, train_epochs=6, device="cpu", knobs={"early_stopping_patience": 1})
    es = r.run.facts["early_stopping"]
    assert (r.stop_reason, r.epochs) == ("early-stopping", 3.0)
    assert es["patience"] == 1 and es["stopped"] and es["best_val_loss"] == pytest.approx(0.8)
    improving = write_script(VAL_CURVE_SCRIPT.format(curve=[1.0, 0.9, 0.8, 0.7, 0.6, 0.5]), "improving.py")
    r = run_probe(improving, train_epochs=6, device="cpu", knobs={"early_stopping_patience": 1})
    assert (r.stop_reason, r.epochs) == ("epochs", 6.0) and not r.run.facts["early_stopping"]["stopped"]


def test_early_stopping_restores_the_best_weights(tiny_script):
    """The knob means stop *and* keep the best evaluation's weights: the model the script built
    ends with the best validation loss, not the last one (lr 0.5 makes the curve worsen)."""
    built = []
    path = tiny_script(model='''
import builtins
def build_model():
    m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    builtins._regadvisor_test_models.append(m)
    return m
''')
    builtins._regadvisor_test_models = built
    try:
        r = run_probe(path, epochs=30, seed=0, device="cpu",
                      knobs={"early_stopping_patience": 2, "learning_rate": 0.5})
    finally:
        del builtins._regadvisor_test_models
    es, val_loss = r.run.facts["early_stopping"], r.run.get("val_loss")
    assert es["restored"] and min(val_loss.values) < val_loss.values[-1]     # the curve did worsen
    x, y = [b for b in _tiny_val(path)][0]
    with torch.no_grad():
        restored = float(torch.nn.functional.cross_entropy(built[-1].eval()(x), y))
    assert restored == pytest.approx(es["best_val_loss"], rel=1e-5)
    assert restored == pytest.approx(min(val_loss.values), rel=1e-5)


def test_a_run_that_restored_its_best_weights_is_not_told_to_stop_early(tiny_script):
    """ES001 ('training ran past its best point') judges the final weights; with the stopper's
    restore they are the best point's, so the rule does not apply, and the knob shows as current."""
    path = tiny_script()
    knobs = {"early_stopping_patience": 2, "learning_rate": 0.5}
    report = api.probe(path, epochs=30, seed=0, device="cpu", knobs=knobs, select_rules=["ES001"])
    assert report.run.facts["early_stopping_patience"] == 2 and report.signals["best_weights_restored"] is True
    [finding] = report.findings
    assert finding.rule_id == "ES001" and finding.status == "not-applicable"
    without = api.probe(path, epochs=30, seed=0, device="cpu", knobs={"learning_rate": 0.5}, select_rules=["ES001"])
    assert without.signals["best_weights_restored"] is None and without.findings[0].status != "not-applicable"


def _tiny_val(path):
    namespace: dict = {}
    exec(path.read_text(), namespace)
    return namespace["build_data"]()[1]


@pytest.mark.parametrize("bad", [
    {"dropuot": 0.1}, {"dropout": 1.5}, {"normalization": "weirdnorm"}, {"optimizer": "lion"},
    {"early_stopping_patience": 0}, {"residual": "yes"},
])
def test_bad_knobs_are_config_errors(tiny_script, bad):
    with pytest.raises(ConfigError):
        run_probe(tiny_script(), steps=1, device="cpu", knobs=bad)


def test_bad_arguments(tiny_script):
    with pytest.raises(ConfigError):
        run_probe(tiny_script(), steps=0)
    with pytest.raises(ConfigError):
        run_probe(tiny_script(), steps=1, depth="deep")
    with pytest.raises(ConfigError):
        run_probe(tiny_script(), steps=1, device="tpu")


def test_process_settings_are_left_as_found(tiny_script):
    path = tiny_script('''
torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)
''')
    was = torch.are_deterministic_algorithms_enabled()  # other tests' libraries (Lightning) may have set it
    torch.use_deterministic_algorithms(False)
    try:
        before = (torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
        r = run_probe(path, epochs=1, device="cpu")
        after = (torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    finally:
        torch.use_deterministic_algorithms(was)
    assert after == before
    assert set(r.run.facts["process_settings_changed"]) == {"default_dtype", "deterministic_algorithms"}


def test_seconds_bound_the_evaluation_too(tiny_script, monkeypatch):
    """A forward pass that takes 10 s of the probe's clock, with a 3 s budget: the probe stops
    after its first step and evaluates one batch per split, not every validation batch (issue:
    `--seconds 3` with a 30 s step ran for 156 s)."""
    from regadvisor.probe import runner

    clock = _Clock()
    monkeypatch.setattr(runner, "time", clock)
    monkeypatch.setattr(builtins, "_regadvisor_test_clock", clock, raising=False)
    path = tiny_script("""
import builtins

FORWARDS = []

class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, x):
        builtins._regadvisor_test_clock.now += 10.0
        FORWARDS.append(len(x))
        return self.net(x)

def build_model():
    return Slow()

def build_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = (x[:, 0] > 0).long()
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)], [(x[i:i + 8], y[i:i + 8]) for i in range(64, 256, 8)]
""")
    r = run_probe(path, seconds=3, device="cpu")
    assert (r.stop_reason, r.steps) == ("seconds", 1)
    assert r.seconds == pytest.approx(30.0)  # the step, one validation batch, one training batch
    assert r.run.facts["evaluation_cut_by_seconds"] is True
    assert len(r.run.series["val_loss"].values) == 1


def test_evaluation_without_a_seconds_budget_takes_every_batch(tiny_script):
    r = run_probe(tiny_script(), steps=4, device="cpu", stop_past_best=False)
    assert "evaluation_cut_by_seconds" not in r.run.facts


def test_threads_the_data_starts_while_it_is_iterated_are_daemons(tiny_script):
    """A training iterable that starts a (non-daemon) prefetch thread each time it is iterated,
    outside the script's import and its contract calls: the thread must not hold the exit."""
    import threading

    path = tiny_script("""
import builtins
import threading

class Prefetching:
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        thread = threading.Thread(target=lambda: None)
        thread.start()
        builtins._regadvisor_test_threads.append(thread)
        return iter(self.batches)

_build_data = build_data

def build_data():
    train, val = _build_data()
    return Prefetching(train), val
""")
    builtins._regadvisor_test_threads = []
    try:
        run_probe(path, steps=8, device="cpu", stop_past_best=False)
        started = list(builtins._regadvisor_test_threads)
    finally:
        del builtins._regadvisor_test_threads
    assert started and all(t.daemon for t in started)
    assert not getattr(threading.Thread.start, "_regadvisor_daemons", False)   # Thread.start restored
