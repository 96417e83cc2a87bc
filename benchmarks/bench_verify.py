"""Benchmark: what each way of choosing regularization buys at the real training length.

For each example in ``examples/models`` (each sets ``EPOCHS``, the length it is really trained
for), the *test* score after full-length training with the configuration chosen by

  (a) nothing: the script as it is;
  (b) the lesson's gap table applied blindly to the probe's train/validation accuracy gap
      (> 10 points: dropout 0.4, weight decay 0.05, early stopping; 5–10: dropout 0.15, weight
      decay 3e-3; < 5: dropout 0.075, weight decay 1e-4); runs without accuracy use the loss
      ratio instead (validation/training > 2 heavy, 1.5–2 moderate, else light);
  (c) ``regadvisor probe``'s advice without verification: every recommendation the probe can
      apply, at the rules' values;
  (d) ``regadvisor probe --verify`` at its default budget: the kept configuration (none when
      nothing helped beyond noise);
  (e) random search over the same knobs with the compute of (d), rounded to whole full
      trainings (at least one), each trained at full length, the best by validation; one draw
      is a lottery ticket (on cnn_digits one drew a configuration better on test than the whole
      grid's pick), so it runs ``--random-draws`` times (default 5, seeds 0, 1, ...) and the
      table gives both the first draw, as before, and the mean of all draws with their sd;
  (f) an Optuna TPE study with the same number of full-length trainings;
  (g) a grid oracle: at least 48 full-length trainings over the same knobs (each curve also
      valued with early stopping at every patience), the best by validation.

Scores: test accuracy in points for classifiers, test MSE (the script's loss) for the
regression. Each as a *share* of (g)'s gain over (a): 1.0 = as good as the grid, 0 = no
better than doing nothing. Compute is in full trainings of the real length.

Test split. The example scripts return only (train, validation), and they must not change, so
each is wrapped (``_data/verify_wrappers/NAME.py``): the validation set is split in half, the
first half is what every method sees as validation, the second half is held out as the test
set and read only by the final evaluation. The wrapper keeps a reference to the model it
builds, so the trained weights can be scored after ``run_probe``.

Final training: the real length without the probe's past-best stop, seeds 100–102 (not the
search seeds), mean ± sd over the seeds. A configuration with early stopping stops with the
probe's stopper, which loads the best evaluation's weights back (as the knob means).

    python benchmarks/bench_verify.py                    # every example, 2 processes (~1 h on 2 cores)
    python benchmarks/bench_verify.py overfit_mlp healthy --jobs 1
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import random
import statistics
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ROOT / "examples" / "models"
DATA = ROOT / "benchmarks" / "_data"
WRAPPERS = DATA / "verify_wrappers"
FINAL_SEEDS = (100, 101, 102)
GRID_MIN = 48
TRAINED = ("dropout", "weight_decay", "normalization", "residual", "optimizer", "learning_rate",
           "label_smoothing", "grad_clip_norm")
PATIENCES = (None, 3, 5, 10, 20)
RANDOM_DRAWS = "(e) random, mean of draws"

WRAPPER = '''
"""Benchmark wrapper of {name}.py: validation split in half, second half held out as test."""
import functools
import importlib.util

import torch

import _bench_verify_capture as _cap

_spec = importlib.util.spec_from_file_location("_bench_orig_{name}", {path!r})
_orig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_orig)
EPOCHS = _orig.EPOCHS


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


def _capture() -> types.ModuleType:
    mod = sys.modules.get("_bench_verify_capture")
    if mod is None:
        mod = types.ModuleType("_bench_verify_capture")
        mod.models, mod.test = [], {}
        sys.modules[mod.__name__] = mod
    return mod


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


class Example:
    """One example under test: its wrapped script, length and how to score a trained model."""

    def __init__(self, name: str):
        from regadvisor.probe.discover import load_script, script_importable, unload_script

        _capture()
        self.name = name
        self.script = wrapper(name)
        with script_importable(self.script):
            ps = load_script(self.script)
            self.epochs = ps.epochs
            self.loss_fn = ps.loss_fn
            unload_script(ps)
        self.classification = self.loss_fn is None

    def train(self, config: dict[str, Any], seed: int) -> Any:
        """Full-length training (no past-best stop); the ProbeResult and the trained model."""
        from regadvisor.probe import run_probe

        cap = _capture()
        cap.models.clear()
        res = run_probe(self.script, epochs=self.epochs, seed=seed, device="cpu", knobs=config,
                        stop_past_best=False)
        return res, cap.models[-1]

    def test_score(self, model: Any) -> float:
        """Test accuracy in points, or test MSE (the script's loss), of a trained model."""
        import torch

        x, y = _capture().test[self.name]
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(x[i:i + 256]) for i in range(0, len(y), 256)])
        if self.classification:
            pred = out.argmax(-1)
            return 100.0 * float((pred == y).float().mean())
        return float(self.loss_fn(out, y))

    def val_score(self, res: Any, patience: int | None) -> float | None:
        """Validation score of a full-length run, with early stopping replayed at ``patience``
        (higher is better: accuracy points, or minus the loss)."""
        from regadvisor.probe.trials import curve_of

        curve = curve_of(res, {}, 0, self.classification)
        return curve.value(patience)

    def final(self, config: dict[str, Any]) -> tuple[float, float]:
        scores = [self.test_score(self.train(config, s)[1]) for s in FINAL_SEEDS]
        return statistics.mean(scores), statistics.stdev(scores)


