"""The gate summary of ``regadvisor check``: passed, failed, not judged — never "passed" by default."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..engine.evaluator import render_message
from ..gates import GATE_KINDS, GateKind
from ..model import GATE_CATEGORY, Finding, Outcome


def gate_status(finding: Finding) -> str:
    """'passed', 'FAILED', 'not judged', or 'FAILED: required, not judged'."""
    if finding.status == "fired":
        return "FAILED: required, not judged" if finding.missing else "FAILED"
    return "passed" if finding.status == "passed" else "not judged"


def _value(value: object, kind: GateKind) -> str:
    """A limit or a measurement in the gate's unit, as its message writes it (21.0 points, 12.5%)."""
    return "—" if value is None else render_message(f"{{v:{kind.spec}}}", {"v": value})


def render(outcome: Outcome, *, color: bool = False, width: int = 80) -> str:
    """One table per run: each gate's limit, measured value and status; then the decision."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False)
    by_id = {kind.id: (name, kind) for name, kind in GATE_KINDS.items()}
    for report in outcome.reports:
        gates = [f for f in report.findings if f.category == GATE_CATEGORY]
        if gates:
            table = Table(title=Text(f"Gates · {report.source}"), box=box.SIMPLE_HEAD, show_edge=False,
                          title_justify="left")
            for column in ("gate", "limit", "measured", "status"):
                table.add_column(column)
            for f in gates:
                name, kind = by_id[f.rule_id]
                status = gate_status(f)
                limit = "no NaN/inf, no blow-up" if name == "no-divergence" else _value(f.values.get("limit"), kind)
                missing = f" — lacks {', '.join(f.missing)}" if f.missing else ""
                style = "green" if status == "passed" else "bold red" if status.startswith("FAILED") else "yellow"
                table.add_row(name, limit, _value(f.values.get(kind.signal), kind), Text(status + missing, style=style))
            console.print(table)
        for failure in outcome.failures(report):
            if failure.category != GATE_CATEGORY:
                console.print(Text(f"rule {failure.rule_id} ({failure.severity}) fired: {failure.title}",
                                   style="red"))
    verdict = "PASSED" if outcome.passed else "FAILED"
    decision = Text(f"regadvisor check: {verdict}", style="bold green" if outcome.passed else "bold red")
    decision.append(f"  (fail-on {outcome.fail_on})", style="dim")
    console.print(decision)
    return buffer.getvalue()
