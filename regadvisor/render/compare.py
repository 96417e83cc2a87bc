"""One table comparing several runs (``regadvisor diagnose lightning_logs/``).

Runs are named by their path below the folder they share, so that the table fits 80 columns;
each run's recommended settings follow the table, one line a run, wrapped between settings.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..model import Report
from ._common import changes, fmt, gap_text, run_labels
from .terminal import VERDICT_STYLE


def render(reports: list[Report], *, color: bool = False, width: int = 80) -> str:
    """Verdict, best value, end vs best and gap of each run, one row each; then the settings."""
    table = Table(title=Text("Runs compared", style="bold"), box=box.SIMPLE_HEAD, show_edge=False, title_justify="left",
                  pad_edge=False, collapse_padding=True)
    table.add_column("run", overflow="fold")
    for column in ("verdict", "best", "vs best", "gap"):
        table.add_column(column, no_wrap=True)
    labels = run_labels(reports)
    for label, r in zip(labels, reports):
        s = r.signals
        worse = s.get("val_worsening_rel")
        table.add_row(Text(label), Text(r.verdict, style=VERDICT_STYLE.get(r.verdict, "")),
                      fmt(s.get("best_value")), "—" if worse is None else f"{worse:+.1%}",
                      gap_text(s, short=True))
    advice = [Text(f"{label}: {changes(r)}") for label, r in zip(labels, reports) if changes(r)]
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False)
    console.print(table)
    if advice:
        console.print(Group(Text("Recommended settings", style="bold"), *advice))
    return buffer.getvalue()
