"""The ``probe --verify`` progress bar: on stderr, only on a terminal, gone when done.

Same pattern as :mod:`regadvisor.render.progress`; the bar counts trials, or seconds when the
budget is in seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def verify_progress() -> Iterator[Callable[[Any], None] | None]:
    """A callback for :func:`regadvisor.probe.verify.verify` driving a rich bar (``None`` off a TTY)."""
    if not sys.stderr.isatty():
        yield None
        return
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
        _draw(p)

    def _draw(p: Any) -> None:
        if p.budget_seconds:
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
