"""Validate rule files against ``rule.schema.json``, the one definition of the rule format
(and bibliographies against ``bibliography.schema.json``).

The schema file is the source of truth; this module interprets the small subset of JSON
Schema it uses (``type``, ``properties``, ``required``, ``additionalProperties``, ``enum``,
``items``, ``minItems``/``maxItems``, ``minProperties``, ``minLength``, ``pattern``, ``anyOf``,
local ``$ref``). We do not call the ``jsonschema`` package at run time: importing it costs
about 120 ms (measured with ``python -X importtime -c "import jsonschema"``: 122,610 µs on the
2-core reference machine), more than typer and rich together, and every ``diagnose`` loads the
rules. The test suite keeps ``jsonschema`` as the oracle: every bundled rule and every broken
example must get the same verdict from both.

Errors name the field by its path (``when.all[1].op``) so that a user can find it in the file.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("rule.schema.json")
BIBLIOGRAPHY_SCHEMA_PATH = Path(__file__).with_name("bibliography.schema.json")

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


@lru_cache(maxsize=2)
def _parsed(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def rule_schema() -> dict[str, Any]:
    """The parsed rule schema."""
    return _parsed(SCHEMA_PATH)


def bibliography_schema() -> dict[str, Any]:
    """The parsed schema of a bibliography file (the sources rules cite by key)."""
    return _parsed(BIBLIOGRAPHY_SCHEMA_PATH)


def validate(document: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every way ``document`` breaks the rule schema, as ``path: problem`` strings (empty if valid)."""
    root = schema or rule_schema()
    errors: list[str] = []
    _check(document, root, root, "", errors)
    return errors


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, got {ref}")
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _where(path: str) -> str:
    return path or "(top level)"


def _check(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str, errors: list[str]) -> None:
    """Append to ``errors`` every way ``value`` (at ``path``) breaks ``schema``."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        errors.extend(_any_of(value, schema["anyOf"], root, path))
        return
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_TYPES[n](value) for n in names):
            errors.append(f"{_where(path)}: expected {' or '.join(names)}, got {type(value).__name__} {value!r:.60}")
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{_where(path)}: {value!r} is not one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        _check_string(value, schema, path, errors)
    elif isinstance(value, list):
        _check_array(value, schema, root, path, errors)
    elif isinstance(value, dict):
        _check_object(value, schema, root, path, errors)


def _any_of(value: Any, branches: list[dict[str, Any]], root: dict[str, Any], path: str) -> list[str]:
    """No errors when a branch accepts ``value``; else the errors of the branch that got furthest:
    the one whose first error is deepest, which is the branch the author evidently meant (e.g. a
    leaf with a bad ``op``)."""
    branch_errors: list[list[str]] = []
    for branch in branches:
        found: list[str] = []
        _check(value, branch, root, path, found)
        if not found:
            return []
        branch_errors.append(found)
    return max(branch_errors, key=lambda errs: (errs[0].count(".") + errs[0].count("["), -len(errs)))


def _check_string(value: str, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    if len(value) < schema.get("minLength", 0):
        errors.append(f"{_where(path)}: must not be empty")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{_where(path)}: {value!r} does not match {schema['pattern']}")


def _check_array(value: list[Any], schema: dict[str, Any], root: dict[str, Any], path: str, errors: list[str]) -> None:
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{_where(path)}: needs at least {schema['minItems']} item(s)")
    if len(value) > schema.get("maxItems", len(value)):
        errors.append(f"{_where(path)}: takes at most {schema['maxItems']} item(s)")
    if "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], root, f"{path}[{i}]", errors)


def _check_object(value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str,
                  errors: list[str]) -> None:
    for key in schema.get("required", []):
        if key not in value:
            errors.append(f"{_where(path)}: missing required field {key!r}")
    if len(value) < schema.get("minProperties", 0):
        errors.append(f"{_where(path)}: needs at least {schema['minProperties']} entr(y/ies)")
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = f"{path}.{key}" if path else str(key)
        if key in props:
            _check(item, props[key], root, sub, errors)
        elif extra is False:
            allowed = ", ".join(props) if props else "none"
            errors.append(f"{sub}: unknown field (allowed here: {allowed})")
        elif isinstance(extra, dict):
            _check(item, extra, root, sub, errors)
