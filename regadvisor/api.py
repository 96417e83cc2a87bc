"""The public Python API; the CLI is a thin shell over it.

>>> from regadvisor.api import diagnose
>>> report = diagnose("lightning_logs/version_0/metrics.csv")    # doctest: +SKIP
>>> report.verdict, [(r.knob, r.value) for r in report.recommendations]   # doctest: +SKIP

Every user-facing failure raises a :class:`regadvisor.errors.UserError` subclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .config import Settings, load_settings
from .engine import evaluator
from .engine.loader import RuleSet, apply_overrides, load_rules, select
from .errors import ConfigError, LogReadError
from .gates import compile_gates
from .model import SEVERITIES, Finding, Report, Run
from .signals.registry import SignalContext, specs

SCHEMA_VERSION = "1.0"

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


def load_ruleset(
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None,
) -> RuleSet:
    """Bundled rules plus extra folders, selected, with parameter overrides (settings, then options)."""
    settings = settings or Settings()
    dirs = [*settings.rules, *(Path(r) for r in rules)]
    ruleset = load_rules(dirs, known_signals=specs())
    ruleset = select(ruleset, [*settings.select, *select_rules], [*settings.ignore, *ignore_rules])
    if settings.params:
        ruleset = apply_overrides(ruleset, settings.params, str(settings.source or "pyproject.toml"))
    if params:
        ruleset = apply_overrides(ruleset, params, "--param")
    return ruleset


def analyze(run: Run, ruleset: RuleSet) -> Report:
    """Measure the signals the selected rules need, judge them, and build the report."""
    ctx = SignalContext(run)
    for name in SUMMARY_SIGNALS:
        ctx.get(name)
    findings = evaluator.evaluate(ruleset, ctx.get, run.facts)
    verdict, confidence = evaluator.verdict(findings, ctx.get("data_confidence") or "low")
    return Report(
        source=run.source,
        run=run,
        signals=ctx.computed(),
        findings=findings,
        recommendations=evaluator.merge_recommendations(findings),
        verdict=verdict,
        verdict_confidence=confidence,
        tool={"name": "regadvisor", "version": __version__, "rules_digest": ruleset.digest},
    )


def read(path: str | Path, *, log_format: str | None = None, metrics: dict[str, str] | None = None) -> Run:
    """Read one training log (any supported format; auto-detected unless ``log_format`` says)."""
    from .logs.read import read_log
    from .logs.registry import ReadOptions

    return read_log(path, log_format, ReadOptions(metric_map=dict(metrics or {})))


def diagnose_runs(
    paths: Iterable[str | Path], ruleset: RuleSet, *, log_format: str | None = None,
    metrics: dict[str, str] | None = None,
) -> list[Report]:
    """One report per run found under ``paths`` (a folder or store of many runs gives many).

    With ``log_format`` given, each path is read as exactly one run of that format.
    """
    from .logs.read import find_runs

    targets: list[str | Path] = []
    for path in paths:
        found = find_runs(path) if log_format is None else [path]
        if not found:
            raise LogReadError("holds no training log regadvisor recognises", source=path,
                               hint="pass a log file (metrics.csv, trainer_state.json, events.out.tfevents.*, ...) "
                                    "or a folder that holds one")
        targets.extend(found)
    return [analyze(read(t, log_format=log_format, metrics=metrics), ruleset) for t in targets]


def diagnose(
    path: str | Path, *, log_format: str | None = None, metrics: dict[str, str] | None = None,
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None,
) -> Report:
    """Read a training log and judge it: the ``regadvisor diagnose`` command as a function."""
    settings = settings if settings is not None else load_settings()
    ruleset = load_ruleset(rules, select_rules, ignore_rules, params, settings)
    run = read(path, log_format=log_format, metrics={**settings.metrics, **(metrics or {})})
    return analyze(run, ruleset)


@dataclass
class CheckResult:
    """The outcome of ``regadvisor check``: per-run reports with gate findings, and the CI decision."""

    reports: list[Report]
    required: set[str] = field(default_factory=set)
    fail_on: str = "error"

    @staticmethod
    def gates(report: Report) -> list[Finding]:
        return [f for f in report.findings if f.category == "gate"]

    def failures(self, report: Report) -> list[Finding]:
        """Gates broken, required gates not judged, and rules fired at or above ``fail_on``."""
        out = [f for f in self.gates(report)
               if f.status == "fired" or (f.status == "skipped" and f.rule_id in self.required)]
        if self.fail_on != "never":
            floor = SEVERITIES.index(self.fail_on)
            out += [f for f in report.findings if f.category != "gate" and f.status == "fired"
                    and SEVERITIES.index(f.severity) >= floor]
        return out

    @property
    def passed(self) -> bool:
        return not any(self.failures(r) for r in self.reports)


def check(
    paths: Iterable[str | Path], *, log_format: str | None = None, metrics: dict[str, str] | None = None,
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None, fail_on: str | None = None,
    require: bool = False,
) -> CheckResult:
    """Judge runs against the project's CI gates and rules: ``regadvisor check`` as a function."""
    settings = settings if settings is not None else load_settings()
    ruleset = load_ruleset(rules, select_rules, ignore_rules, params, settings)
    gate_rules, required = compile_gates(settings.check, settings.source or "[tool.regadvisor.check]", require)
    if not gate_rules:
        raise ConfigError("no gates configured", source=str(settings.source or "pyproject.toml"),
                          hint="add [tool.regadvisor.check] (e.g. max-acc-gap = 0.05) or a check: section to .regadvisor.yaml")
    ruleset = RuleSet(gate_rules + ruleset.rules, ruleset.digest, ruleset.overrides)
    reports = diagnose_runs(paths, ruleset, log_format=log_format, metrics={**settings.metrics, **(metrics or {})})
    return CheckResult(reports, required, fail_on or settings.fail_on or "error")


