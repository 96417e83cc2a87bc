"""The probe's progress bar: on stderr, only on a terminal, gone when done."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator


@contextmanager
def probe_progress() -> Iterator[Callable[[Any], None] | None]:
    """A callback for :func:`regadvisor.probe.run_probe` that drives a rich progress bar.

    Yields ``None`` when stderr is not a terminal (CI logs get no redraw noise).
    """
    if not sys.stderr.isatty():
        yield None
        return
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
