"""``regadvisor probe --verify --export optuna FILE``: the search space the verified trials point to.

For users who keep tuning with a search tool: ranges around the values that measurably helped,
the rest fixed at the run's settings, and every measured effect for reference.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..numbers import round_sig
from ..output import write_atomic
from .search import DROPOUT_MAX, as_number
from .verify import ADVISORY_KNOBS, VerifyResult

LOG_KNOBS = ("weight_decay", "learning_rate", "grad_clip_norm")


def search_space(result: VerifyResult) -> dict[str, Any]:
    """Ranges around the verified configuration's values, fixed values for the rest.

    Log-scale knobs span the kept value ×/÷ √10 (weight decay) or ×/÷ √3 (learning rate,
    clipping), dropout and label smoothing ±0.1, patience ±half of it: a neighbourhood to tune
    further in, not a claim that the optimum lies inside it.
    """
    params: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    measured = [{"config": sc.config, "score": sc.value, "early_stopping_patience": sc.patience,
                 "pruned": sc.pruned, "seed": sc.curve.seed} for sc in result.screened]
    for k, v in result.kept.items():
        f = as_number(v)
        if k in LOG_KNOBS and f and f > 0:
            step = math.sqrt(10) if k == "weight_decay" else math.sqrt(3)
            params[k] = {"type": "float", "low": round_sig(f / step), "high": round_sig(f * step), "log": True}
        elif k in ("dropout", "label_smoothing") and f is not None:
            hi = DROPOUT_MAX if k == "dropout" else 0.5
            params[k] = {"type": "float", "low": round_sig(max(0.0, f - 0.1)), "high": round_sig(min(hi, f + 0.1)),
                         "log": False}
        elif k == "early_stopping_patience" and f is not None:
            p = int(f)
            params[k] = {"type": "int", "low": max(1, p - max(1, p // 2)), "high": p + max(1, p // 2)}
        else:
            cur = result.current.get(k)
            params[k] = {"type": "categorical", "choices": [v] + ([cur] if cur is not None and cur != v else [])}
    for k, cur in result.current.items():
        if k not in params and cur is not None and k not in ADVISORY_KNOBS:
            fixed[k] = cur
    return {
        "source": result.report.source,
        "metric": result.metric,
        "direction": "maximize" if result.higher_is_better else "minimize",
        "params": params,
        "fixed": fixed,
        "screened": measured,
        "effect": result.effect.block() if result.effect is not None else None,
        "trials": result.trials,
        "seeds": result.seeds,
    }


def optuna_snippet(space: dict[str, Any]) -> str:
    """A small Python module with ``suggest(trial)`` over ``space`` (optuna is not imported here)."""
    lines = [
        f'"""Search space narrowed by `regadvisor probe --verify` on {Path(space["source"]).name}.',
        "",
        (f"Metric: {space['metric']} ({space['direction']}); {space['trials']} trials, the best paired over "
         f"seeds {space['seeds']}."),
        "Use with optuna:  study = optuna.create_study(direction=DIRECTION)",
        "                  study.optimize(lambda t: train_and_validate(**FIXED, **suggest(t)), n_trials=30)",
        '"""',
        "",
        f"DIRECTION = {space['direction']!r}",
        f"FIXED = {space['fixed']!r}",
        "",
        "",
        "def suggest(trial):",
        "    return {",
    ]
    for k, p in space["params"].items():
        if p["type"] == "float":
            log = ", log=True" if p.get("log") else ""
            lines.append(f"        {k!r}: trial.suggest_float({k!r}, {p['low']!r}, {p['high']!r}{log}),")
        elif p["type"] == "int":
            lines.append(f"        {k!r}: trial.suggest_int({k!r}, {p['low']!r}, {p['high']!r}),")
        else:
            lines.append(f"        {k!r}: trial.suggest_categorical({k!r}, {p['choices']!r}),")
    lines += ["    }", ""]
    return "\n".join(lines)


def export(result: VerifyResult, kind: str, path: str | Path) -> Path:
    """Write the narrowed search space: ``kind`` ``"optuna"``; a ``.json`` path gets JSON (with the
    Python snippet under ``"optuna"``), any other path the Python snippet."""
    if kind != "optuna":
        raise ConfigError(f"--export {kind!r} is not a known export", source="--export",
                          hint="use --export optuna FILE")
    p = Path(path)
    space = search_space(result)
    code = optuna_snippet(space)
    text = json.dumps({**space, "optuna": code}, indent=2, default=str) + "\n" if p.suffix == ".json" else code
    write_atomic(p, text, what="the search space (--export)")
    return p