# ---------------------------------------------------------------------------------------------
# the choosers


def blind(report: Any) -> dict[str, Any]:
    """The lesson's decision table, applied to the probe's end-of-run gap."""
    run = report.run
    tr, va = run.get("train_acc"), run.get("val_acc")
    if tr is not None and va is not None:
        gap = 100 * (tr.values[-1] - va.values[-1])
        heavy, moderate = gap > 10, gap >= 5
    else:
        tl, vl = run.get("train_eval_loss") or run.get("train_loss"), run.get("val_loss")
        ratio = vl.values[-1] / max(tl.values[-1], 1e-12)
        heavy, moderate = ratio > 2, ratio >= 1.5
    if heavy:
        return {"dropout": 0.4, "weight_decay": 0.05, "early_stopping_patience": 10}
    if moderate:
        return {"dropout": 0.15, "weight_decay": 3e-3}
    return {"dropout": 0.075, "weight_decay": 1e-4}


def rules_advice(report: Any) -> dict[str, Any]:
    """Every recommendation the probe can apply, at the rules' values (no verification)."""
    return {r.knob: r.value for r in report.recommendations if r.knob in TRAINED + ("early_stopping_patience",)
            and r.value is not None}


def space(report: Any, applicable: set[str]) -> dict[str, tuple]:
    """Search space of (e)/(f): the report's knobs plus dropout and weight decay."""
    facts = report.run.facts
    recs = {r.knob: r for r in report.recommendations}
    knobs = ({"dropout", "weight_decay"} | {k for k in recs if k in TRAINED}) & applicable
    out: dict[str, tuple] = {}
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
        else:
            cur = recs[k].current if recs[k].current is not None else facts.get(k)
            out[k] = ("cat", [recs[k].value] + ([cur] if cur is not None and cur != recs[k].value else []))
    out["early_stopping_patience"] = ("cat", list(PATIENCES))
    return out


def _clean(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if v is not None and not (k == "residual" and v is False)}


def sample_random(sp: dict[str, tuple], rng: random.Random) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for k, s in sp.items():
        if s[0] == "float":
            lo, hi, log = s[1], s[2], s[3]
            cfg[k] = math.exp(rng.uniform(math.log(lo), math.log(hi))) if log else rng.uniform(lo, hi)
        else:
            cfg[k] = rng.choice(s[1])
    return _clean(cfg)


