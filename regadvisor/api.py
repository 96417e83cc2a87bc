"""The public Python API; the CLI is a thin shell over it.

>>> from regadvisor.api import diagnose
>>> report = diagnose("lightning_logs/version_0/metrics.csv")    # doctest: +SKIP
>>> report.verdict, [(r.knob, r.value) for r in report.recommendations]   # doctest: +SKIP

Every user-facing failure raises a :class:`regadvisor.errors.UserError` subclass.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import __version__
from .config import Settings, load_settings
from .engine import evaluator
from .engine.loader import Rule, RuleSet, apply_overrides, load_rules, select
from .errors import ConfigError, LogReadError
from .gates import compile_gates, enforce_required
from .model import Note, Outcome, Report, Run
from .signals.registry import SignalContext, SignalParam, SignalSpec, param_defaults, signal_params, specs

if TYPE_CHECKING:
    from .explain import Explanation

BLOW_UP_RULE = "DV002"  # the rule whose condition the no-divergence gate shares

RUNS_PER_PROCESS = 64
"""Local runs go to a process of their own only in shares of at least this many: an epoch-level
MLflow run is read and judged in ~2.8 ms, so the fork and the start of a worker must be
amortised (benchmarks/bench_mlflow_experiment.py, its mlruns/ part)."""
MIN_CORES_FOR_PROCESSES = 4
"""Local runs are judged on processes by default only with this many usable cores. Each report
comes back pickled (~55 kB, ~0.5 ms to unpickle here, one after another), so of 1,000 runs'
3.9 s of CPU 0.8 s stays in this process: with 2 free cores that is 1.2x faster than one by one,
with 4 about 1.8x, and on a machine busy with other jobs 2 processes were 0.74x (measured with
benchmarks/bench_mlflow_experiment.py; ``--workers N`` still asks for N)."""

# Signals every report shows, whatever rules were selected: the facts a reader needs to trust
# the verdict (which curve, how long, where it was best).
SUMMARY_SIGNALS = (
    "monitor", "n_evaluations", "data_confidence", "evaluation_unit", "best_index", "best_step",
    "best_epoch", "best_value", "final_value", "evals_since_best", "gap_basis",
)


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``--param RULE.NAME=VALUE`` options."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"--param {pair!r} is not of the form RULE.PARAM=VALUE", source="--param",
                              hint="e.g. --param OF003.min_gap=0.12")
        out[key.strip()] = value.strip()
    return out


def parse_knobs(pairs: Iterable[str]) -> dict[str, Any]:
    """Parse ``--set KNOB=VALUE`` options; values are read as YAML scalars (numbers, booleans, strings)."""
    from .safe_yaml import load_yaml

    knobs = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set {pair!r} is not of the form KNOB=VALUE", source="--set",
                              hint="e.g. --set dropout=0.3 --set normalization=layernorm")
        knobs[name.strip()] = load_yaml(raw, f"--set {name.strip()}", ConfigError)
    return knobs


def parse_metrics(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``--metric CANONICAL=COLUMN`` options (unknown canonical names are errors)."""
    from .logs.aliases import parse_metric_map

    return parse_metric_map(list(pairs))


def load_ruleset(
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None,
) -> RuleSet:
    """Bundled rules plus extra folders, with parameter overrides (settings, then options), selected.

    Overrides are applied before selection, so a project-wide ``[tool.regadvisor.params]`` entry
    for a rule that one command leaves out (``--select stability``) is not an error.
    """
    settings = settings or Settings()
    return select(_all_rules(rules, params, settings), [*settings.select, *select_rules],
                  [*settings.ignore, *ignore_rules])


def _all_rules(rules: Iterable[str | Path], params: dict[str, Any] | None, settings: Settings) -> RuleSet:
    """Every rule (bundled and extra folders), parameter overrides applied, none left out."""
    ruleset = load_rules([*settings.rules, *(Path(r) for r in rules)], known_signals=specs())
    if settings.params:
        ruleset = apply_overrides(ruleset, settings.params, str(settings.source or "pyproject.toml"), param_defaults())
    if params:
        ruleset = apply_overrides(ruleset, params, "--param", param_defaults())
    return ruleset


