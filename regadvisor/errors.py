"""Typed errors for everything a user can get wrong.

Every failure that is the user's to fix (a log that cannot be read, a broken rule file, a bad
option, a script that raises) is a :class:`UserError`. The CLI prints its one-line message and
exits with code 2 (the exit code for unusable input); the Python API lets it propagate.
"""

from __future__ import annotations

from pathlib import Path

from .sanitise import sanitise


class UserError(Exception):
    """An input, rule file, config or script that could not be used.

    ``source`` names the file or option at fault and ``hint`` says what to do about it; both
    are part of the message so that the one line the CLI prints is enough to act on.
    """

    exit_code = 2
    multiline = False  # a ScriptError quotes the user's traceback, one frame a line

    def __init__(self, message: str, *, source: str | Path | None = None, hint: str | None = None):
        self.source = str(source) if source is not None else None
        self.hint = hint
        self.detail = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        """The message the CLI prints; text that came from a log or a server is escaped here
        (:func:`~regadvisor.sanitise.sanitise`), so an error line cannot carry terminal codes."""
        detail = sanitise(self.detail, keep_newlines=self.multiline)
        text = f"{sanitise(self.source)}: {detail}" if self.source else detail
        if self.hint:
            text += f" ({sanitise(self.hint)})"
        return text


class LogReadError(UserError):
    """A training log that is missing, empty, truncated, binary or of an unknown layout."""


class RuleError(UserError):
    """A rule file or rule folder that does not follow the rule schema."""


class ConfigError(UserError):
    """A command-line option or ``[tool.regadvisor]`` setting that cannot be used."""


class ScriptError(UserError):
    """A probe script that is missing a required function, fails to import or raises."""

    multiline = True
