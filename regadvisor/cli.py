"""The ``regadvisor`` command: a thin shell over :mod:`regadvisor.api`.

Each command parses its options, calls the API, renders the outcome through
:func:`regadvisor.render.formats.render`, writes it, and exits with the outcome's code: 0
nothing at or above ``--fail-on``, 1 findings at or above it, 2 the input, rule file, config or
script could not be used. A :class:`~regadvisor.errors.UserError` becomes one line on stderr,
never a traceback.
"""

from __future__ import annotations

import difflib
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Callable, Iterable, List, Optional, Tuple

import typer

from . import __version__
from .errors import ConfigError, UserError
from .model import FAIL_ON, KNOBS, Outcome
from .render.formats import FORMATS

app = typer.Typer(
    name="regadvisor",
    help="Regularization advice for PyTorch training runs, from evidence: reads training logs "
         "(diagnose) or probes your model (probe), measures the generalization gap, and recommends "
         "dropout, weight decay, normalization and early stopping.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
rules_app = typer.Typer(help="List, show and check rule tables.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

DEPTHS = ("default", "full")
EXECUTORS = ("local", "ray")  # regadvisor.probe.parallel.EXECUTORS, without importing torch for --help
MAX_WIDTH = 100  # terminal reports wrap at the terminal's width, but prose reads badly wider than this


def _completer(choices: Iterable[str]) -> Callable[[str], List[str]]:
    options = tuple(choices)
    return lambda incomplete: [c for c in options if c.startswith(incomplete)]


def _choice(value: str, choices: Iterable[str], option: str) -> str:
    """``value`` if it is one of ``choices`` (any letter case), else a one-line error naming them."""
    options = tuple(choices)
    folded = value.strip().lower()
    if folded in options:
        return folded
    close = difflib.get_close_matches(folded, options, n=1)
    hint = (f"did you mean {close[0]!r}? " if close else "") + f"choose one of {', '.join(options)}"
    raise ConfigError(f"{value!r} is not a valid choice", source=option, hint=hint)


# Options shared by diagnose, check and probe: declared once so their names and help agree.
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", metavar="FILE", help=(
    "Settings file (.regadvisor.yaml or a pyproject.toml with [tool.regadvisor]) [default: the nearest one at "
    "or above the working directory]."
))]
LogFormatOpt = Annotated[Optional[str], typer.Option("--log-format", metavar="FORMAT",
    help="Skip auto-detection and read as this format (see `regadvisor formats`).")]
MetricOpt = Annotated[List[str], typer.Option("--metric", metavar="NAME=COLUMN",
    help="Map a canonical metric to your column: --metric val_acc=my_acc (repeatable).")]
RulesOpt = Annotated[List[Path], typer.Option("--rules", metavar="DIR",
    help="Extra folder of rule files (repeatable).")]
SelectOpt = Annotated[List[str], typer.Option("--select", metavar="RULE",
    help="Only these rules (id, name or category; repeatable).")]
IgnoreOpt = Annotated[List[str], typer.Option("--ignore", metavar="RULE",
    help="Skip these rules (id, name or category; repeatable).")]
ParamOpt = Annotated[List[str], typer.Option("--param", metavar="RULE.PARAM=VALUE", help=(
    "Override a rule parameter: --param OF003.min_gap=0.12, or a signal parameter: --param "
    "signals.spike_ratio=4 (repeatable; `rules signals` lists them)."
))]
FailOnOpt = Annotated[Optional[str], typer.Option("--fail-on", metavar="LEVEL", autocompletion=_completer(FAIL_ON),
    help=(
    f"Exit 1 when a finding of this severity or worse fires: {', '.join(FAIL_ON)} [default: the config's "
    "fail-on, else error]."
))]
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", "-f", metavar="FORMAT", autocompletion=_completer(FORMATS),
    help=f"Report format: {', '.join(FORMATS)} [default: terminal; github inside GitHub Actions].")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE",
    help="Write the report to this file (atomically) instead of stdout.")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", metavar="N", help=(
    "Read and judge N runs at once [default: 8 from a tracking server; a folder of many runs, one process a "
    "core given 4 cores or more]."
))]
ColorOpt = Annotated[Optional[bool], typer.Option("--color/--no-color",
    help="Force colour on or off [default: on for a terminal, off with NO_COLOR].")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"regadvisor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
        help="Show the version and exit."),
) -> None:
    """regadvisor: regularization advice from evidence."""