def find_rule(key: str, rules: Iterable[str | Path] = ()) -> Rule:
    """The rule whose id or name is ``key``, in any letter case (``of003`` finds OF003)."""
    folded = key.strip().casefold()
    for rule in load_ruleset(rules).rules:
        if folded in (rule.id.casefold(), rule.name.casefold()):
            return rule
    raise ConfigError(f"no rule called {key!r}", source="ID", hint="`regadvisor rules list` shows them")


def check_rules(folder: str | Path) -> tuple[RuleSet, list[str]]:
    """Validate the rule files in ``folder`` and run their test cases: (the rules, failure lines)."""
    from .engine.testing import failing_cases

    ruleset = load_rules([Path(folder)], include_bundled=False, known_signals=specs())
    return ruleset, [msg for rule in ruleset.rules for msg in failing_cases(rule)]


def signal_specs() -> dict[str, SignalSpec]:
    """Every signal rules can test, by name, with what it measures."""
    return specs()


def signal_parameters() -> dict[str, SignalParam]:
    """The choices signals make (``--param signals.NAME=VALUE``), by name, with defaults and sources."""
    return signal_params()


def log_formats() -> dict[str, str]:
    """The log formats regadvisor reads: name → description."""
    from .logs.registry import formats

    return {name: fmt.description for name, fmt in sorted(formats().items())}


def explain(topic: str) -> Explanation:
    """What a technique does, the rules' values with their sources, and its reference code."""
    from .explain import explain as gather

    return gather(topic)


def explain_topics() -> dict[str, str]:
    """The topics ``explain`` knows, each with a one-line summary."""
    from .explain import topics

    return topics()


def judge(reports: list[Report], *, fail_on: str | None = None, settings: Settings | None = None) -> Outcome:
    """The reports with the threshold that decides the exit code: ``fail_on`` when given, else
    the project's ``fail-on``, else ``error``. The only place that choice is made."""
    threshold = fail_on or (settings.fail_on if settings else None) or "error"
    return Outcome(list(reports), threshold)


def analyze(run: Run, ruleset: RuleSet) -> Report:
    """Measure the signals the selected rules need, judge them, and build the report."""
    ctx = SignalContext(run, ruleset.signal_params())
    for name in SUMMARY_SIGNALS:
        ctx.get(name)
    findings = evaluator.evaluate(ruleset, ctx.get, run.facts)
    verdict, confidence = evaluator.verdict(findings, ctx.get("data_confidence") or "low")
    return Report(
        source=run.source,
        run=run,
        signals=ctx.computed(),
        findings=findings,
        recommendations=evaluator.merge_recommendations(findings, max_confidence=confidence),
        verdict=verdict,
        verdict_confidence=confidence,
        tool={"name": "regadvisor", "version": __version__, "rules_digest": ruleset.digest},
    )


def read(path: str | Path, *, log_format: str | None = None, metrics: dict[str, str] | None = None) -> Run:
    """Read one training log (any supported format; auto-detected unless ``log_format`` says)."""
    from .logs.read import read_log
    from .logs.registry import ReadOptions

    return read_log(path, log_format, ReadOptions(metric_map=dict(metrics or {})))


@dataclass(frozen=True)
class _JudgeTarget:
    """Read one target and judge each run it holds (an appended log's earlier runs and an MLflow
    experiment's runs too): a callable that pickles, for worker processes."""

    ruleset: RuleSet
    log_format: str | None
    metrics: dict[str, str]
    workers: int | None

    def __call__(self, target: str | Path) -> list[Report]:
        from .logs.read import read_runs
        from .logs.registry import ReadOptions

        runs = read_runs(target, self.log_format, ReadOptions(metric_map=dict(self.metrics), workers=self.workers))
        return [analyze(run, self.ruleset) for run in runs]


