"""Small helpers shared by the CI-facing renderers (Markdown, SARIF, GitHub, JUnit).

Findings carry a rule's id, title, category and evidence but not its ``name`` or
``description``; renderers that want those (SARIF's rule metadata, JUnit's test names) take the
rules that were evaluated as an optional argument and fall back to what the finding has.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

RuleSpecs = Mapping[str, Mapping[str, Any]]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def rule_specs(rules: Any = None) -> dict[str, Mapping[str, Any]]:
    """Rule id → its YAML spec, from a ``RuleSet``, an iterable of ``Rule``, or a mapping."""
    if rules is None:
        return {}
    if isinstance(rules, Mapping):
        return dict(rules)
    items: Iterable[Any] = getattr(rules, "rules", rules)
    return {rule.id: rule.spec for rule in items}


def rule_name(specs: RuleSpecs, rule_id: str, fallback: str) -> str:
    spec = specs.get(rule_id)
    return str(spec.get("name", fallback)) if spec else fallback


def is_url(source: str) -> bool:
    return "://" in source


def relative_source(source: str, base: str | Path | None = None) -> str:
    """``source`` as a forward-slash path relative to ``base`` (default: the working directory)
    when it lies under it; otherwise as given. Keeps reports independent of the checkout path."""
    if is_url(source):
        return source
    path = Path(source)
    if path.is_absolute():
        root = Path(base) if base is not None else Path.cwd()
        try:
            path = path.relative_to(root)
        except ValueError:
            try:
                path = path.resolve().relative_to(root.resolve())
            except (ValueError, OSError):
                return path.as_posix()
    text = os.path.normpath(str(path))
    return PurePosixPath(*Path(text).parts).as_posix() if text != "." else "."


def sorted_fired(findings: list[Any]) -> list[Any]:
    """Fired findings, most severe first, then by rule id (the terminal report's order)."""
    fired = [f for f in findings if f.status == "fired"]
    return sorted(fired, key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), f.rule_id))
