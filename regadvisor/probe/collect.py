"""What a program probe hands back: the :class:`~regadvisor.model.Run` and the outcome, as data.

Per-step series come from the instruments (``train_loss``, ``grad_norm``, ``learning_rate``),
evaluation series from what the script reported (its framework's callback log, its printed
lines, or a log file it wrote), facts from the model, the optimizer and the run; the result goes
to the parent as JSON (:func:`~.program.run_to_data`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from ..model import Run, Series
from .capture import LENGTH_RANKS, Capture
from .runner import current_settings


def result(capture: Capture, outcome: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, as JSON data for the parent (:func:`~.program.run_from_data`)."""
    capture.flush()
    if capture.inst is not None:
        capture.inst.close()
        capture.facts.update(capture.inst.summary())
    interrupted = outcome["kind"] == "interrupted"
    diverged = "diverged_at_step" in capture.facts
    finished = outcome["kind"] in ("returned", "exit") and not capture.stop_reason
    spe = capture.first_pass_steps or (capture.loader_len if capture.passes <= 1 else None)
    if finished:
        done = {"epochs": capture.passes} if spe and capture.passes else {"steps": capture.step}
        capture.set_length(done, "the script's own run", LENGTH_RANKS["run"])
    reason = "interrupted" if interrupted else "diverged" if diverged else capture.stop_reason or (
        next(iter(capture.length)) if capture.length else "steps")
    run = _run(capture, spe)
    no_budget = all(v is None for v in capture.budget.values())
    length = capture.length
    budget = dict(capture.budget)
    if no_budget and length is not None:
        budget.update(length)
    epochs = capture.step / spe if spe else float(capture.passes)
    facts = run.facts
    facts.update({
        "probe_seed": capture.seed, "probe_device": capture.device or "cpu", "probe_budget": budget,
        "probe_steps": capture.step, "probe_epochs": epochs,
        "probe_seconds": round(time.perf_counter() - capture.t0, 3),
        "stop_reason": reason, "diverged": diverged, "interrupted": interrupted,
        "knobs_requested": dict(capture.knobs), "knobs_applied": dict(capture.applied),
        "knobs_not_applied": dict(capture.not_applied), "train_length": length,
        "train_length_source": capture.length_source if length is not None else None,
        "past_best": capture.rules.facts(reason, (lambda s: s / spe) if spe else None),
        "process_settings_changed": [], "optimizers": capture.optimizers_seen,
        "program": {"args": list(capture.spec["args"]), "framework": capture.framework or "pytorch",
                    "curves_from": _curves_from(capture)},
    })
    if capture.rules.stopper is not None:
        stopper = capture.rules.stopper
        best = capture.evaluations[stopper.best_step - 1].step if stopper.best_step else None
        facts["early_stopping"] = {"patience": capture.plan.patience, "best_val_loss": stopper.best,
                                   "best_step": best, "stopped": reason == "early-stopping", "restored": False}
    if interrupted:
        run.warnings.append("probe interrupted (Ctrl-C): partial results")
    if diverged:
        run.warnings.append(f"training loss became {facts.get('nonfinite_loss')} at step "
                            f"{facts.get('diverged_at_step')}; probe stopped")
    from .program import run_to_data

    return {"type": "result", "outcome": outcome, "run": run_to_data(run), "interrupted": interrupted,
            "diverged": diverged, "seconds": facts["probe_seconds"], "steps": capture.step, "epochs": epochs,
            "stop_reason": reason, "device": facts["probe_device"]}


def _curves_from(capture: Capture) -> str:
    if capture.framework == "lightning":
        return "the Lightning Trainer's logged metrics (regadvisor's callback)"
    if capture.framework == "transformers":
        return "the Hugging Face Trainer's logged metrics (regadvisor's callback)"
    return "the script's output (regadvisor's text-log reader)"


