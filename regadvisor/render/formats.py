"""Which renderer a ``--format`` name means, and what each is given.

Every command renders through :func:`render`, so every format sees the same reports judged at
the same ``fail_on`` (JUnit marks failures by it; the terminal view of ``check`` ends with the
gate summary).
"""

from __future__ import annotations

from ..model import Outcome

FORMATS: tuple[str, ...] = ("terminal", "json", "markdown", "sarif", "github", "junit")


def render(outcome: Outcome, fmt: str, *, color: bool = False, width: int = 80, gate_summary: bool = False) -> str:
    """``outcome`` in format ``fmt`` (one of :data:`FORMATS`); colour and width for the terminal."""
    reports = outcome.reports
    if fmt == "json":
        from . import json

        return json.render(reports[0] if len(reports) == 1 else reports)
    if fmt == "markdown":
        from . import markdown

        return markdown.render(reports)
    if fmt == "sarif":
        from . import sarif

        return sarif.render(reports)
    if fmt == "github":
        from . import github

        return github.render(reports)
    if fmt == "junit":
        from . import junit

        return junit.render(reports, fail_on=outcome.fail_on)
    from . import terminal

    text = "".join(terminal.render(r, color=color, width=width) for r in reports)
    if len(reports) > 1:
        from .compare import render as compare

        text += compare(reports, color=color, width=width)
    if gate_summary:
        from .gates import render as gates

        text += gates(outcome, color=color, width=width)
    return text
