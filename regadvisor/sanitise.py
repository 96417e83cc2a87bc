"""Text from a log made safe to show, once, before it reaches any renderer or error line.

A metric name, an MLflow param or a file name is whatever bytes the log holds. Shown as it is,
an ``ESC [`` or ``ESC ]`` sequence recolours or retitles the user's terminal (or hides text from
them), a carriage return overwrites the line a CI log shows, and a C0 control character makes
the JUnit report ill-formed XML (XML 1.0 allows only TAB, LF and CR below U+0020:
https://www.w3.org/TR/xml/#charsets). A lone surrogate (JSON can spell one: ``"\\ud800"``)
cannot be encoded as UTF-8, so writing it to stdout raises. Bidirectional overrides make text
display in an order other than the one it is read in (CVE-2021-42574, "Trojan Source").

:func:`sanitise` replaces each such character by its Python escape (``\\x1b``, ``\\u202e``):
visible, unambiguous, and plain ASCII. :class:`~regadvisor.model.Run` applies it to everything
a reader hands over and :class:`~regadvisor.errors.UserError` to every message, so renderers
never see raw control text.
"""

from __future__ import annotations

import re
from typing import Any

_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069"
_UNSAFE_LINE = re.compile(f"[\n{_UNSAFE}]")  # one-line text: a newline is escaped as well
_UNSAFE_TEXT = re.compile(f"[{_UNSAFE}]")  # multi-line text (a traceback excerpt) keeps its newlines
_MAX_DEPTH = 8


def _escape(match: re.Match) -> str:
    return ascii(match.group())[1:-1]


def sanitise(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, surrogate, XML-invalid or bidi-override character escaped.

    TAB is kept (harmless everywhere); LF is kept only with ``keep_newlines``. Text without
    such characters is returned as it is, so the common case costs one regex scan.
    """
    pattern = _UNSAFE_TEXT if keep_newlines else _UNSAFE_LINE
    return pattern.sub(_escape, text) if pattern.search(text) else text


def sanitise_value(value: Any, depth: int = 0) -> Any:
    """A fact's value with its text sanitised: strings, and the keys and items of mappings and
    lists (``depth`` levels deep; facts are flat, the bound keeps a hostile one cheap)."""
    if isinstance(value, str):
        return sanitise(value)
    if isinstance(value, bytes):
        return sanitise(value.decode("utf-8", "replace"))
    if depth >= _MAX_DEPTH:
        return value if isinstance(value, (int, float, bool)) or value is None else "…"
    if isinstance(value, dict):
        return {sanitise_value(k, depth + 1): sanitise_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [sanitise_value(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value