def _run(capture: Capture, spe: int | None) -> Run:
    """Per-step series from the instruments, evaluation series from what the script reported."""
    own = {"train_loss": Series("train_loss"), "grad_norm": Series("grad_norm"),
           "learning_rate": Series("learning_rate")}
    for step, value in capture.losses:
        own["train_loss"].append(value, step, None)
    norms = capture.inst.global_norms() if capture.inst is not None else []
    clipped = dict(zip(capture.pre_clip_norms, torch.stack(list(capture.pre_clip_norms.values())).tolist())) \
        if capture.pre_clip_norms else {}
    for i, value in enumerate(norms[: capture.step]):
        own["grad_norm"].append(clipped.get(i + 1, value), i + 1, None)
    for i, value in enumerate(capture.lrs[: capture.step]):
        own["learning_rate"].append(value, i + 1, None)
    reported = _reported(capture)
    series = {**{k: s for k, s in reported.series.items() if k not in own}, **{k: s for k, s in own.items() if len(s)}}
    if spe:
        for name, s in series.items():
            offset = 1 if name in own else 0
            for i, step in enumerate(s.steps):
                if not math.isnan(step):
                    s.epochs[i] = (step - offset) / spe
    facts = dict(capture.facts)
    for key, value in reported.facts.items():
        facts.setdefault(key, value)
    _settings(capture, facts, spe, series)
    return Run(source=str(capture.script), format="probe", name=capture.script.stem, series=series, facts=facts,
               warnings=list(reported.warnings))


def _reported(capture: Capture) -> Run:
    """The curves the script reported: its framework's callback log, else its own output."""
    if capture.framework_log is not None and capture.framework_log.is_file():
        from ..logs.read import read_log

        run = read_log(capture.framework_log)
        run.facts.update({k: v for k, v in capture.framework_facts.items() if k not in run.facts})
        return run
    printed = capture.text.build() if capture.text_points else None
    if printed is not None and (capture.evaluations or "val_loss" in printed.series):
        return printed
    return _logged(capture) or printed or Run(source=str(capture.script), format="probe")


def _logged(capture: Capture) -> Run | None:
    """The first log file the script wrote that holds a validation curve, read after the run
    (a file is not read live: early stopping, past-best and pruning judge printed or
    Trainer-logged evaluations only)."""
    from ..errors import UserError
    from ..logs.read import read_log

    for name in capture.written:
        path = Path(name)
        if not path.is_file():
            continue
        try:
            run = read_log(path)
        except (UserError, OSError, ValueError):
            continue
        if "val_loss" in run.series or "val_acc" in run.series:
            for series in run.series.values():
                _place(capture, series)
            run.warnings.append(f"validation curve read from {path}, a log the script wrote")
            capture.facts["curves_file"] = str(path)
            for knob in ("early_stopping_patience",):
                if knob in capture.knobs:
                    capture.applied.pop(knob, None)
                    capture.not_applied[knob] = "the script's evaluations are in a log file, read after the run"
            return run
    return None


def _place(capture: Capture, series: Series) -> None:
    """Put a log file's points on the optimizer-step axis: one point per epoch run is each
    epoch's end; else the file's own steps when it has them; else spread evenly over the run."""
    n = len(series)
    spe = capture.steps_per_epoch()
    if spe and n == capture.passes:
        steps = [(i + 1) * spe for i in range(n)]
    elif series.has_steps:
        return
    else:
        steps = [round((i + 1) * capture.step / n) for i in range(n)]
    for i, step in enumerate(steps):
        series.steps[i] = step


def _settings(capture: Capture, facts: dict[str, Any], spe: int | None, series: dict[str, Series]) -> None:
    """The knob names and data facts the rules read (as :mod:`.runner` writes them)."""
    if "max_dropout" in facts:
        current_settings(facts, capture.knobs)
    clip = capture.knobs.get("grad_clip_norm", capture.script_clip or capture.framework_facts.get("grad_clip_norm"))
    facts["grad_clip_norm"] = clip
    facts.setdefault("label_smoothing", None)
    loader_batch = facts.pop("loader_batch_size", None)
    if facts.get("batch_size") is None:
        facts["batch_size"] = loader_batch
    facts.setdefault("num_train_examples", None)
    facts["num_train_examples_counted"] = False
    if spe:
        facts["steps_per_epoch"] = spe
    n, params = facts.get("num_train_examples"), facts.get("num_trainable_parameters")
    facts["params_per_example"] = params / n if n and params else None
    bs = facts.get("batch_size")
    facts["batchnorm_batch_size"] = bs if "batchnorm" in facts.get("normalization_layers", []) else None
    classes = facts.pop("output_classes", None)
    if "val_acc" in series and classes:
        facts["task"], facts["num_classes"] = "classification", classes
    facts.setdefault("task", "classification" if "val_acc" in series else "unknown")
    facts.setdefault("num_classes", None)
    facts.setdefault("dropout_before_batchnorm", None)
    facts.setdefault("dropout_batchnorm_pairs", [])
