"""The gate summary of ``regadvisor check``: passed, failed, not judged — never "passed" by default."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..api import CheckResult
from ..gates import GATE_KINDS
from .terminal import fmt


def gate_status(result: CheckResult, finding) -> str:
    """'passed', 'FAILED', 'not judged' or 'not judged (required)'."""
    if finding.status == "fired":
        return "FAILED"
    if finding.status == "passed":
        return "passed"
    return "not judged (required)" if finding.rule_id in result.required else "not judged"


def render(result: CheckResult, *, color: bool = False, width: int = 100) -> str:
    """One table per run: each gate's limit, measured value and status; then the decision."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False)
    styles = {"passed": "green", "FAILED": "bold red"}
    by_id = {kind.id: (name, kind) for name, kind in GATE_KINDS.items()}
    for report in result.reports:
        table = Table(title=f"Gates · {report.source}", box=box.SIMPLE_HEAD, show_edge=False, title_justify="left")
        for column in ("gate", "limit", "measured", "status"):
            table.add_column(column)
        for f in result.gates(report):
            name, kind = by_id[f.rule_id]
            status = gate_status(result, f)
            limit = "no NaN/inf, no blow-up" if name == "no-divergence" else fmt(f.values.get("limit"))
            missing = f" — lacks {', '.join(f.missing)}" if f.missing else ""
            table.add_row(name, limit, fmt(f.values.get(kind.signal)),
                          Text(status + missing, style=styles.get(status, "yellow")))
        console.print(table)
        for failure in result.failures(report):
            if failure.category != "gate":
                console.print(Text(f"rule {failure.rule_id} ({failure.severity}) fired: {failure.title}", style="red"))
    verdict = "PASSED" if result.passed else "FAILED"
    console.print(Text(f"regadvisor check: {verdict}", style="bold green" if result.passed else "bold red"))
    return buffer.getvalue()
