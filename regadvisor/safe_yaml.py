"""YAML from users' files (rule files, ``.regadvisor.yaml``, ``hparams.yaml``, MLflow ``meta.yaml``,
W&B ``config.yaml``) loaded as data, with every way it can fail as one clear line.

``SafeLoader`` never runs code, but it is not enough on its own:

* a tag whose value does not parse raises a plain Python error, not a ``YAMLError``
  (``!!timestamp 'nope'``: AttributeError; ``2020-13-45``: ValueError; an integer of more
  than 4,300 digits: ValueError from CPython's int-to-str limit);
* aliases make a graph: an 871-byte "billion laughs" file expands to 10^9 values for whoever
  walks it, and an anchor that contains itself is an infinite structure;
* deep nesting exhausts the recursion limit, and PyYAML's messages span several lines.

:func:`load_yaml` turns all of these into ``error`` (the caller's :class:`UserError` type) with
the line and column where PyYAML knows them, and refuses documents that expand beyond
``MAX_VALUES`` values or ``MAX_DEPTH`` levels; the walk that checks this is iterative and
visits each shared node once, so checking a bomb costs as little as the file is long.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UserError
from .files import read_capped

MAX_BYTES = 8 << 20
"""Rule files, configs and sidecars are kilobytes; W&B's ``config.yaml`` of a large sweep is
tens of kilobytes."""
MAX_VALUES = 200_000
"""Values a document may hold once aliases are expanded (a large W&B config holds a few thousand)."""
MAX_DEPTH = 64
"""Nesting levels; configs nest a handful deep."""


def _one_line(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).split("\n", 1)[0]
    return f"invalid YAML{where}: {problem}"


_CONTAINERS = (dict, list, tuple, set, frozenset)


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    return list(node)


def _check_shape(data: Any) -> str | None:
    """Why ``data`` is too big, too deep or cyclic once aliases are followed, or None."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)] if isinstance(data, _CONTAINERS) else []
    while stack:
        node, depth, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            size[key] = 1 + sum(size.get(id(c), 1) for c in _children(node))
            if size[key] > MAX_VALUES:
                return f"the YAML document expands to more than {MAX_VALUES:,} values (aliases repeating an anchor)"
            continue
        if key in size:
            continue
        if key in on_path:
            return "the YAML document has an anchor that contains itself (a cyclic alias)"
        if depth > MAX_DEPTH:
            return f"the YAML document is nested more than {MAX_DEPTH} levels deep"
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(node) if isinstance(c, _CONTAINERS))
    return None


def load_yaml(text: str, source: str | Path, error: type[UserError]) -> Any:
    """Parse ``text`` as YAML data (safe tags only), raising ``error`` naming ``source`` on any failure.

    yaml is imported here, not at module import: it costs ~40 ms of start-up that a run which
    reads no YAML should not pay.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise error(_one_line(exc), source=source, hint="fix the YAML syntax") from None
    except RecursionError:
        raise error(f"invalid YAML: nested too deeply (more than {MAX_DEPTH} levels are refused)",
                    source=source, hint="fix or remove the file") from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # A tagged value PyYAML could not build (!!timestamp 'nope', a 5,000-digit integer).
        raise error(f"invalid YAML: a typed value does not parse ({exc.__class__.__name__}: {exc})",
                    source=source, hint="fix the value, or quote it to keep it as text") from None
    problem = _check_shape(data)
    if problem:
        raise error(problem, source=source, hint="fix or remove the file")
    return data


def read_yaml(path: str | Path, error: type[UserError], *, limit: int = MAX_BYTES) -> Any:
    """Read and parse a YAML file (a regular file of at most ``limit`` bytes, UTF-8)."""
    raw = read_capped(path, limit, "a YAML file", error)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"is not UTF-8 text (byte {exc.start})", source=path, hint="re-save it as UTF-8") from None
    return load_yaml(text, path, error)
