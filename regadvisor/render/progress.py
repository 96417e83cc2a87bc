"""Progress of ``probe`` and ``probe --verify`` on stderr.

On a terminal: a rich bar, redrawn in place and gone when done. Elsewhere (a CI log, a file):
plain lines, one every :data:`EVERY` seconds once a run has lasted that long, so a long
``--verify`` (minutes) shows it is alive without flooding the log; a run shorter than
:data:`EVERY` prints nothing, and the report itself marks the end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from ..errors import ConfigError

EVERY = 15.0  # seconds between plain progress lines: a 500 s verification writes about 33
PHASES = {"train": "training", "eval": "evaluating"}
EVERY_VARIABLE = "REGADVISOR_PROGRESS_EVERY"  # overrides EVERY (seconds), e.g. 60 for a quieter log


def every() -> float:
    """Seconds between plain progress lines: ``$REGADVISOR_PROGRESS_EVERY``, else :data:`EVERY`."""
    raw = os.environ.get(EVERY_VARIABLE)
    if raw is None:
        return EVERY
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"must be a positive number of seconds, not {raw!r}", source=EVERY_VARIABLE)
    return value


class PlainLines:
    """A progress callback that writes ``regadvisor NAME: …`` lines at most every ``every`` seconds."""

    def __init__(self, name: str, describe: Callable[[Any], str], *, stream: TextIO | None = None,
                 every: float = EVERY, clock: Callable[[], float] = time.monotonic):
        """``every`` seconds apart on ``stream`` (default stderr), timed by ``clock``."""
        self.name, self.describe, self.every, self.clock = name, describe, every, clock
        self.stream = stream if stream is not None else sys.stderr
        self.start = clock()
        self.next_at = self.start + every

    def __call__(self, progress: Any) -> None:
        now = self.clock()
        if now >= self.next_at:
            self.stream.write(f"regadvisor {self.name}: {self.describe(progress)} ({now - self.start:.0f} s)\n")
            self.stream.flush()
            self.next_at = now + self.every


def describe_probe(p: Any) -> str:
    """``training, epoch 3.2 of 10, step 120, loss 0.5213`` from a :class:`~regadvisor.probe.ProbeProgress`."""
    where = f"step {p.step}" + (f" of {p.total_steps}" if p.total_steps else "")
    if p.total_epochs:
        where = f"epoch {p.epoch:.1f} of {p.total_epochs}, {where}"
    loss = "" if p.loss is None else f", loss {p.loss:.4g}"
    return f"{PHASES.get(p.phase, p.phase)}, {where}{loss}"


def describe_verify(p: Any) -> str:
    """``trial 4 of 30: dropout 0 → 0.3, seed 0; 1.8 of 6 full trainings`` from a verification progress."""
    if p.label == "done":
        return "done"
    planned = min(p.trials_planned, p.budget_trials) if p.budget_trials else p.trials_planned
    text = f"trial {p.trials_done + 1} of {max(planned, p.trials_done + 1)}: {p.label}"
    if p.budget_trainings:
        text += f"; {p.trainings_done:.1f} of {p.budget_trainings:g} full trainings"
    elif p.budget_seconds:
        text += f"; budget {p.budget_seconds:.0f} s"
    return text


@contextmanager
def _progress(name: str, describe: Callable[[Any], str],
              bar: Callable[[], Any]) -> Iterator[Callable[[Any], None]]:
    if sys.stderr.isatty():
        yield from bar()
    else:
        yield PlainLines(name, describe, every=every())


def _probe_bar() -> Iterator[Callable[[Any], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("probe {task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("training", total=None, status="")

        def update(p: Any) -> None:
            if p.total_steps:
                bar.update(task, total=p.total_steps, completed=p.step)
            elif p.total_epochs:
                bar.update(task, total=p.total_epochs, completed=min(p.epoch, p.total_epochs))
            elif p.total_seconds:
                bar.update(task, total=p.total_seconds, completed=min(p.seconds, p.total_seconds))
            loss = "" if p.loss is None else f"loss {p.loss:.4g}"
            bar.update(task, description=p.phase, status=f"step {p.step} {loss}")

        yield update


def _verify_bar() -> Iterator[Callable[[Any], None]]:
    from rich.console import Console
    from rich.errors import LiveError
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("verify"), BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("verify", total=None, status="")
    state = {"started": False, "failed": False}

    def update(p: Any) -> None:
        # started on the first trial, not on entry: the probe's own bar runs first
        if state["failed"]:
            return
        if not state["started"]:
            try:
                bar.start()
            except LiveError:  # an older rich that cannot nest live displays: no bar
                state["failed"] = True
                return
            state["started"] = True
        if p.budget_trainings:
            bar.update(task, total=p.budget_trainings, completed=min(p.trainings_done, p.budget_trainings))
        elif p.budget_seconds:
            bar.update(task, total=p.budget_seconds, completed=min(p.seconds, p.budget_seconds))
        else:
            total = min(p.trials_planned, p.budget_trials) if p.budget_trials else p.trials_planned
            bar.update(task, total=max(total, p.trials_done, 1), completed=p.trials_done)
        bar.update(task, status=f"trial {p.trials_done + 1}: {p.label}" if p.label != "done" else "done")

    try:
        yield update
    finally:
        if state["started"]:
            bar.stop()


def probe_progress() -> Any:
    """A progress callback for :func:`regadvisor.probe.run_probe`, as a context manager."""
    return _progress("probe", describe_probe, _probe_bar)


def verify_progress() -> Any:
    """A progress callback for :func:`regadvisor.probe.verify.verify`, as a context manager."""
    return _progress("verify", describe_verify, _verify_bar)
