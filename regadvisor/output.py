"""Writing the files regadvisor produces (reports, plots, search spaces, sidecar facts).

Every write goes through :func:`write_atomic`: the text lands in a temporary file beside the
target and is renamed over it (``os.replace`` is atomic on POSIX and Windows), so a failed or
interrupted run never leaves a half-written report where a CI step expects a whole one.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


def write_atomic(path: str | Path, data: str | bytes, *, what: str = "the file") -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; a failure is a :class:`ConfigError`
    naming ``path`` and ``what`` was being written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {what}: {exc.strerror or exc}", source=path) from None
