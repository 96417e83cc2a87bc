"""``regadvisor rules show``: one rule in plain text, from its YAML."""

from __future__ import annotations

import textwrap

from ..engine.loader import Rule


def _condition(node: dict, depth: int = 0) -> list[str]:
    pad = "  " * depth
    for key in ("all", "any"):
        if key in node:
            lines = [f"{pad}{key} of:"]
            for child in node[key]:
                lines += _condition(child, depth + 1)
            return lines
    if "not" in node:
        return [f"{pad}not:"] + _condition(node["not"], depth + 1)
    operand = f"param {node['param']}" if "param" in node else repr(node.get("value", ""))
    return [f"{pad}{node['signal']} {node['op']} {operand}".rstrip()]


def render_rule(rule: Rule) -> str:
    """Id, title, description, condition, parameters, recommendations and evidence."""
    s = rule.spec
    out = [f"{rule.id} {rule.name} — {s['title']}",
           f"category {s['category']}, severity {s['severity']}, confidence {s['confidence']}"
           + (f", verdict {s['verdict']}" if s.get("verdict") else ""),
           f"file {rule.path}", "", textwrap.fill(" ".join(s["description"].split()), 96), ""]
    if s.get("requires"):
        out.append("requires: " + ", ".join(s["requires"]))
    if "applies_if" in s:
        out += ["applies if:"] + ["  " + line for line in _condition(s["applies_if"])]
    out += ["fires when:"] + ["  " + line for line in _condition(s["when"])]
    if s.get("params"):
        out += ["", "parameters:"]
        for name, p in s["params"].items():
            out.append(f"  {name} = {p['default']!r}  — {p['doc']} [{p['evidence']}]")
    if s.get("recommend"):
        out += ["", "recommends:"]
        for rec in s["recommend"]:
            value = rec["value"]
            value = f"<{next(iter(value.values()))}>" if isinstance(value, dict) else repr(value)
            rng = f" in {rec['range']}" if "range" in rec else ""
            out.append(f"  {rec['knob']} = {value}{rng} [{', '.join(rec['evidence'])}]")
    out += ["", "evidence:"]
    for key, ev in rule.evidence.items():
        loc = f", {ev['locator']}" if ev.get("locator") else ""
        out.append(f"  [{key}] ({ev['kind']}) {ev['citation']}{loc}")
        out.append(textwrap.fill(ev["claim"], 96, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(out) + "\n"
