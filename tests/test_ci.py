"""`.ci/run` does what the README's development section tells a contributor to do, nothing else."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_commands():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = script[script.index('cd "$(dirname "$0")/.."') + 1:]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("Set up a development environment"):]
    start = section.index("```bash\n") + len("```bash\n")
    block = section[start:section.index("\n```", start)]
    assert commands == block.splitlines()
    assert any("ruff check regadvisor" in c and "mypy regadvisor" in c and "pytest" in c for c in commands)


def test_the_linters_are_configured_and_installed_by_the_test_extra():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["ruff"]["lint"]["mccabe"]["max-complexity"] <= 15
    assert "C90" in project["tool"]["ruff"]["lint"]["select"]
    test_extra = " ".join(project["project"]["optional-dependencies"]["test"])
    assert "ruff" in test_extra and "mypy" in test_extra
