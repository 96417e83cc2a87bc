"""The ``regadvisor`` command: a thin shell over :mod:`regadvisor.api`.

Each command parses options, calls the API, renders, writes, and maps outcomes to the fixed
exit codes: 0 nothing at or above ``--fail-on``, 1 findings at or above it, 2 the input, rule
file, config or script could not be used. A :class:`~regadvisor.errors.UserError` becomes one
line on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, List, Optional, Tuple

import typer

from . import __version__
from .errors import ConfigError, UserError

app = typer.Typer(
    name="regadvisor",
    help="Regularization advice for PyTorch training runs, from evidence: reads training logs "
         "(diagnose) or probes your model (probe), measures the generalization gap, and recommends "
         "dropout, weight decay, normalization and early stopping.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
rules_app = typer.Typer(help="List, show and check rule tables.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


class FailOn(str, Enum):
    info = "info"
    warning = "warning"
    error = "error"
    never = "never"


class OutputFormat(str, Enum):
    terminal = "terminal"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"
    github = "github"
    junit = "junit"


# Options shared by diagnose, check and probe: declared once so their names and help agree.
LogFormatOpt = Annotated[Optional[str], typer.Option("--log-format", help="Skip auto-detection and read as this format (see `regadvisor formats`).")]
MetricOpt = Annotated[List[str], typer.Option("--metric", help="Map a canonical metric to your column: --metric val_acc=my_acc (repeatable).")]
RulesOpt = Annotated[List[Path], typer.Option("--rules", help="Extra folder of rule files (repeatable).")]
SelectOpt = Annotated[List[str], typer.Option("--select", help="Only these rules (id, name or category; repeatable).")]
IgnoreOpt = Annotated[List[str], typer.Option("--ignore", help="Skip these rules (id, name or category; repeatable).")]
ParamOpt = Annotated[List[str], typer.Option("--param", help="Override a rule parameter: --param OF003.min_gap=0.12 (repeatable).")]
FailOnOpt = Annotated[Optional[FailOn], typer.Option("--fail-on", help="Exit 1 when a finding of this severity or worse fires [default: error].")]
FormatOpt = Annotated[Optional[OutputFormat], typer.Option("--format", "-f", help="Report format [default: terminal; github inside GitHub Actions].")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report to this file instead of stdout.")]
ColorOpt = Annotated[Optional[bool], typer.Option("--color/--no-color", help="Force colour on or off [default: on for a terminal, off with NO_COLOR].")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"regadvisor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """regadvisor: regularization advice from evidence."""


def _fail(error: UserError) -> None:
    typer.echo(f"regadvisor: error: {error}", err=True)
    raise typer.Exit(2)


def guarded(fn: Callable[[], int]) -> None:
    """Run a command body, turning user errors into exit code 2 and one line on stderr."""
    try:
        code = fn()
    except UserError as error:
        _fail(error)
    except KeyboardInterrupt:
        typer.echo("regadvisor: interrupted", err=True)
        raise typer.Exit(130)
    raise typer.Exit(code)


def _use_color(output: Optional[Path], color: Optional[bool]) -> bool:
    if color is not None:
        return color
    if output is not None or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _write(text: str, output: Optional[Path]) -> None:
    """Print, or write ``output`` atomically (a failed run never leaves a half-written file)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the report: {exc.strerror or exc}", source=output) from None


def _exit_code(reports, fail_on: str) -> int:
    if fail_on == "never":
        return 0
    return 1 if any(r.fired(fail_on) for r in reports) else 0


def _resolve_format(fmt: Optional[OutputFormat]) -> OutputFormat:
    """``--format`` as given; when not given, GitHub annotations inside GitHub Actions, else terminal."""
    if fmt is not None:
        return fmt
    return OutputFormat.github if os.environ.get("GITHUB_ACTIONS") == "true" else OutputFormat.terminal


def _render(reports, fmt: Optional[OutputFormat], color: bool, *, rules=None, fail_on: str = "error") -> str:
    from .render import json as render_json
    from .render import terminal

    fmt = _resolve_format(fmt)
    if fmt is OutputFormat.json:
        return render_json.render(reports[0] if len(reports) == 1 else reports)
    if fmt in (OutputFormat.markdown, OutputFormat.sarif, OutputFormat.github, OutputFormat.junit):
        from .render import github, junit, markdown, sarif

        if fmt is OutputFormat.sarif:
            return sarif.render(reports, rules=rules)
        if fmt is OutputFormat.junit:
            return junit.render(reports, fail_on=fail_on, rules=rules)
        return (markdown if fmt is OutputFormat.markdown else github).render(reports)
    text = "".join(terminal.render(r, color=color) for r in reports)
    if len(reports) > 1:
        from .render.compare import render as compare

        text += compare(reports, color=color)
    return text


