"""Every package regadvisor imports is declared in pyproject.toml, for the Python it is imported on.

Python 3.10 has no ``tomllib``; ``regadvisor.config`` imports ``tomli`` there, so ``tomli`` must
be a dependency with the marker ``python_version < '3.11'``. Imports inside ``try: ... except
ImportError`` are optional speed-ups or fallbacks and need no declaration.
"""

from __future__ import annotations

import ast
import sys

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

DISTRIBUTIONS = {"yaml": "pyyaml", "pytorch_lightning": "lightning"}  # import name → distribution


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _guarded(tree: ast.AST) -> set[int]:
    """Ids of the import nodes inside a ``try`` that handles ImportError."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                h.type is None or any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
                                      for n in ast.walk(h.type)) for h in node.handlers):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _imports() -> set[str]:
    """Distribution names of the unguarded third-party imports in regadvisor/."""
    names = set()
    for path in (ROOT / "regadvisor").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {DISTRIBUTIONS.get(n, n) for n in names if n not in sys.stdlib_module_names and n != "regadvisor"}


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def test_tomli_is_declared_for_python_3_10_only():
    (tomli,) = [Requirement(r) for r in _project()["dependencies"] if Requirement(r).name == "tomli"]
    assert tomli.marker is not None
    assert tomli.marker.evaluate({"python_version": "3.10"}) and not tomli.marker.evaluate({"python_version": "3.11"})


def test_every_import_is_a_dependency_or_in_an_extra():
    project = _project()
    declared = _names(project["dependencies"]) | {n for reqs in project["optional-dependencies"].values()
                                                  for n in _names(reqs)}
    assert "tomli" in _imports()  # the check sees conditional imports
    assert _imports() <= declared, _imports() - declared


def test_all_extra_holds_every_user_extra():
    extras = _project()["optional-dependencies"]
    (everything,) = [Requirement(r) for r in extras["all"]]
    assert everything.name == "regadvisor"
    assert everything.extras == set(extras) - {"all", "test"}
