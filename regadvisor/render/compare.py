"""One table comparing several runs (``regadvisor diagnose lightning_logs/``)."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..model import Report
from .terminal import VERDICT_STYLE, fmt


def render(reports: list[Report], *, color: bool = False, width: int = 120) -> str:
    """Verdict, best point, gap and recommendations of each run, one row each."""
    table = Table(title="Runs compared", box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("run", "verdict", "best at", "best", "end vs best", "gap", "recommendations"):
        table.add_column(column, overflow="fold")
    for r in reports:
        s = r.signals
        if s.get("acc_gap_end") is not None:
            gap = f"{s['acc_gap_end'] * 100:.1f} pts acc"
        elif s.get("loss_gap_ratio_end") is not None:
            gap = f"×{s['loss_gap_ratio_end']:.2f} loss"
        else:
            gap = "—"
        worse = s.get("val_worsening_rel")
        recs = ", ".join(f"{x.knob}={fmt(x.value)}" for x in r.recommendations if x.knob != "data_augmentation")
        table.add_row(
            Text(r.run.name or r.source),
            Text(r.verdict, style=VERDICT_STYLE.get(r.verdict, "")),
            Text(str(s.get("best_position") or "—")),
            fmt(s.get("best_value")),
            "—" if worse is None else f"{worse:+.1%}",
            gap,
            Text(recs or "—"),
        )
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=color, no_color=not color,
            color_system="standard" if color else None, highlight=False).print(table)
    return buffer.getvalue()