def _fail(error: UserError) -> None:
    typer.echo(f"regadvisor: error: {error}", err=True)
    raise typer.Exit(2)


_REPORT_AT = "https://github.com/regadvisor/regadvisor/issues"


def _crash(exc: BaseException) -> None:
    """An exception nobody expected: one line and exit 2, never 1 (which CI reads as findings).
    ``REGADVISOR_DEBUG=1`` shows the traceback to attach to the report."""
    from .sanitise import sanitise

    if os.environ.get("REGADVISOR_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    what = sanitise(f"{type(exc).__name__}: {exc}")[:500]
    typer.echo(f"regadvisor: internal error: {what} (a bug in regadvisor, not in your input; please report it at "
               f"{_REPORT_AT} with the command and, if you can, the input; REGADVISOR_DEBUG=1 shows the traceback)",
               err=True)
    raise SystemExit(2)


def guarded(fn: Callable[[], int]) -> None:
    """Run a command body, turning user errors into exit code 2 and one line on stderr; a crash
    or a stray ``sys.exit()`` (from a probe script) also exits 2, so 1 always means findings."""
    try:
        code = fn()
    except UserError as error:
        _fail(error)
    except KeyboardInterrupt:
        typer.echo("regadvisor: interrupted", err=True)
        raise typer.Exit(130)
    except SystemExit as exc:
        typer.echo(f"regadvisor: error: stopped by sys.exit({exc.code!r}) before the report was written "
                   "(a probe script must not call sys.exit; return from its functions instead)", err=True)
        raise typer.Exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        _crash(exc)
    raise typer.Exit(code)


def _use_color(output: Optional[Path], color: Optional[bool]) -> bool:
    if color is not None:
        return color
    if output is not None or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _width(output: Optional[Path]) -> int:
    """80 columns in a file; the terminal's width (``COLUMNS`` first) up to :data:`MAX_WIDTH`."""
    if output is not None:
        return 80
    return max(40, min(shutil.get_terminal_size((80, 24)).columns, MAX_WIDTH))


def _format(fmt: Optional[str]) -> str:
    """``--format`` as given; when not given, GitHub annotations inside GitHub Actions, else terminal."""
    if fmt is not None:
        return _choice(fmt, FORMATS, "--format")
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "terminal"


def _fail_on(value: Optional[str]) -> Optional[str]:
    return None if value is None else _choice(value, FAIL_ON, "--fail-on")


def _write(text: str, output: Optional[Path]) -> None:
    """Print, or write ``output`` atomically (a failed run never leaves a half-written file)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from .output import write_atomic

    write_atomic(output, text, what="the report")


def _github_step_summary(outcome: Outcome) -> None:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY`` (GitHub Actions' job summary)."""
    from .render import github

    path = github.step_summary_path()
    if path is None:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(github.step_summary(outcome.reports))
    except OSError as exc:
        raise ConfigError(f"cannot append the job summary: {exc.strerror or exc}", source=path) from None


def _emit(outcome: Outcome, fmt: str, output: Optional[Path], color: Optional[bool], *,
          gate_summary: bool = False) -> int:
    """Render ``outcome`` in ``fmt``, write it, add the GitHub job summary; the exit code."""
    from .render.formats import render

    _write(render(outcome, fmt, color=_use_color(output, color), width=_width(output),
                  gate_summary=gate_summary), output)
    if fmt == "github":
        _github_step_summary(outcome)
    return outcome.exit_code


def _plots(outcome: Outcome, plot: Path) -> None:
    """Draw every run's curves: ``plot`` itself for one run, ``STEM-N.png`` for several."""
    from .output import write_atomic
    from .render.plot import render as render_plot

    reports = outcome.reports
    paths = [plot] if len(reports) == 1 else [plot.with_name(f"{plot.stem}-{i}{plot.suffix}")
                                             for i in range(1, len(reports) + 1)]
    pictures = [render_plot(r).png for r in reports]  # all drawn before any is written
    for path, png in zip(paths, pictures):
        write_atomic(path, png, what="the plot")


@app.command()
def diagnose(
    logs: List[str] = typer.Argument(..., metavar="LOG", hidden=True),
    config: ConfigOpt = None,
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
    plot: Optional[Path] = typer.Option(None, "--plot", metavar="FILE",
        help="Also draw the learning curves to this PNG (needs regadvisor[plot]; several runs: STEM-1.png, ...)."),
    workers: WorkersOpt = None,
) -> None:
    """Read training logs, measure the generalization gap and recommend settings.

    LOG is a log file or a run folder (repeatable; a folder of many runs is diagnosed run by
    run, several at once, and compared in one table). From an MLflow tracking server:
    mlflow://HOST:PORT/RUN_ID (32 hex digits) or mlflow://HOST:PORT/EXPERIMENT/RUN_NAME is one
    run; mlflow://HOST:PORT/EXPERIMENT (any other single name, or a path ending in /) is every
    run of that experiment. Exit code 1 means a finding at or above --fail-on fired.
    """

    def body() -> int:
        from . import api

        chosen = _format(fmt)
        outcome = api.diagnose_runs(logs, log_format=log_format, metrics=api.parse_metrics(metric), rules=rules,
                                    select_rules=select_rules, ignore_rules=ignore_rules,
                                    params=api.parse_params(param), settings=api.load_settings(config),
                                    fail_on=_fail_on(fail_on), workers=workers)
        if plot is not None:
            _plots(outcome, plot)
        return _emit(outcome, chosen, output, color)

    guarded(body)


@app.command()
def check(
    logs: List[str] = typer.Argument(..., metavar="LOG", hidden=True),
    max_acc_gap: Optional[float] = typer.Option(None, "--max-acc-gap", metavar="FRACTION",
        help="Fail when train − validation accuracy at the end exceeds this (0.05 = 5 points)."),
    max_val_loss_rise: Optional[float] = typer.Option(None, "--max-val-loss-rise", metavar="FRACTION",
        help="Fail when validation loss ends more than this above its best (0.1 = 10%)."),
    max_loss_gap_ratio: Optional[float] = typer.Option(None, "--max-loss-gap-ratio", metavar="RATIO",
        help="Fail when validation / training loss at the end exceeds this."),
    min_val_acc: Optional[float] = typer.Option(None, "--min-val-acc", metavar="FRACTION",
        help="Fail when the best validation accuracy is below this."),
    max_evals_since_best: Optional[int] = typer.Option(None, "--max-evals-since-best", metavar="N",
        help="Fail when more than N evaluations ran after the best one."),
    no_divergence: bool = typer.Option(False, "--no-divergence", help="Fail on a NaN/inf or blown-up loss."),
    require: bool = typer.Option(False, "--require", help="Fail when a gate cannot be judged for lack of data."),
    config: ConfigOpt = None,
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
    workers: WorkersOpt = None,
) -> None:
    """Gate training runs in CI: the rules, plus limits given as options or in the config.

    LOG is a log file or a run folder (repeatable). The job fails (exit 1) when a rule at or above
    --fail-on fires (default: error) or a gate is broken; gates come from the options below and
    from [tool.regadvisor.check] in pyproject.toml or check: in .regadvisor.yaml.
    """

    def body() -> int:
        from . import api

        chosen = _format(fmt)
        flags = {"max-acc-gap": max_acc_gap, "max-val-loss-rise": max_val_loss_rise,
                 "max-loss-gap-ratio": max_loss_gap_ratio, "min-val-acc": min_val_acc,
                 "max-evals-since-best": max_evals_since_best, "no-divergence": no_divergence or None}
        outcome = api.check(logs, log_format=log_format, metrics=api.parse_metrics(metric), rules=rules,
                            select_rules=select_rules, ignore_rules=ignore_rules, params=api.parse_params(param),
                            settings=api.load_settings(config), fail_on=_fail_on(fail_on),
                            gates={k: v for k, v in flags.items() if v is not None}, require=require,
                            workers=workers)
        return _emit(outcome, chosen, output, color, gate_summary=True)

    guarded(body)


@app.command()
def probe(
    script: Path = typer.Argument(..., metavar="SCRIPT", hidden=True),
    script_args: Optional[List[str]] = typer.Argument(None, metavar="[-- ARGS...]", hidden=True),
    train_epochs: Optional[int] = typer.Option(None, "--train-epochs", metavar="N", help=(
        "How many epochs you really train (overrides the script's own epochs or EPOCHS); the probe and --verify "
        "judge at this length."
    )),
    train_steps: Optional[int] = typer.Option(None, "--train-steps", metavar="N",
        help="The real training length in optimizer steps, instead of epochs."),
    steps: Optional[int] = typer.Option(None, "--steps", metavar="N",
        help="Probe only this many optimizer steps (shorter than the real length)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", metavar="N",
        help="Probe only this many epochs (shorter than the real length)."),
    seconds: Optional[float] = typer.Option(None, "--seconds", metavar="S", help=(
        "Stop the probe after this many seconds; how far that gets depends on the machine, so results are not "
        "reproducible across machines [default: no limit: the real length, or until validation is clearly past "
        "its best]."
    )),
    depth: str = typer.Option("default", "--depth", metavar="DEPTH", autocompletion=_completer(DEPTHS),
        help="Instrument depth: default (cheap, sampled) or full (every step)."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE",
        help="auto (CUDA when available), cpu or cuda[:N]."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed for weights and data order."),
    knob: List[str] = typer.Option([], "--set", metavar="KNOB=VALUE",
        help=f"Try a setting, e.g. --set dropout=0.3 (repeatable). Knobs: {', '.join(KNOBS)}."),
    config: ConfigOpt = None,
    rules: RulesOpt = [],
    select_rules: SelectOpt = [],
    ignore_rules: IgnoreOpt = [],
    param: ParamOpt = [],
    fail_on: FailOnOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    color: ColorOpt = None,
    verify: bool = typer.Option(False, "--verify", help=(
        "Measure the advice at the real training length: joint configurations screened by successive halving, "
        "the best checked on paired seeds; keep only what helps beyond noise."
    )),
    budget: Optional[str] = typer.Option(None, "--budget", metavar="BUDGET", help=(
        "Verification budget in full trainings of the real length (6x), seconds (120, 5m; not reproducible "
        "across machines) or trials (30t) [default: 6x, the probe included]."
    )),
    verify_seeds: Optional[int] = typer.Option(None, "--verify-seeds", metavar="N", help=(
        "With --verify: paired seeds the best configuration is decided on (at least 2) [default: 3]."
    )),
    workers: Optional[int] = typer.Option(None, "--workers", metavar="N", help=(
        "With --verify: trials run side by side on N workers [default: one per core, one per GPU; with Ray, the"
        " cluster's CPUs]; the advice is the same for any N."
    )),
    executor: str = typer.Option("local", "--executor", metavar="EXECUTOR", autocompletion=_completer(EXECUTORS), help=(
        "With --verify: local (processes on this machine) or ray (tasks on the Ray cluster at RAY_ADDRESS; pip "
        "install 'regadvisor[ray]')."
    )),
    export: Optional[Tuple[str, Path]] = typer.Option(None, "--export", metavar="optuna FILE",
        help="With --verify: write the narrowed search space (FILE.py: an Optuna suggest(trial); FILE.json: JSON)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=(
        "Send the script's own output to a file (named in the report) instead of passing it through on stderr."
    )),
    script_log: Optional[Path] = typer.Option(None, "--script-log", metavar="FILE",
        help="Append the script's own output to FILE (implies --quiet)."),
) -> None:
    """Train your model with instruments attached, at its real length, then diagnose it like a log.

    SCRIPT is the training script you already have, run unmodified as `python SCRIPT ARGS` would
    (plain PyTorch, Lightning or Hugging Face Trainer; its arguments go after --), or a file
    defining build_model(**knobs) and build_data() (the faster contract, see the README).
    """

    def body() -> int:
        from . import api
        from .render.progress import probe_progress, verify_progress

        chosen, threshold = _format(fmt), _fail_on(fail_on)
        settings = api.load_settings(config)
        log = script_log if script_log is not None else (_new_script_log(script) if quiet else None)
        with probe_progress() as progress, verify_progress() as vprogress:
            report = api.probe(script, steps=steps, epochs=epochs, seconds=seconds, train_epochs=train_epochs,
                               train_steps=train_steps, depth=_choice(depth, DEPTHS, "--depth"), device=device,
                               seed=seed, knobs=api.parse_knobs(knob), rules=rules, select_rules=select_rules,
                               ignore_rules=ignore_rules, params=api.parse_params(param), settings=settings,
                               progress=progress, verify=verify, budget=budget, verify_progress=vprogress,
                               verify_seeds=verify_seeds, workers=workers,
                               executor=_choice(executor, EXECUTORS, "--executor"),
                               export=(export[0], export[1]) if export else None, args=script_args or [],
                               script_log=log)
        return _emit(api.judge([report], fail_on=threshold, settings=settings), chosen, output, color)

    guarded(body)


def _new_script_log(script: Path) -> Path:
    """A new file, kept, for the output of a script probed with --quiet."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f"regadvisor-probe-{script.stem}-", suffix=".log")
    os.close(fd)
    return Path(name)


@app.command()
def explain(
    topic: Optional[str] = typer.Argument(None, metavar="TOPIC", hidden=True),
    color: ColorOpt = None,
) -> None:
    """Explain a technique: what it does, typical values and their sources, and the reference code.

    TOPIC is a technique or a knob name (dropout, weight_decay, adamw, layernorm, ...); without
    it the topics are listed.
    """

    def body() -> int:
        from . import api
        from .render.explain import render, render_topics

        if topic is None:
            _write(render_topics(api.explain_topics()), None)
            return 0
        _write(render(api.explain(topic), color=_use_color(None, color), width=_width(None)), None)
        return 0

    guarded(body)


@app.command()
def formats() -> None:
    """List the log formats regadvisor reads."""
    from . import api

    for name, description in api.log_formats().items():
        typer.echo(f"{name:<14} {description}")


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
    rule_id: str = typer.Argument(..., metavar="ID", hidden=True),
    rules: RulesOpt = [],
) -> None:
    """Show one rule: what it checks, its parameters, recommendations and evidence.

    ID is a rule id or name, in any letter case (OF003, of003, acc-gap-heavy).
    """

    def body() -> int:
        from . import api
        from .render.rules import render_rule

        _write(render_rule(api.find_rule(rule_id, rules)), None)
        return 0

    guarded(body)


@rules_app.command("check")
def rules_check(
    folder: Path = typer.Argument(..., metavar="DIR", hidden=True),
) -> None:
    """Validate rule files against the schema and run each rule's test cases.

    DIR is a folder of rule files (*.yaml). Exit code 1 means a test case failed.
    """

    def body() -> int:
        from . import api

        ruleset, failures = api.check_rules(folder)
        for msg in failures:
            typer.echo(f"FAIL {msg}")
        cases = sum(len(r.spec["tests"]) for r in ruleset.rules)
        typer.echo(f"{len(ruleset.rules)} rule(s), {cases - len(failures)} of {cases} test case(s) pass")
        return 1 if failures else 0

    guarded(body)


@rules_app.command("signals")
def rules_signals() -> None:
    """List the signals rules can test, with what each measures, and the signals' parameters."""
    from . import api

    for name, spec in sorted(api.signal_specs().items()):
        typer.echo(f"{name}\n    {spec.doc}")
    typer.echo("\nparameters (override with --param signals.NAME=VALUE):")
    for name, param in api.signal_parameters().items():
        typer.echo(f"{name} = {param.default!r}\n    {param.doc} [{param.evidence}]")


def main() -> None:
    """Console-script entry point (``regadvisor``, and ``python -m regadvisor``); an exception
    outside any command body (option parsing, the commands that need no guard) is a crash too."""
    try:
        app(prog_name="regadvisor")
    except Exception as exc:  # noqa: BLE001
        _crash(exc)
