"""GitHub Actions workflow commands (``--format github``): one annotation per fired finding.

``::error`` / ``::warning`` / ``::notice`` (severity error / warning / info) with the log file
and the rule's title, then one ``::notice`` line with each run's verdict. Escaping follows
GitHub's runner (``ActionCommand``): in the message ``%``, CR and LF become ``%25``, ``%0D``,
``%0A``; in property values ``:`` and ``,`` also become ``%3A`` and ``%2C``.

The CLI chooses this format by itself when ``GITHUB_ACTIONS=true`` and no ``--format`` was
given. :func:`step_summary` gives the Markdown that the CLI appends to ``$GITHUB_STEP_SUMMARY``
(this module never writes files).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..model import Report
from . import markdown
from ._common import changes, relative_source, sorted_fired

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    """A workflow command's message."""
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (``file=``, ``title=``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str | int | None) -> str:
    """One ``::name k=v,...::message`` line (properties with ``None`` values are left out)."""
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def _summary(report: Report) -> str:
    fired = sorted_fired(report.findings)
    counts = {s: sum(1 for f in fired if f.severity == s) for s in ("error", "warning", "info")}
    text = (f"{relative_source(report.source)}: {report.verdict.upper()} (confidence {report.verdict_confidence}); "
            + (", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no finding") )
    if changes(report):
        text += "; recommended: " + changes(report)
    return text


def render(reports: Report | list[Report]) -> str:
    """Workflow-command lines: every fired finding, then one verdict notice per report."""
    if isinstance(reports, Report):
        reports = [reports]
    lines = []
    for report in reports:
        path = relative_source(report.source)
        for f in sorted_fired(report.findings):
            lines.append(command(COMMANDS.get(f.severity, "warning"), f.message or f.title,
                                 file=path, title=f"{f.rule_id} {f.title}"))
    for report in reports:
        lines.append(command("notice", _summary(report), title="regadvisor verdict"))
    return "\n".join(lines) + "\n"


def step_summary(reports: Report | list[Report]) -> str:
    """The job summary Markdown (the Markdown report, separated from what came before)."""
    return "\n" + markdown.render(reports)


def step_summary_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where GitHub Actions collects the job summary, when running there."""
    value = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None
