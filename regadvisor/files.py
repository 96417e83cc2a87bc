"""Opening what a user points regadvisor at, without hanging and without reading without bound.

A named pipe given as a log (or lying in a searched folder) blocks ``open()`` until a writer
appears, and a character device such as ``/dev/zero`` never ends: both would hang a CI job, so
only regular files are read. The file is opened non-blocking and checked with ``fstat`` on the
open descriptor, so a FIFO is refused without waiting and nothing can swap the file between the
check and the read. Small side files (YAML, JSON, MLflow params) are read whole, up to a cap,
so a huge or endless one costs a clear error instead of all the memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import LogReadError, UserError

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_SPECIAL_HINT = "regadvisor reads regular files only; save what it carries to a file and pass that"


def is_uri(source: str | Path) -> bool:
    """Whether ``source`` is a URI (``mlflow://...``, ``https://...``) rather than a file, folder
    or address: nothing here opens it."""
    return "://" in str(source)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def refuse_special(path: str | Path, mode: int, error: type[UserError] = LogReadError) -> None:
    """Raise ``error`` unless ``mode`` (from ``os.stat``) is a regular file or a folder."""
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise error(f"is {_kind(mode)}, not a file", source=path, hint=_SPECIAL_HINT)


def regular_fd(path: str | Path, error: type[UserError] = LogReadError) -> int:
    """A descriptor open for reading on ``path``, or ``error`` when it cannot be opened or is not
    a regular file (a folder, FIFO, device or socket). The caller closes it."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise error(f"could not be opened: {exc.strerror or exc}", source=path,
                    hint="check the path and its permissions") from None
    except ValueError:  # an embedded NUL byte
        raise error("is not a usable path (it contains a NUL byte)", source=repr(str(path))) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"is {_kind(mode)}, not a file", source=path, hint=_SPECIAL_HINT)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str | Path, error: type[UserError] = LogReadError) -> BinaryIO:
    """``path`` opened for buffered binary reading (see :func:`regular_fd`)."""
    return os.fdopen(regular_fd(path, error), "rb")


def read_capped(path: str | Path, limit: int, what: str, error: type[UserError] = LogReadError) -> bytes:
    """The whole of a small file, refused with ``error`` when it is larger than ``limit`` bytes
    (``what`` says what the file should be, for the message)."""
    too_large = error(f"is larger than {limit / 2**20:g} MiB, too large for {what}", source=path,
                      hint="pass the file the tool wrote, not a concatenation or another file")
    with open_regular(path, error) as f:
        if os.fstat(f.fileno()).st_size > limit:
            raise too_large
        try:
            data = f.read(limit + 1)  # (the file may have grown since)
        except OSError as exc:
            raise error(f"could not be read: {exc.strerror or exc}", source=path) from None
    if len(data) > limit:
        raise too_large
    return data
