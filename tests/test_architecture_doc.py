"""docs/ARCHITECTURE.md stays true to the code, and the project cites only files it has."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def _home(obj: object) -> object:
    """Where a bare name after ``obj`` is looked up: ``obj`` itself for a module or class, else its module."""
    if isinstance(obj, type) or inspect.ismodule(obj):
        return obj
    function = obj.fget if isinstance(obj, property) else obj
    return importlib.import_module(function.__module__)


def _resolve(name: str, context: object) -> object:
    """``a.b.c`` from the ``regadvisor`` package (modules, then attributes); a bare name from the
    module or class named just before it in the text, else from ``regadvisor.model``."""
    parts = name.split(".")
    if len(parts) == 1:
        for place in (context, inspect.getmodule(context), importlib.import_module("regadvisor.model")):
            if hasattr(place, name):
                return getattr(place, name)
        raise AttributeError(f"{name} is neither in {context!r} nor in regadvisor.model")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(["regadvisor", *parts[:cut]]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    return _resolve(parts[-1], _resolve(".".join(parts[:-1]), context))


def test_every_function_the_walkthrough_names_exists():
    pytest.importorskip("torch")  # the probe's entrance is named too
    text = DOC.read_text(encoding="utf-8")
    walk = text[text.index("## One log, from file to report"):text.index("## Interfaces that are fixed")]
    names = re.findall(r"\*\*`([A-Za-z_][\w.]*)`\*\*", walk)
    assert len(names) > 30
    context: object = importlib.import_module("regadvisor")
    for name in names:
        try:
            obj = _resolve(name, context)
        except AttributeError as exc:
            raise AssertionError(f"ARCHITECTURE.md names {name!r}, which the code does not have ({exc})") from None
        context = _home(obj)


def test_the_knob_table_is_the_code_s():
    from regadvisor.model import KNOBS

    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("| knob | value | meaning |"):]
    assert re.findall(r"^\| `(\w+)` \|", table, flags=re.M)[: len(KNOBS)] == list(KNOBS)


def test_the_project_cites_no_file_outside_itself():
    cited = []
    for folder in ("regadvisor", "rules", "docs", "examples", "benchmarks", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".md", ".yaml", ".yml", ".json", ".toml", ""):
                text = path.read_text(encoding="utf-8", errors="replace")
                if "DESIGN.md" in text or "../shared" in text:
                    cited.append(str(path.relative_to(ROOT)))
    for name in ("README.md", "pyproject.toml"):
        if "DESIGN.md" in (ROOT / name).read_text(encoding="utf-8"):
            cited.append(name)
    assert cited == []