def _local_workers(runs: int) -> int:
    from .pool import cpu_count

    cores = cpu_count()
    return min(cores, runs // RUNS_PER_PROCESS) if cores >= MIN_CORES_FOR_PROCESSES else 1


def _analyze_all(paths: Iterable[str | Path], ruleset: RuleSet, log_format: str | None,
                 metrics: dict[str, str], workers: int | None = None) -> list[Report]:
    """One report per run found under ``paths`` (and per run of a file that holds several one after
    another); with ``log_format`` each path is one run of it.

    The runs are read and judged ``workers`` at a time, in the order found: threads when any run
    is on a server (``mlflow_server.SERVER_WORKERS`` by default; an experiment's runs are read
    together, that many requests at a time), else processes (by default one a usable core, each
    with at least :data:`RUNS_PER_PROCESS` runs, given :data:`MIN_CORES_FOR_PROCESSES` cores).
    ``workers=1`` reads one by one.
    """
    from .files import is_uri
    from .logs.mlflow_server import SERVER_WORKERS
    from .logs.read import find_runs
    from .pool import in_order

    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers} is not a positive number", source="--workers", hint="e.g. --workers 4")
    targets: list[str | Path] = []
    for path in paths:
        found = find_runs(path) if log_format is None else [path]
        if not found:
            raise LogReadError("holds no training log regadvisor recognises", source=path,
                               hint="pass a log file (metrics.csv, trainer_state.json, events.out.tfevents.*, ...) "
                                    "or a folder that holds one")
        targets.extend(found)
    remote = any(is_uri(t) for t in targets)
    at_once = workers or (SERVER_WORKERS if remote else _local_workers(len(targets)))
    judged = in_order(_JudgeTarget(ruleset, log_format, metrics, workers), targets, workers=at_once,
                      processes=not remote)
    return [report for reports in judged for report in reports]


def diagnose_runs(
    paths: Iterable[str | Path], *, log_format: str | None = None, metrics: dict[str, str] | None = None,
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None, fail_on: str | None = None,
    workers: int | None = None,
) -> Outcome:
    """``regadvisor diagnose`` as a function: one report per run found under ``paths`` (a folder
    or store of many runs gives many, an ``mlflow://HOST:PORT/<experiment>`` one a run of it, and
    so does a log holding several runs one after another), judged at ``fail_on`` (see
    :func:`judge`). Runs are read ``workers`` at a time (default: chosen by where they are)."""
    settings = settings if settings is not None else load_settings()
    ruleset = load_ruleset(rules, select_rules, ignore_rules, params, settings)
    reports = _analyze_all(paths, ruleset, log_format, {**settings.metrics, **(metrics or {})}, workers)
    return judge(reports, fail_on=fail_on, settings=settings)


def diagnose(
    path: str | Path, *, log_format: str | None = None, metrics: dict[str, str] | None = None,
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None,
) -> Report:
    """Read one training log and judge it (of a log holding several runs one after another, the
    last: its warnings name the others, ``PATH#K`` picks one)."""
    settings = settings if settings is not None else load_settings()
    ruleset = load_ruleset(rules, select_rules, ignore_rules, params, settings)
    run = read(path, log_format=log_format, metrics={**settings.metrics, **(metrics or {})})
    return analyze(run, ruleset)


def check(
    paths: Iterable[str | Path], *, log_format: str | None = None, metrics: dict[str, str] | None = None,
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None, fail_on: str | None = None,
    gates: dict[str, Any] | None = None, require: bool = False, workers: int | None = None,
) -> Outcome:
    """``regadvisor check`` as a function: the rules, plus the project's CI gates.

    Gates come from ``[tool.regadvisor.check]`` (or ``check:`` in ``.regadvisor.yaml``), with
    ``gates`` (``{"max-acc-gap": 0.05}``, the command-line flags) on top; with none the rules alone
    gate at ``fail_on``. A gate the run cannot judge is not passed: with ``require`` (or the
    config's ``require``) it fails, and shows as fired in every format.
    """
    settings = settings if settings is not None else load_settings()
    every = _all_rules(rules, params, settings)
    ruleset = select(every, [*settings.select, *select_rules], [*settings.ignore, *ignore_rules])
    table = {**settings.check, **(gates or {})}
    source = str(settings.source) if settings.source and settings.check else "the gate options"
    blow_up = every.get(BLOW_UP_RULE)
    gate_rules, required = compile_gates(table, source, require,
                                         (blow_up, every.params_for(blow_up)) if blow_up else None)
    ruleset = RuleSet(gate_rules + ruleset.rules, ruleset.digest, ruleset.overrides)
    reports = _analyze_all(paths, ruleset, log_format, {**settings.metrics, **(metrics or {})}, workers)
    verdict_required = require or table.get("require") is True
    for report in reports:
        enforce_required(report, required, verdict_required)
    return judge(reports, fail_on=fail_on, settings=settings)


