"""The Markdown report (``--format markdown``), for a pull-request comment or a CI job summary.

GitHub-flavoured Markdown: the verdict and key numbers first, fired findings in a table, the
rules that did not fire folded into a ``<details>`` list (with the signals a skipped rule
lacked), recommendations as a table, and the reader's warnings. Several reports (a folder of
runs) get a comparison table and one section each.

Text that comes from logs or rule files (sources, metric names, messages, warnings) is escaped
so that a ``|`` cannot break a table, a backtick cannot open a code span and a ``<`` cannot
open an HTML tag.
"""

from __future__ import annotations

import re
from typing import Any

from ..model import Recommendation, Report
from ._common import (
    changes,
    fmt,
    gap_text,
    relative_source,
    run_labels,
    sorted_fired,
    summary_rows,
    unverified_hint,
)
from .notes import note_text

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def escape(text: Any) -> str:
    """Plain text safe inside Markdown and inside a table cell (newlines become ``<br>``)."""
    out = _SPECIAL.sub(r"\\\1", str(text))
    return out.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def code(text: Any, *, in_table: bool = True) -> str:
    """An inline code span that survives backticks in ``text``, and pipes inside a table cell.

    Backslashes are literal inside code spans, except that GFM reads ``\\|`` in a table cell as
    a pipe that does not end the cell; elsewhere a pipe is left alone."""
    body = " ".join(str(text).split())
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or longest else ""
    if in_table:
        body = body.replace("|", "\\|")
    return f"{fence}{pad}{body}{pad}{fence}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines


def _key_numbers(report: Report) -> list[list[str]]:
    return [[escape(label), escape(" ".join(text.split()))] for label, text in summary_rows(report)]


def _findings(report: Report) -> list[str]:
    fired = sorted_fired(report.findings)
    lines: list[str] = []
    if fired:
        rows = []
        for f in fired:
            body = f"**{escape(f.title)}**"
            if f.message:
                body += "<br>" + escape(f.message)
            rows.append([code(f.rule_id), f.severity, escape(f.category), body])
        lines += _table(["rule", "severity", "category", "finding"], rows)
    else:
        lines.append("No rule fired.")
    rest = [f for f in report.findings if f.status != "fired"]
    if rest:
        counts = {k: sum(1 for f in rest if f.status == k) for k in ("passed", "skipped", "not-applicable")}
        tally = ", ".join(f"{n} {k.replace('-', ' ')}" for k, n in counts.items() if n)
        summary = f"<details><summary>{len(rest)} rule{'' if len(rest) == 1 else 's'} did not fire ({tally})</summary>"
        lines += ["", summary, ""]
        for f in sorted(rest, key=lambda f: (("passed", "skipped", "not-applicable").index(f.status), f.rule_id)):
            line = f"- {code(f.rule_id, in_table=False)} {f.status} — {escape(f.title)}"
            if f.missing:
                line += " (missing: " + ", ".join(code(m, in_table=False) for m in f.missing) + ")"
            lines.append(line)
        lines += ["", "</details>"]
    return lines


def _change(r: Recommendation) -> str:
    return f"{escape(fmt(r.current))} → **{escape(fmt(r.value))}**"


def _range_unit(r: Recommendation) -> str:
    parts = []
    if r.range:
        parts.append(f"{escape(fmt(r.range[0]))}–{escape(fmt(r.range[1]))}")
    if r.unit:
        parts.append(escape(r.unit))
    return ", ".join(parts) or "—"


def _verified(r: Recommendation) -> str:
    v = r.verified
    if not v:
        return "not verified"
    verdict = "helps" if v.get("helps") else "does not help" if v.get("helps") is False else "measured"
    return (f"{verdict}: {v['difference']:+.3g} ± {v['uncertainty']:.2g} {escape(v['metric'])}, "
            f"{v['trials']} trials")


def _recommendations(report: Report) -> list[str]:
    if not report.recommendations:
        if report.verdict == "healthy":
            return ["No change recommended: nothing in this run calls for more or less regularization."]
        return ["No recommendation."]
    rows = []
    for r in report.recommendations:
        why = escape(r.reason)
        if r.note:
            why += "<br>_" + escape(r.note) + "_"
        snippet = getattr(r, "snippet", None)  # code to paste, where the rule gives one
        if snippet:
            why += "<br>" + code(snippet)
        rows.append([code(r.knob), _change(r), _range_unit(r), ", ".join(code(x) for x in r.rules),
                     r.confidence, _verified(r), why])
    lines = _table(["knob", "current → suggested", "range / unit", "rules", "confidence", "verified", "why"], rows)
    hint = unverified_hint(report)
    if hint is not None:
        lines += ["", "> " + hint]
    return lines


def _section(report: Report, level: int) -> list[str]:
    h = "#" * level
    source = relative_source(report.source)
    lines = [f"{h} regadvisor · {code(source, in_table=False)} ({escape(report.run.format)})", "",
             f"**Verdict: {report.verdict.upper()}** (confidence {report.verdict_confidence})", ""]
    lines += _table(["measure", "value"], _key_numbers(report))
    lines += ["", f"{h}# Findings", ""] + _findings(report)
    lines += ["", f"{h}# Recommendations", ""] + _recommendations(report)
    notes = report.run.warnings + [note_text(n) for n in report.notes]
    if notes:
        lines += ["", f"{h}# Notes", ""] + [f"- {escape(n)}" for n in notes]
    tool = report.tool
    lines += ["", (f"<sub>{escape(tool.get('name', 'regadvisor'))} {escape(tool.get('version', ''))}"
                   f" · rules {escape(tool.get('rules_digest', ''))}</sub>")]
    return lines


def _comparison(reports: list[Report]) -> list[str]:
    rows = []
    for label, r in zip(run_labels(reports), reports):
        s = r.signals
        worse = s.get("val_worsening_rel")
        rows.append([code(label), f"**{r.verdict}** ({r.verdict_confidence})",
                     escape(s.get("best_position") or "—"), fmt(s.get("best_value")),
                     "—" if worse is None else f"{worse:+.1%}", escape(gap_text(s, short=True)),
                     escape(changes(r) or "—")])
    return _table(["run", "verdict", "best at", "best", "end vs best", "gap", "recommendations"], rows)


def render(reports: Report | list[Report]) -> str:
    """One report as a Markdown section; several as a comparison table and a section per run."""
    if isinstance(reports, Report):
        reports = [reports]
    if len(reports) == 1:
        lines = _section(reports[0], 2)
    else:
        lines = [f"## regadvisor · {len(reports)} runs", ""] + _comparison(reports)
        for report in reports:
            lines += [""] + _section(report, 3)
    return "\n".join(lines) + "\n"