def _plots(reports, plot: Path) -> list:
    """(path, PNG bytes) per run: ``plot`` itself for one run, ``STEM-N.png`` for several."""
    from .render.plot import render as render_plot

    if len(reports) == 1:
        return [(plot, render_plot(reports[0]).png)]
    return [(plot.with_name(f"{plot.stem}-{i}{plot.suffix}"), render_plot(r).png) for i, r in enumerate(reports, 1)]


def _write_bytes(data: bytes, path: Path) -> None:
    """Write ``path`` atomically, as :func:`_write` does for reports."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the plot: {exc.strerror or exc}", source=path) from None


def _github_step_summary(reports) -> None:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY`` (GitHub Actions' job summary)."""
    from .render import github

    path = github.step_summary_path()
    if path is None:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(github.step_summary(reports))
    except OSError as exc:
        raise ConfigError(f"cannot append the job summary: {exc.strerror or exc}", source=path) from None


@app.command()
def diagnose(
    logs: List[str] = typer.Argument(..., metavar="LOG...", help="Training log files or run folders (a folder of many runs is diagnosed run by run)."),
    log_format: LogFormatOpt = None,
    metric: MetricOpt = [],
    rules: RulesOpt = [],
    select_rules: SelectOpt = [],
    ignore_rules: IgnoreOpt = [],
    param: ParamOpt = [],
    fail_on: FailOnOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    color: ColorOpt = None,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the learning curves to this PNG (needs regadvisor[plot]; several runs: STEM-1.png, ...)."),
) -> None:
    """Read training logs, measure the generalization gap and recommend settings."""

    def body() -> int:
        from . import api
        from .config import load_settings
        from .logs.aliases import parse_metric_map

        settings = load_settings()
        metrics = parse_metric_map(metric)
        ruleset = api.load_ruleset(rules, select_rules, ignore_rules, api.parse_params(param), settings)
        reports = api.diagnose_runs(logs, ruleset, log_format=log_format, metrics={**settings.metrics, **metrics})
        threshold = (fail_on.value if fail_on else None) or settings.fail_on or "error"
        pictures = _plots(reports, plot) if plot is not None else []
        _write(_render(reports, fmt, _use_color(output, color), rules=ruleset, fail_on=threshold), output)
        for path, png in pictures:
            _write_bytes(png, path)
        if _resolve_format(fmt) is OutputFormat.github:
            _github_step_summary(reports)
        return _exit_code(reports, threshold)

    guarded(body)


@app.command()
def check(
    logs: List[str] = typer.Argument(..., metavar="LOG...", help="Training log files or run folders to gate."),
    require: bool = typer.Option(False, "--require", help="Fail when a gate cannot be judged for lack of data."),
    log_format: LogFormatOpt = None,
    metric: MetricOpt = [],
    rules: RulesOpt = [],
    select_rules: SelectOpt = [],
    ignore_rules: IgnoreOpt = [],
    param: ParamOpt = [],
    fail_on: FailOnOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    color: ColorOpt = None,
) -> None:
    """Gate training runs in CI: limits from [tool.regadvisor.check] or .regadvisor.yaml, plus the rules."""

    def body() -> int:
        from . import api
        from .logs.aliases import parse_metric_map
        from .render import gates as render_gates

        result = api.check(logs, log_format=log_format, metrics=parse_metric_map(metric), rules=rules,
                           select_rules=select_rules, ignore_rules=ignore_rules, params=api.parse_params(param),
                           fail_on=fail_on.value if fail_on else None, require=require)
        use_color = _use_color(output, color)
        text = _render(result.reports, fmt, use_color, fail_on=result.fail_on)
        if _resolve_format(fmt) is OutputFormat.terminal:
            text += render_gates.render(result, color=use_color)
        _write(text, output)
        if _resolve_format(fmt) is OutputFormat.github:
            _github_step_summary(result.reports)
        return 0 if result.passed else 1

    guarded(body)


def _parse_knobs(pairs: List[str]) -> dict:
    """``--set dropout=0.3`` options as knob values (numbers, booleans or strings)."""
    import yaml

    knobs = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set {pair!r} is not of the form KNOB=VALUE", source="--set",
                              hint="e.g. --set dropout=0.3 --set normalization=layernorm")
        knobs[name.strip()] = yaml.safe_load(raw)
    return knobs