def probe(
    script: str | Path, *, steps: int | None = None, epochs: int | None = None, seconds: float | None = None,
    depth: str = "default", device: str = "auto", seed: int = 0, knobs: dict[str, Any] | None = None,
    rules: Iterable[str | Path] = (), select_rules: Iterable[str] = (), ignore_rules: Iterable[str] = (),
    params: dict[str, Any] | None = None, settings: Settings | None = None, progress: Any = None,
    verify: bool = False, budget: str | float | None = None, verify_seeds: int = 3, verify_progress: Any = None,
    export: tuple[str, str | Path] | None = None,
) -> Report:
    """Run a short instrumented training of ``script`` and judge it: ``regadvisor probe`` as a function.

    With ``verify`` each recommendation is then measured in paired short trials
    (:func:`regadvisor.probe.verify.verify`, ``verify_seeds`` seeds, within ``budget``: seconds,
    or ``"30t"`` trials) and the report keeps only what helps; ``export=("optuna", FILE)`` writes
    the narrowed search space. Imports torch (lazily, here): the only API entry that needs it
    besides ``regadvisor.reference``.
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ConfigError("regadvisor probe trains your model and needs PyTorch, which is not installed",
                          source=str(script), hint="pip install 'regadvisor[torch]', or diagnose the run's logs "
                          "with `regadvisor diagnose`, which does not need it") from None
    from .probe import run_probe

    if (budget is not None or export is not None) and not verify:
        raise ConfigError("--budget and --export need --verify", source="--verify")
    budget_seconds, budget_trials = (None, None)
    if verify:
        from .probe.verify import parse_budget

        budget_seconds, budget_trials = parse_budget(budget)
        if export is not None and export[0] != "optuna":
            raise ConfigError(f"--export {export[0]!r} is not a known export", source="--export",
                              hint="use --export optuna FILE")
    settings = settings if settings is not None else load_settings()
    ruleset = load_ruleset(rules, select_rules, ignore_rules, params, settings)
    result = run_probe(script, steps=steps, epochs=epochs, seconds=seconds, depth=depth, device=device,
                       seed=seed, knobs=knobs, progress=progress)
    report = analyze(result.run, ruleset)
    how = f"{result.steps} steps, {result.epochs:.2f} epochs, {result.seconds:.1f} s on {result.device}"
    if result.interrupted:
        report.notes.append(f"interrupted after {how}: this is a partial report")
    else:
        report.notes.append(f"probe ran {how} (stopped by {result.stop_reason} budget)"
                            if result.stop_reason in ("steps", "epochs", "seconds")
                            else f"probe ran {how}; stopped: {result.stop_reason}")
    if verify and result.interrupted:
        report.notes.append("not verified: the probe was interrupted")
    elif verify:
        from .probe.verify import verify as verify_report
        from .probe.verify_export import export as export_space

        checked = verify_report(script, report, budget_seconds=budget_seconds, budget_trials=budget_trials,
                                seeds=verify_seeds, seed=seed, device=device, knobs=knobs, progress=verify_progress)
        if export is not None:
            written = export_space(checked, export[0], export[1])
            report.notes.append(f"search space for further tuning written to {written}")
    return report
