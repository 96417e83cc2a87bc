"""Terminal rendering of ``regadvisor explain``: prose, rule values with sources, highlighted code."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.markdown import Markdown
from rich.padding import Padding
from rich.syntax import Syntax
from rich.text import Text

from ..explain import Explanation
from ..signals.probe_signals import SIGNAL_VALUES
from ._common import fmt

# Sphinx cross-reference roles (:func:`name`, :class:`~a.B`) read as plain code in a terminal.
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc):`~?([^`]+)`")


def plain_roles(text: str) -> str:
    """Docstring text with Sphinx roles turned into Markdown code spans."""
    return _ROLE.sub(r"`\1`", text)


def render_topics(topics: dict[str, str]) -> str:
    """The list a bare ``regadvisor explain`` prints: each topic and what it covers."""
    width = max(map(len, topics), default=0)
    lines = ["Topics (regadvisor explain TOPIC; knob names such as weight_decay work too):"]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in topics.items()]
    return "\n".join(lines) + "\n"


def render(exp: Explanation, *, color: bool = False, width: int = 80) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False)
    console.print(Text(exp.topic, style="bold underline"))
    console.print(Markdown(plain_roles(exp.summary)))
    console.print()
    console.print(Text("What regadvisor's rules recommend", style="bold"))
    if not exp.values:
        console.print(Text("  No bundled rule recommends this directly; see the reference docstring above.",
                           style="dim"))
    for v in exp.values:
        rng = f" (range {fmt(v.range[0])}–{fmt(v.range[1])})" if v.range and not isinstance(v.range[0], dict) else ""
        value = fmt(v.value)
        if isinstance(v.value, dict):
            choices = SIGNAL_VALUES.get(str(v.value.get("signal")), ())
            value = f"{' or '.join(choices)}, chosen from your run" if choices else "derived from your run"
        console.print(Padding(Text(f"{v.rule_id} {v.title}: {v.knob} = {value}{rng}"), (0, 0, 0, 2)))
        for ev in v.evidence:
            loc = f", {ev['locator']}" if ev.get("locator") else ""
            source = Text(f"[{ev['kind']}] {ev['citation']}{loc} — {ev['claim']}", style="dim")
            console.print(Padding(source, (0, 0, 0, 6)))
    for block in exp.sources:
        console.print()
        console.print(Text(f"{block.name}  ({block.path.name}:{block.line})", style="bold"))
        console.print(Syntax(block.code, "python", theme="ansi_dark" if color else "bw",
                             line_numbers=True, start_line=block.line, word_wrap=True))
    return buffer.getvalue()
