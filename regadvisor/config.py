"""Settings from ``.regadvisor.yaml`` or ``[tool.regadvisor]`` in ``pyproject.toml``.

The nearest of the two at or above the working directory is used (``.regadvisor.yaml`` first
within one folder; a ``pyproject.toml`` without a ``[tool.regadvisor]`` table is passed over).
Command-line options override it. Recognised keys (the YAML file takes the same ones)::

    [tool.regadvisor]
    rules = ["ci/rules"]            # extra rule folders, relative to the pyproject.toml
    select = ["overfitting"]        # rule ids, names or categories
    ignore = ["DV003"]
    fail-on = "warning"             # info | warning | error | never
    metrics = { val_acc = "my_val_accuracy" }

    [tool.regadvisor.params]        # rule parameters
    OF003 = { min_gap = 0.12 }
    "OF001.min_worsening" = 0.08

    [tool.regadvisor.check]         # CI gates for `regadvisor check` (see regadvisor.gates)
    max-acc-gap = 0.05

Unknown keys are errors: a typo in a CI gate must not pass silently.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .files import read_capped
from .model import FAIL_ON
from .safe_yaml import MAX_BYTES, load_yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

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


YAML_NAMES = (".regadvisor.yaml", ".regadvisor.yml")


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``.regadvisor.yaml`` or regadvisor-configured ``pyproject.toml`` at or above ``start``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in YAML_NAMES:
            if (folder / name).is_file():
                return folder / name
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _table(candidate) is not None:
            return candidate
    return None


def _is_yaml(path: Path) -> bool:
    return path.name in YAML_NAMES or path.suffix in (".yaml", ".yml")


def _table(path: Path) -> Any:
    """The regadvisor table of a config file (``None`` when a pyproject.toml has none)."""
    try:
        text = read_capped(path, MAX_BYTES, "a config file", ConfigError).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read: {exc}", source=path) from None
    if _is_yaml(path):
        data = load_yaml(text, path, ConfigError)
        return {} if data is None else data
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=path) from None
    return data.get("tool", {}).get("regadvisor")


def _strings(value: Any, key: str, source: Path) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"[tool.regadvisor] {key} must be a string or a list of strings", source=source)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read settings from ``path`` (``--config``), else from the nearest config file (empty
    settings if there is none). A ``path`` given explicitly must exist and hold settings."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError("no such settings file", source=path,
                              hint="pass a .regadvisor.yaml or a pyproject.toml with [tool.regadvisor]")
    else:
        path = find_config()
        if path is None:
            return Settings()
    table = _table(path)
    if table is None:
        raise ConfigError("has no [tool.regadvisor] table", source=path)
    if not isinstance(table, dict):
        raise ConfigError("the regadvisor settings must be a table/mapping", source=path)
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