def probe_length_notes(result: Any) -> list[Note]:
    """What the probe's length means for the advice: how far it trained against the real length."""
    facts = result.run.facts
    budget, real_length = facts.get("probe_budget") or {}, facts.get("train_length") or {}
    stopped_by = result.stop_reason
    if stopped_by in ("steps", "epochs") and budget.get(stopped_by) in (None, real_length.get(stopped_by)):
        stopped_by = "length"  # the run's own length, not a budget the user set
    training = {"steps": result.steps, "epochs": result.epochs, "seconds": result.seconds, "device": result.device,
                "stopped_by": stopped_by}
    notes = [Note("probe-interrupted" if result.interrupted else "probe-ran", values=training)]
    length = facts.get("train_length")
    if result.interrupted:
        return notes
    if length is None:
        notes.append(Note("probe-length-unknown", values={"epochs": result.epochs}))
        return notes
    unit = next(iter(length))
    done = result.steps if unit == "steps" else result.epochs
    real = {"unit": unit, "length": length[unit], "done": done}
    if result.stop_reason == "past-best":
        past = facts.get("past_best") or {}
        at = past.get("last_improvement_epoch") if unit == "epochs" else None
        notes.append(Note("probe-past-best", values={**real, "improved_at": at if at is not None else
                                                     past.get("last_improvement_step"),
                                                     "improved_unit": "epoch" if at is not None else "step"}))
    elif result.stop_reason in ("steps", "epochs", "seconds") and done < length[unit] - 1e-9:
        notes.append(Note("probe-cut-short", values={**real, "budget": result.stop_reason}))
    return notes


