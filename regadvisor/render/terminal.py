"""The rich terminal report: verdict, key numbers, the curve, findings, recommendations.

It renders to a string (renderers never print); colour only when asked, so output piped to a
file or seen with ``NO_COLOR`` set is plain text. Text that comes from logs or rule files is
passed as :class:`rich.text.Text`, never parsed as markup.
"""

from __future__ import annotations

import io
import math
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..model import Report
from ._common import fmt, relative_source, summary_rows, unverified_hint
from .notes import note_text
from .sparkline import marker_line, sparkline

VERDICT_STYLE = {
    "healthy": "bold green", "overfitting": "bold yellow", "underfitting": "bold cyan",
    "unstable": "bold red", "not-learning": "bold red", "insufficient-data": "bold magenta",
}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "blue"}
CURVE_WIDTH = 60  # at most; narrower when the curve, its name and its end values must fit the width
NAME_WIDTH = 11


def _title(report: Report, width: int) -> Text:
    """``regadvisor · SOURCE  (format)``, the source shortened from the left to fit the border."""
    tail = f"  ({report.run.format})"
    room = width - len("╭─ regadvisor · ") - len(tail) - 3
    source = relative_source(report.source)
    if len(source) > room:
        tail_part = source[-(room - 1):]
        cut = tail_part.find("/")  # start at a folder boundary when there is one
        source = "…" + (tail_part[cut:] if 0 <= cut < len(tail_part) - 1 else tail_part)
    title = Text(f"regadvisor · {source}", style="bold")
    title.append(tail, style="dim")
    return title


def _key_numbers(report: Report) -> Table:
    s = report.signals
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    for label, text in summary_rows(report):
        table.add_row(label, Text(text))
    facts = report.run.facts
    if report.run.format == "probe" and facts.get("architecture"):
        table.add_row("model", f"{facts['architecture']}, depth {facts.get('depth')}, "
                               f"{facts.get('num_trainable_parameters', 0):,} parameters, "
                               f"batch {facts.get('batch_size')}")
        for key, label in (("grad_norm_first_last_ratio", "grad first/last"),
                           ("max_dead_unit_fraction", "dead units (max)"),
                           ("max_saturated_fraction", "saturated (max)"),
                           ("update_weight_ratio_median", "update/weight")):
            if s.get(key) is not None:
                table.add_row(label, fmt(s[key]))
    return table


def _best_mark(index: int, n: int, curve_width: int, label: str, width: int) -> Text:
    """``▲ best: …`` under the best point, or ``best: … ▲`` when the label would run past ``width``."""
    col = len(marker_line(index, n, curve_width)) - 1
    text = " " * col + f"▲ best: {label}"
    left = f"best: {label} ▲"
    if NAME_WIDTH + len(text) > width and len(left) <= col + 1:
        text = left.rjust(col + 1)
    return Text(" " * NAME_WIDTH + text, style="green")


def _curves(report: Report, width: int) -> Group | None:
    run = report.run
    found: list[tuple[str, list[float], str]] = []
    for name in ("train_loss", "val_loss", "train_acc", "val_acc"):
        series = run.get(name)
        if series is None:
            continue
        values = [v for v in series.values if math.isfinite(v)]
        if len(values) >= 2:
            found.append((name, values, f"  {fmt(values[0])} → {fmt(values[-1])}"))
    if not found:
        return None
    curve_width = max(8, min(CURVE_WIDTH, width - NAME_WIDTH - max(len(tail) for _, _, tail in found)))
    monitor = report.signals.get("monitor")
    lines: list[Text] = []
    for name, values, tail in found:
        line = Text(f"{name:<{NAME_WIDTH - 1}} ", style="dim")
        line.append(sparkline(values, curve_width))
        line.append(tail, style="dim")
        lines.append(line)
        if name == monitor and report.signals.get("best_index") is not None:
            lines.append(_best_mark(report.signals["best_index"], len(values), curve_width,
                                    str(report.signals.get("best_position")), width))
    return Group(*lines)


def _findings(report: Report) -> Table | None:
    fired = [f for f in report.findings if f.status == "fired"]
    if not fired:
        return None
    table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False)
    table.add_column("rule", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("finding", ratio=1)
    order = {"error": 0, "warning": 1, "info": 2}
    for f in sorted(fired, key=lambda f: (order[f.severity], f.rule_id)):
        body = Text(f.title, style="bold")
        if f.message:
            body.append("\n" + f.message)
        table.add_row(f.rule_id, Text(f.severity, style=SEVERITY_STYLE[f.severity]), body)
    return table


def _recommendations(report: Report) -> Group | None:
    """One block per knob: the change on the first line, then why, how sure, and how to apply it."""
    if not report.recommendations:
        return None
    blocks: list[Any] = []
    for r in report.recommendations:
        head = Text(f" {r.knob:<24}", style="bold")
        head.append(f"{fmt(r.current)} → ")
        head.append(fmt(r.value), style="bold")
        if r.unit:
            head.append(f" {r.unit}")
        if r.range:
            head.append(f"  (range {fmt(r.range[0])}–{fmt(r.range[1])})", style="dim")
        body = Text(r.reason)
        body.append(f"\nfrom {', '.join(r.rules)} · confidence {r.confidence}", style="dim")
        if r.verified:
            v = r.verified
            unit = "points val acc" if v["metric"] == "val_acc points" else v["metric"]
            body.append(f"\nmeasured: {r.knob} {fmt(r.current)} → {fmt(r.value)}: {v['difference']:+.3g} ± "
                        f"{v['uncertainty']:.2g} {unit}, {v['trials']} seeds",
                        style="green" if v.get("helps") else "red")
        if r.note:
            body.append("\n" + r.note, style="dim")
        if r.snippet:
            body.append("\n" + r.snippet, style="cyan")
        blocks += [head, Padding(body, (0, 0, 0, 5))]
    return Group(*blocks)


def _tally(report: Report) -> Text:
    counts: dict[str, int] = {}
    for f in report.findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    missing = sorted({m for f in report.findings if f.status == "skipped" for m in f.missing})
    text = Text(", ".join(f"{counts[k]} {k}" for k in ("fired", "passed", "skipped", "not-applicable") if k in counts)
                + " rules", style="dim")
    if missing:
        text.append(f"; skipped for lack of: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}", style="dim")
    return text


def render(report: Report, *, color: bool = False, width: int = 80) -> str:
    """The report as terminal text (ANSI colours only when ``color``)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False, emoji=False)
    title = _title(report, width)
    verdict = Text("verdict: ")
    verdict.append(report.verdict.upper(), style=VERDICT_STYLE.get(report.verdict, "bold"))
    verdict.append(f"  (confidence {report.verdict_confidence})", style="dim")
    parts: list[Any] = [verdict, _key_numbers(report)]
    console.print(Panel(Group(*parts), title=title, title_align="left", box=box.ROUNDED))
    curves = _curves(report, width)
    if curves is not None:
        console.print(curves)
    for section, body in (("Findings", _findings(report)), ("Recommendations", _recommendations(report))):
        if body is not None:
            console.print(Text(section, style="bold underline"))
            console.print(body)
    hint = unverified_hint(report)
    if hint is not None:
        console.print(Text(hint, style="dim"))
    if not report.recommendations and report.verdict == "healthy":
        console.print(Text("No change recommended: nothing in this run calls for more or less regularization.",
                           style="green"))
    for warning in report.run.warnings + [note_text(n) for n in report.notes]:
        console.print(Text(f"note: {warning}", style="dim"))
    console.print(_tally(report))
    return buffer.getvalue()