@app.command()
def probe(
    script: Path = typer.Argument(..., metavar="SCRIPT", help="Model script defining build_model() and build_data() (see README)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Budget in optimizer steps."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Budget in epochs."),
    seconds: Optional[float] = typer.Option(None, "--seconds", help="Budget in seconds [default: 5 epochs, at most 60 s]."),
    depth: str = typer.Option("default", "--depth", help="Instrument depth: default (cheap, sampled) or full (every step)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available), cpu or cuda[:N]."),
    seed: int = typer.Option(0, "--seed", help="Seed for weights and data order."),
    knob: List[str] = typer.Option([], "--set", help="Try a setting: --set dropout=0.3 (repeatable; DESIGN knob names)."),
    rules: RulesOpt = [],
    select_rules: SelectOpt = [],
    ignore_rules: IgnoreOpt = [],
    param: ParamOpt = [],
    fail_on: FailOnOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    color: ColorOpt = None,
    verify: bool = typer.Option(False, "--verify", help="Measure each recommendation in paired short trials (seeds × candidates) and keep only what helps beyond noise."),
    budget: Optional[str] = typer.Option(None, "--budget", help="Verification budget: seconds (120, 5m) or trials (30t) [default: the full plan, 3 seeds]."),
    export: Optional[Tuple[str, Path]] = typer.Option(None, "--export", metavar="optuna FILE", help="With --verify: write the narrowed search space (FILE.py: an Optuna suggest(trial); FILE.json: JSON)."),
) -> None:
    """Train your model briefly with instruments attached, then diagnose it like a log."""

    def body() -> int:
        from . import api
        from .config import load_settings
        from .render.progress import probe_progress
        from .render.verify_progress import verify_progress

        settings = load_settings()
        with probe_progress() as progress, verify_progress() as vprogress:
            report = api.probe(script, steps=steps, epochs=epochs, seconds=seconds, depth=depth, device=device,
                               seed=seed, knobs=_parse_knobs(knob), rules=rules, select_rules=select_rules,
                               ignore_rules=ignore_rules, params=api.parse_params(param), settings=settings,
                               progress=progress, verify=verify, budget=budget, verify_progress=vprogress,
                               export=tuple(export) if export else None)
        _write(_render([report], fmt, _use_color(output, color)), output)
        return _exit_code([report], (fail_on.value if fail_on else None) or settings.fail_on or "error")

    guarded(body)


@app.command()
def explain(
    topic: str = typer.Argument(..., metavar="TOPIC", help="dropout, weight-decay, adamw, batchnorm, layernorm, rmsnorm, "
                                "groupnorm, early-stopping, label-smoothing, mixup or gradient-clipping."),
    color: ColorOpt = None,
) -> None:
    """Explain a technique: what it does, typical values and their sources, and the reference code."""

    def body() -> int:
        from .explain import explain as gather
        from .render.explain import render

        _write(render(gather(topic), color=_use_color(None, color)), None)
        return 0

    guarded(body)


@app.command()
def formats() -> None:
    """List the log formats regadvisor reads."""
    from .logs.registry import formats as all_formats

    for name, fmt in sorted(all_formats().items()):
        typer.echo(f"{name:<14} {fmt.description}")


@rules_app.command("list")
def rules_list(rules: RulesOpt = []) -> None:
    """List every rule: id, name, category, severity and title."""

    def body() -> int:
        from . import api

        for rule in api.load_ruleset(rules).rules:
            s = rule.spec
            typer.echo(f"{rule.id:<7} {rule.name:<28} {s['category']:<15} {s['severity']:<8} {s['title']}")
        return 0

    guarded(body)


@rules_app.command("show")
def rules_show(
    rule_id: str = typer.Argument(..., metavar="ID", help="Rule id or name."),
    rules: RulesOpt = [],
) -> None:
    """Show one rule: what it checks, its parameters, recommendations and evidence."""

    def body() -> int:
        from . import api
        from .render.rules import render_rule

        ruleset = api.load_ruleset(rules)
        rule = ruleset.get(rule_id)
        if rule is None:
            raise ConfigError(f"no rule called {rule_id!r}", source="ID", hint="`regadvisor rules list` shows them")
        sys.stdout.write(render_rule(rule))
        return 0

    guarded(body)


@rules_app.command("check")
def rules_check(
    folder: Path = typer.Argument(..., metavar="DIR", help="Folder of rule files to validate."),
) -> None:
    """Validate rule files against the schema and run each rule's test cases."""

    def body() -> int:
        from .engine.loader import load_rules
        from .engine.testing import failing_cases
        from .signals.registry import specs

        ruleset = load_rules([folder], include_bundled=False, known_signals=specs())
        failures = [msg for rule in ruleset.rules for msg in failing_cases(rule)]
        for msg in failures:
            typer.echo(f"FAIL {msg}")
        cases = sum(len(r.spec["tests"]) for r in ruleset.rules)
        typer.echo(f"{len(ruleset.rules)} rule(s), {cases - len(failures)} of {cases} test case(s) pass")
        return 1 if failures else 0

    guarded(body)


@rules_app.command("signals")
def rules_signals() -> None:
    """List the signals rules can test, with what each measures."""
    from .signals.registry import specs

    for name, spec in sorted(specs().items()):
        typer.echo(f"{name}\n    {spec.doc}")


def main() -> None:
    """Console-script entry point."""
    app()