def probe(
    script: str | Path, *, steps: int | None = None, epochs: int | None = None, seconds: float | None = None,
    train_epochs: int | None = None, train_steps: int | None = None, depth: str = "default", device: str = "auto",
    seed: int = 0, knobs: dict[str, Any] | None = None,
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None, progress: Any = None,
    verify: bool = False, budget: str | float | None = None, verify_seeds: int | None = None,
    verify_progress: Any = None,
    workers: int | None = None, executor: str = "local",
    export: tuple[str, str | Path] | None = None, args: Sequence[str] | None = None,
    script_log: str | Path | None = None,
) -> Report:
    """Run a short instrumented training of ``script`` and judge it: ``regadvisor probe`` as a function.

    A script that defines the probe contract (``build_model``/``build_data``) is imported and
    trained here; any other script runs unmodified as the program it is, with ``args`` as its
    command line, in a child process (:mod:`regadvisor.probe.program`). Its own output passes
    through on stderr, or goes to ``script_log``; a progress display is shown only then, as it
    would interleave with the script's own.

    ``train_epochs``/``train_steps`` give the real training length (else the script's ``EPOCHS``,
    or a program's own epochs); the probe trains that long or until validation is clearly past its
    best. With ``verify`` the recommendations are then measured jointly at that length
    (:func:`regadvisor.probe.verify.verify`, ``verify_seeds`` paired seeds (3 by default), within ``budget``:
    ``"6x"`` full trainings by default, or seconds, or ``"30t"`` trials) and the report keeps only
    what helps; a program's trials each run in a fresh process, their output to ``script_log`` or
    a temporary file the notes name. ``export=("optuna", FILE)`` writes the narrowed search space.
    Imports torch (lazily, here) for a contract script only: the only API entry that needs it
    besides ``regadvisor.reference``.
    """
    import importlib.util

    from .probe.discover import defines_contract

    contract = defines_contract(script)
    try:  # not imported here for a program: only the script's own process needs it
        installed = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        installed = False
    if not installed:
        raise ConfigError("regadvisor probe trains your model and needs PyTorch, which is not installed",
                          source=str(script), hint="pip install 'regadvisor[torch]', or diagnose the run's logs "
                          "with `regadvisor diagnose`, which does not need it")
    from .probe.program import run_script

    asked = (budget, export, workers, verify_seeds)
    if (any(a is not None for a in asked) or executor != "local") and not verify:
        raise ConfigError("--budget, --verify-seeds, --workers, --executor and --export need --verify",
                          source="--verify")
    if verify:
        from .probe.budget import parse_budget

        trial_budget = parse_budget(budget)
        if export is not None and export[0] != "optuna":
            raise ConfigError(f"--export {export[0]!r} is not a known export", source="--export",
                              hint="use --export optuna FILE")
    settings = settings if settings is not None else load_settings()
    ruleset = load_ruleset(rules, select_rules, ignore_rules, params, settings)
    log = Path(script_log) if script_log is not None else None
    with _trial_pool(verify, workers, executor, device) as pool:
        result = run_script(script, args=args, output=log, steps=steps, epochs=epochs, seconds=seconds,
                            train_epochs=train_epochs, train_steps=train_steps, depth=depth, device=device,
                            seed=seed, knobs=knobs, progress=progress if contract or log is not None else None)
        report = analyze(result.run, ruleset)
        _verify_probed(report, result, script, log, pool, verify=verify, budget=trial_budget if verify else None,
                       verify_seeds=verify_seeds, seed=seed, device=device, knobs=knobs,
                       verify_progress=verify_progress, export=export)
    return report


def _trial_pool(verify: bool, workers: int | None, executor: str, device: str) -> Any:
    """The verify workers, started before the probe so that their start (about 2 s each to
    import torch) overlaps its training; nothing without ``verify``."""
    if not verify:
        return contextlib.nullcontext(None)
    from .probe.parallel import TrialPool

    return TrialPool(None, workers, executor, device=device)


def _verify_probed(report: Report, result: Any, script: str | Path, log: Path | None, pool: Any, *, verify: bool,
                   budget: Any, verify_seeds: int | None, seed: int, device: str, knobs: dict[str, Any] | None,
                   verify_progress: Any, export: tuple[str, str | Path] | None) -> None:
    """The probe's notes and, with ``verify``, the verification of its report (edited in place)."""
    report.notes.extend(probe_length_notes(result))
    program = result.run.facts.get("program")
    if log is not None:
        report.notes.append(Note("script-output", values={"path": str(log)}))
    if verify and result.interrupted:
        report.notes.append(Note("verify-skipped", values={"reason": "the probe was interrupted"}))
    elif verify and result.run.get("val_loss") is None and result.run.get("val_acc") is None:
        report.notes.append(Note("verify-skipped", values={
            "reason": "the script reported no validation metric to measure the advice by"}))
    elif verify:
        from .probe.verify import verify as verify_report
        from .probe.verify_export import export as export_space

        if program is not None:
            program["trial_output"] = str(log if log is not None else _trial_log(script))
        seeds = 3 if verify_seeds is None else verify_seeds  # 0 is an error for verify to name, not the default
        checked = verify_report(script, report, budget=budget, seeds=seeds, seed=seed, device=device,
                                knobs=knobs, progress=verify_progress, pool=pool)
        if program is not None:
            report.notes.append(Note("trial-output", values={"path": program["trial_output"]}))
        if export is not None:
            written = export_space(checked, export[0], export[1])
            report.notes.append(Note("search-space-written", values={"path": str(written)}))


def _trial_log(script: str | Path) -> Path:
    """A new file for the output of a program's verification trials (kept for the user to read)."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f"regadvisor-verify-{Path(script).stem}-", suffix=".log")
    os.close(fd)
    return Path(name)
