"""Small helpers shared by the CI-facing renderers (Markdown, SARIF, GitHub, JUnit)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


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
