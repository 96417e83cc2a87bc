"""Settings from ``[tool.regadvisor]`` in ``pyproject.toml``, merged under command-line options.

The nearest ``pyproject.toml`` at or above the working directory is used. Recognised keys::

    [tool.regadvisor]
    rules = ["ci/rules"]            # extra rule folders, relative to the pyproject.toml
    select = ["overfitting"]        # rule ids, names or categories
    ignore = ["DV003"]
    fail-on = "warning"             # info | warning | error | never
    metrics = { val_acc = "my_val_accuracy" }

    [tool.regadvisor.params]        # rule parameters
    OF003 = { min_gap = 0.12 }
    "OF001.min_worsening" = 0.08

Unknown keys are errors: a typo in a CI gate must not pass silently.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FAIL_ON = ("info", "warning", "error", "never")
_KNOWN = {"rules", "select", "ignore", "fail-on", "metrics", "params", "check"}


@dataclass
class Settings:
    """Project settings; every field also has a command-line option that overrides it."""

    source: Path | None = None
    rules: list[Path] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    fail_on: str | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _strings(value: Any, key: str, source: Path) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"[tool.regadvisor] {key} must be a string or a list of strings", source=source)


def load_settings(path: Path | None = None) -> Settings:
    """Read ``[tool.regadvisor]`` from ``path`` or the nearest pyproject.toml (empty if none)."""
    path = path or find_pyproject()
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=path) from None
    table = data.get("tool", {}).get("regadvisor")
    if table is None:
        return Settings()
    if not isinstance(table, dict):
        raise ConfigError("[tool.regadvisor] must be a table", source=path)
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        raise ConfigError(f"unknown key(s) in [tool.regadvisor]: {', '.join(unknown)}", source=path,
                          hint=f"known keys: {', '.join(sorted(_KNOWN))}")
    settings = Settings(source=path)
    settings.rules = [(path.parent / p) for p in _strings(table.get("rules", []), "rules", path)]
    settings.select = _strings(table.get("select", []), "select", path)
    settings.ignore = _strings(table.get("ignore", []), "ignore", path)
    fail_on = table.get("fail-on")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise ConfigError(f"fail-on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}", source=path)
    settings.fail_on = fail_on
    for key in ("metrics", "params", "check"):
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[tool.regadvisor] {key} must be a table", source=path)
        setattr(settings, key, dict(value))
    return settings
