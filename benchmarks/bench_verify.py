"""Benchmark for ``regadvisor probe --verify`` (issue 5): does measured advice beat the rules of thumb?

For each example in ``examples/models``, the *test* accuracy reached by full-length training under

  (a) the starting configuration,
  (b) the lesson's decision table applied blindly, by the probe's train/validation accuracy gap
      (> 10 points: dropout 0.4, weight decay 0.05; 5–10: 0.15, 3e-3; < 5: 0.075, 1e-4),
  (c) regadvisor's verified advice (``probe --verify``): every kept change where the combination
      was measured to beat the best single change, else the best single change (the report's
      "start with ..."),
  (d) random search over the same knobs with the same number of trials as (c),
  (e) an Optuna TPE study with 20 trials over the same knobs,

with each one's search compute (seconds, trials of ``--trial-epochs`` epochs).

Test split. The example scripts return only (train, validation), and they must not change, so
each is wrapped (``_data/verify_wrappers/NAME.py``): the validation set is concatenated and
split in half, the first half is what every method sees as validation, the second half is held
out as the test set and read only by the final evaluation below. The wrapper also keeps a
reference to the model it builds, so the trained weights can be scored after ``run_probe``.

Search space for (d)/(e): the knobs of the example's recommendations plus dropout and weight
decay (the decision table's knobs): dropout U[0, 0.7], weight decay log-U[1e-5, 0.5], learning
rate log-U[lr/10, lr·10], label smoothing U[0, 0.3], clipping log-U[0.1, 10], patience 1–10
(simulated on the trial's curve, as verify does), categorical knobs {current, suggested}. One
seed per search trial; the best trial by validation accuracy is then trained full-length.

Final evaluation: ``--final-epochs`` epochs, seeds 100–102 (not the search seeds), test
accuracy mean ± sd over the seeds. A configuration with early stopping stops with the probe's
stopper, which loads the best evaluation's weights back (as the knob means); those are scored.

    OMP_NUM_THREADS=1 python benchmarks/bench_verify.py            # all examples (~25 min on 1 core)
    python benchmarks/bench_verify.py overfit_mlp healthy          # some
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regadvisor import api
from regadvisor.probe import run_probe
from regadvisor.probe.verify import parse_budget, simulate_early_stopping, verify

MODELS = ROOT / "examples" / "models"
WRAPPERS = ROOT / "benchmarks" / "_data" / "verify_wrappers"
EXAMPLES = ("overfit_mlp", "healthy", "adam_l2", "small_transformer", "tiny_batch_bn", "deep_plain")
FINAL_SEEDS = (100, 101, 102)

CAPTURE = types.ModuleType("_bench_verify_capture")
CAPTURE.models = []
CAPTURE.test = {}
sys.modules[CAPTURE.__name__] = CAPTURE

WRAPPER = '''
"""Benchmark wrapper of {name}.py: validation split in half, second half held out as test."""
import functools
import importlib.util
import sys

import torch

import _bench_verify_capture as _cap

_spec = importlib.util.spec_from_file_location("_bench_orig_{name}", {path!r})
_orig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_orig)


@functools.wraps(_orig.build_model)
def build_model(*args, **kwargs):
    model = _orig.build_model(*args, **kwargs)
    _cap.models.append(model)
    return model


def build_data():
    train, val = _orig.build_data()
    xs, ys = zip(*list(val))
    x, y = torch.cat(xs), torch.cat(ys)
    half = len(y) // 2
    _cap.test[{name!r}] = (x[half:], y[half:])
    step = 256
    return train, [(x[i:min(i + step, half)], y[i:min(i + step, half)]) for i in range(0, half, step)]
'''


def wrapper(name: str) -> Path:
    WRAPPERS.mkdir(parents=True, exist_ok=True)
    path = WRAPPERS / f"{name}.py"
    orig = MODELS / f"{name}.py"
    text = textwrap.dedent(WRAPPER).format(name=name, path=str(orig))
    src = orig.read_text()
    for fn in ("build_optimizer", "loss_fn"):
        if f"def {fn}(" in src:
            text += f"\n\n{fn} = _orig.{fn}\n"
    path.write_text(text)
    return path


def test_accuracy(model: torch.nn.Module, name: str) -> float:
    x, y = CAPTURE.test[name]
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[i:i + 256]) for i in range(0, len(y), 256)])
    return 100.0 * float((out.argmax(-1) == y).float().mean())


def final_training(script: Path, name: str, config: dict[str, Any], epochs: int) -> tuple[float, float]:
    """Full-length training on FINAL_SEEDS; test accuracy mean and sd.

    With ``early_stopping_patience`` the probe's runner stops and loads the best evaluation's
    weights back (as the knob means), so the captured model is the restored one."""
    accs = []
    for seed in FINAL_SEEDS:
        CAPTURE.models.clear()
        run_probe(script, epochs=epochs, seed=seed, device="cpu", knobs=config)
        accs.append(test_accuracy(CAPTURE.models[-1], name))
    return statistics.mean(accs), statistics.stdev(accs)


def trial_value(script: Path, config: dict[str, Any], epochs: int, seed: int = 0) -> float:
    """Validation accuracy (points) of one short trial; patience simulated on its curve like verify."""
    knobs = {k: v for k, v in config.items() if k != "early_stopping_patience"}
    try:
        res = run_probe(script, epochs=epochs, seed=seed, device="cpu", knobs=knobs)
    except Exception:  # noqa: BLE001 - a search may propose a setting the script rejects
        return -math.inf
    acc = res.run.get("val_acc")
    if acc is None or not len(acc):
        return -math.inf
    curve = [100 * v for v in acc.values]
    if "early_stopping_patience" in config:
        vl = res.run.get("val_loss")
        stop = simulate_early_stopping(list(vl.values), config["early_stopping_patience"], list(vl.epochs))
        return curve[stop.best_index]
    v = curve[-1]
    return v if math.isfinite(v) else -math.inf


def space(report: Any) -> dict[str, tuple]:
    facts = report.run.facts
    knobs = {"dropout", "weight_decay"} | {r.knob for r in report.recommendations if r.knob != "data_augmentation"}
    out: dict[str, tuple] = {}
    recs = {r.knob: r for r in report.recommendations}
    for k in sorted(knobs):
        if k == "dropout":
            out[k] = ("float", 0.0, 0.7, False)
        elif k == "weight_decay":
            out[k] = ("float", 1e-5, 0.5, True)
        elif k == "learning_rate":
            lr = float(facts.get("learning_rate") or 1e-3)
            out[k] = ("float", lr / 10, lr * 10, True)
        elif k == "label_smoothing":
            out[k] = ("float", 0.0, 0.3, False)
        elif k == "grad_clip_norm":
            out[k] = ("float", 0.1, 10.0, True)
        elif k == "early_stopping_patience":
            out[k] = ("int", 1, 10)
        elif k in recs:
            cur = recs[k].current if recs[k].current is not None else facts.get(k)
            choices = [recs[k].value] + ([cur] if cur is not None and cur != recs[k].value else [])
            out[k] = ("cat", choices)
    return out


def sample_random(sp: dict[str, tuple], rng: random.Random) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for k, s in sp.items():
        if s[0] == "float":
            lo, hi, log = s[1], s[2], s[3]
            cfg[k] = math.exp(rng.uniform(math.log(lo), math.log(hi))) if log else rng.uniform(lo, hi)
        elif s[0] == "int":
            cfg[k] = rng.randint(s[1], s[2])
        else:
            cfg[k] = rng.choice(s[1])
    return _valid(cfg)


def _valid(cfg: dict[str, Any]) -> dict[str, Any]:
    # knob values the probe accepts; "none"/None categorical choices mean: leave as is
    return {k: v for k, v in cfg.items() if v is not None and not (k == "residual" and v is False)}


def sample_optuna(sp: dict[str, tuple], trial: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for k, s in sp.items():
        if s[0] == "float":
            cfg[k] = trial.suggest_float(k, s[1], s[2], log=s[3])
        elif s[0] == "int":
            cfg[k] = trial.suggest_int(k, s[1], s[2])
        else:
            cfg[k] = trial.suggest_categorical(k, [str(c) for c in s[1]])
            cfg[k] = next(c for c in s[1] if str(c) == cfg[k])
    return _valid(cfg)


def blind(gap: float) -> dict[str, Any]:
    if gap > 10:
        return {"dropout": 0.4, "weight_decay": 0.05}
    if gap >= 5:
        return {"dropout": 0.15, "weight_decay": 3e-3}
    return {"dropout": 0.075, "weight_decay": 1e-4}


def bench(name: str, trial_epochs: int, final_epochs: int, optuna_trials: int, budget: str | None) -> list[dict]:
    script = wrapper(name)
    rows = []
    t0 = time.perf_counter()
    CAPTURE.models.clear()
    report = api.probe(script, epochs=trial_epochs, seed=0, device="cpu")
    probe_s = time.perf_counter() - t0
    tr, va = report.run.get("train_acc"), report.run.get("val_acc")
    gap = 100 * (tr.values[-1] - va.values[-1]) if tr is not None and va is not None else 0.0
    # (c) verified advice, applied as the report says: every kept change when the combination was
    # measured to beat the best single change, else that best single change ("start with ...")
    t0 = time.perf_counter()
    vreport = api.probe(script, epochs=trial_epochs, seed=0, device="cpu")
    budget_seconds, budget_trials = parse_budget(budget)
    result = verify(script, vreport, budget_seconds=budget_seconds, budget_trials=budget_trials, device="cpu")
    verify_s = time.perf_counter() - t0
    trials_c = 1 + result.trials   # the probe run, then the trials
    if result.combination_kept or result.best_single is None:
        advice = dict(result.kept)
    else:
        advice = dict(result.best_single.changes)
    sp = space(report)
    # (d) random search, same number of trials
    t0 = time.perf_counter()
    rng = random.Random(0)
    best_d: tuple[float, dict] = (-math.inf, {})
    for _ in range(trials_c):
        cfg = sample_random(sp, rng)
        v = trial_value(script, cfg, trial_epochs)
        if v > best_d[0]:
            best_d = (v, cfg)
    random_s = time.perf_counter() - t0
    # (e) optuna
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda t: trial_value(script, sample_optuna(sp, t), trial_epochs), n_trials=optuna_trials)
    best_e = sample_optuna(sp, optuna.trial.FixedTrial(study.best_params))
    optuna_s = time.perf_counter() - t0
    configs = [
        ("(a) start", {}, 0.0, 0),
        ("(b) blind table", blind(gap), probe_s, 1),
        ("(c) verified", advice, verify_s, trials_c),
        ("(d) random", best_d[1], random_s, trials_c),
        ("(e) optuna", best_e, optuna_s, optuna_trials),
    ]
    for label, cfg, secs, trials in configs:
        mean, sd = final_training(script, name, cfg, final_epochs)
        rows.append({"example": name, "method": label, "config": cfg, "test_acc": mean, "sd": sd,
                     "seconds": secs, "trials": trials, "gap": gap})
        print(f"{name:<18} {label:<16} test {mean:5.1f} ± {sd:3.1f}  search {secs:6.1f} s {trials:3d} trials  "
              f"{_fmt(cfg)}", flush=True)
    for n in vreport.notes:
        print(f"    verify note: {n}", flush=True)
    return rows


def _fmt(cfg: dict[str, Any]) -> str:
    if not cfg:
        return "(no change)"
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(cfg.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("examples", nargs="*", default=list(EXAMPLES))
    ap.add_argument("--trial-epochs", type=int, default=10, help="trial length (default: the probe's 10 epochs)")
    ap.add_argument("--final-epochs", type=int, default=20)
    ap.add_argument("--optuna-trials", type=int, default=20)
    ap.add_argument("--budget", default="30t", help="verify budget (default 30 trials)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"trials of {args.trial_epochs} epochs; final training {args.final_epochs} epochs on seeds {FINAL_SEEDS}; "
          f"torch {torch.__version__}, 1 thread", flush=True)
    rows = []
    for name in args.examples:
        rows += bench(name, args.trial_epochs, args.final_epochs, args.optuna_trials, args.budget)
    print()
    print("| example | gap (pts) | method | test acc (%) | search s | trials | configuration |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['example']} | {r['gap']:.1f} | {r['method']} | {r['test_acc']:.1f} ± {r['sd']:.1f} | "
              f"{r['seconds']:.0f} | {r['trials']} | {_fmt(r['config'])} |")


if __name__ == "__main__":
    main()