def sample_optuna(sp: dict[str, tuple], trial: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for k, s in sp.items():
        if s[0] == "float":
            cfg[k] = trial.suggest_float(k, s[1], s[2], log=s[3])
        else:
            choice = trial.suggest_categorical(k, [str(c) for c in s[1]])
            cfg[k] = next(c for c in s[1] if str(c) == choice)
    return _clean(cfg)


def full_value(ex: Example, cfg: dict[str, Any], seed: int = 0) -> float:
    """Validation score of one full-length training of ``cfg`` (early stopping applied for real)."""
    try:
        res, _ = ex.train(cfg, seed)
    except Exception:  # noqa: BLE001 - a search may propose a setting the script rejects
        return -math.inf
    v = ex.val_score(res, cfg.get("early_stopping_patience"))
    return v if v is not None and math.isfinite(v) else -math.inf


def random_search(ex: Example, sp: dict[str, tuple], n: int, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    scored = [(full_value(ex, cfg), i, cfg) for i, cfg in enumerate(sample_random(sp, rng) for _ in range(n))]
    return max(scored)[2]


def optuna_search(ex: Example, sp: dict[str, tuple], n: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=max(2, n // 2))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: full_value(ex, sample_optuna(sp, t)), n_trials=n)
    return sample_optuna(sp, optuna.trial.FixedTrial(study.best_params))


def grid_axes(report: Any, applicable: set[str]) -> dict[str, list[Any]]:
    """At least GRID_MIN trainings: dropout × weight decay, times the other recommended knobs,
    with finer dropout/decay levels where there are no others."""
    recs = {r.knob: r for r in report.recommendations}
    facts = report.run.facts
    extra: dict[str, list[Any]] = {}
    for k in ("normalization", "optimizer", "residual"):
        if k in recs and k in applicable:
            cur = recs[k].current if recs[k].current is not None else facts.get(k)
            extra[k] = list(dict.fromkeys([cur, recs[k].value]))
    for k, levels in (("learning_rate", None), ("label_smoothing", [0.0, 0.1, 0.2]),
                      ("grad_clip_norm", [None, 1.0])):
        if k in recs and k in applicable:
            if k == "learning_rate":
                lr = float(facts.get("learning_rate") or 1e-3)
                levels = [lr / 3, lr, lr * 3]
            extra[k] = levels
    n_extra = math.prod(len(v) for v in extra.values()) if extra else 1
    fine = [([0.0, 0.2, 0.4, 0.6], [0.0, 1e-3, 1e-2, 1e-1]),
            ([0.0, 0.15, 0.3, 0.45, 0.6], [0.0, 1e-3, 1e-2, 3e-2, 1e-1]),
            ([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1])]
    axes: dict[str, list[Any]] = {}
    for dropout, decay in fine:
        axes = {}
        if "dropout" in applicable:
            axes["dropout"] = dropout
        axes["weight_decay"] = decay
        if math.prod(len(v) for v in axes.values()) * n_extra >= GRID_MIN:
            break
    axes.update(extra)
    return axes


def grid_search(ex: Example, axes: dict[str, list[Any]]) -> tuple[dict[str, Any], int]:
    best: tuple[float, dict[str, Any]] = (-math.inf, {})
    count = 0
    for values in itertools.product(*axes.values()):
        cfg = _clean(dict(zip(axes, values)))
        count += 1
        try:
            res, _ = ex.train(cfg, 0)
        except Exception:  # noqa: BLE001
            continue
        for p in PATIENCES:
            v = ex.val_score(res, p)
            if v is not None and math.isfinite(v) and v > best[0]:
                best = (v, {**cfg, **({"early_stopping_patience": p} if p else {})})
    return best[1], count


def applicable_knobs(ex: Example, report: Any) -> set[str]:
    from regadvisor.probe import run_probe

    probe_knobs = {"dropout": 0.1, "weight_decay": 1e-3, "label_smoothing": 0.1, "grad_clip_norm": 1.0,
                   "learning_rate": float(report.run.facts.get("learning_rate") or 1e-3)}
    for r in report.recommendations:
        if r.knob in ("normalization", "optimizer", "residual"):
            probe_knobs[r.knob] = r.value
    res = run_probe(ex.script, steps=1, device="cpu", knobs=probe_knobs)
    return set(probe_knobs) - set(res.run.facts.get("knobs_not_applied") or {})


# ---------------------------------------------------------------------------------------------


def bench(name: str, budget: str | None, random_draws: int = 5) -> dict[str, Any]:
    import torch

    from regadvisor import api

    torch.set_num_threads(1)
    from regadvisor.probe.verify import verify
    from regadvisor.render.notes import note_text

    ex = Example(name)
    t0 = time.perf_counter()
    report = api.probe(ex.script, seed=0, device="cpu")
    verdict, table_cfg, rules_cfg = report.verdict, _clean(blind(report)), _clean(rules_advice(report))
    result = verify(ex.script, report, budget=budget, device="cpu", workers=1)  # edits the report: done with (b), (c) first
    verify_s = time.perf_counter() - t0
    verified, cost = dict(result.kept), result.trainings
    applicable = applicable_knobs(ex, report)
    sp = space(report, applicable)
    n = max(1, round(cost))
    axes = grid_axes(report, applicable)
    grid_cfg, grid_runs = grid_search(ex, axes)
    configs = {
        "(a) nothing": {},
        "(b) blind table": table_cfg,
        "(c) probe advice": rules_cfg,
        "(d) --verify": verified,
        "(e) random": random_search(ex, sp, n),
        "(f) optuna tpe": optuna_search(ex, sp, n),
        "(g) grid": grid_cfg,
    }
    rows = {}
    for label, cfg in configs.items():
        mean, sd = ex.final(cfg)
        rows[label] = {"config": cfg, "test": mean, "sd": sd}
    draws = [rows["(e) random"]] + [dict(zip(("test", "sd"), ex.final(cfg)), config=cfg)
                                    for cfg in (random_search(ex, sp, n, seed) for seed in range(1, random_draws))]
    tests = [d["test"] for d in draws]
    rows[RANDOM_DRAWS] = {"config": {}, "test": statistics.mean(tests),
                          "sd": statistics.stdev(tests) if len(tests) > 1 else 0.0, "draws": draws}
    out = {"example": name, "epochs": ex.epochs, "classification": ex.classification, "verdict": verdict,
           "verify_cost": cost, "verify_seconds": verify_s, "search_trainings": n, "grid_runs": grid_runs,
           "rows": rows, "verify_notes": [note_text(n) for n in report.notes]}
    print(_summary(out), flush=True)
    return out


def share(out: dict[str, Any], label: str) -> float | None:
    rows = out["rows"]
    sign = 1.0 if out["classification"] else -1.0
    gain_g = sign * (rows["(g) grid"]["test"] - rows["(a) nothing"]["test"])
    if gain_g <= 0:
        return None
    return sign * (rows[label]["test"] - rows["(a) nothing"]["test"]) / gain_g


def _fmt(cfg: dict[str, Any]) -> str:
    if not cfg:
        return "(no change)"
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(cfg.items()))


def _summary(out: dict[str, Any]) -> str:
    lines = [f"== {out['example']} ({out['epochs']} epochs, verdict {out['verdict']}, verify "
             f"{out['verify_cost']:.1f} full trainings, {out['verify_seconds']:.0f} s)"]
    for label, r in out["rows"].items():
        s = share(out, label)
        what = f"{len(r['draws'])} draws" if "draws" in r else _fmt(r["config"])
        lines.append(f"   {label:<16} test {r['test']:7.3f} ± {r['sd']:.3f}  share "
                     f"{'  —  ' if s is None else f'{s:5.2f}'}  {what}")
    return "\n".join(lines)


def draw_spread(out: dict[str, Any]) -> float | None:
    """The sd of random search's share over its draws (one draw's luck, in shares)."""
    rows = out["rows"]
    gain_g = abs(rows["(g) grid"]["test"] - rows["(a) nothing"]["test"])
    return rows[RANDOM_DRAWS]["sd"] / gain_g if share(out, "(g) grid") is not None else None


def table(results: list[dict[str, Any]]) -> str:
    head = ("| example | epochs | metric | (a) nothing | (g) gain | (b) table | (c) probe | (d) verify | cost (d) "
            "| (e) random | (e) mean ± sd of draws | (f) TPE | (d) configuration |")
    lines = [head, "|" + "---|" * 13]
    for out in results:
        rows = out["rows"]
        metric = "test acc %" if out["classification"] else "test MSE"
        gain = rows["(g) grid"]["test"] - rows["(a) nothing"]["test"]

        def cell(label: str) -> str:
            s = share(out, label)
            return "—" if s is None else f"{s:.2f}"

        spread = draw_spread(out)
        draws = "—" if spread is None else f"{cell(RANDOM_DRAWS)} ± {spread:.2f}"
        lines.append(f"| {out['example']} | {out['epochs']} | {metric} | {rows['(a) nothing']['test']:.3g} | "
                     f"{gain:+.3g} | {cell('(b) blind table')} | {cell('(c) probe advice')} | "
                     f"{cell('(d) --verify')} | {out['verify_cost']:.1f} | {cell('(e) random')} | {draws} | "
                     f"{cell('(f) optuna tpe')} | {_fmt(rows['(d) --verify']['config'])} |")
    problem = [o for o in results if share(o, "(d) --verify") is not None]
    if problem:
        for label in ("(b) blind table", "(c) probe advice", "(d) --verify", "(e) random", RANDOM_DRAWS,
                      "(f) optuna tpe"):
            vals = [share(o, label) for o in problem]
            lines.append(f"mean share {label}: {statistics.mean(v for v in vals if v is not None):.2f} "
                         f"over {len(problem)} examples with a problem")
    return "\n".join(lines)


def main() -> None:
    examples = sorted(p.stem for p in MODELS.glob("*.py"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("examples", nargs="*", default=examples)
    ap.add_argument("--budget", default=None, help="verify budget (default: verify's own, 6x)")
    ap.add_argument("--jobs", type=int, default=2, help="examples benchmarked in parallel (one thread each)")
    ap.add_argument("--random-draws", type=int, default=5, help="independent random searches, (e) (default 5)")
    args = ap.parse_args()
    import torch

    print(f"final training: the real length, seeds {FINAL_SEEDS}; torch {torch.__version__}, 1 thread per job",
          flush=True)
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            results = pool.starmap(bench, [(n, args.budget, args.random_draws) for n in args.examples])
    else:
        results = [bench(n, args.budget, args.random_draws) for n in args.examples]
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "verify_results.json").write_text(json.dumps(results, indent=1, default=str))
    print()
    print(table(results))


if __name__ == "__main__":
    main()
