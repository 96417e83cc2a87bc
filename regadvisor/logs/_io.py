"""What the text-based readers share: opening a log, and the failures a user can fix.

Every text-based reader goes through here, so an empty file, a binary file, a non-UTF-8 file,
broken JSON, an unreadable path or a log with no loss/accuracy metric produce the same clear
:class:`LogReadError` whichever format was asked for. The names that mark a step, an epoch or
bookkeeping column are here too, so the CSV and JSON readers agree on them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ..errors import LogReadError
from ..files import open_regular, read_capped, regular_fd

HEAD_BYTES = 64 * 1024
"""How much of a file sniffing looks at: enough for a header and a few hundred lines."""
MAX_LINE_BYTES = 4 << 20
"""The longest line a text log may have. Log lines are at most a few kilobytes (a CSV row of a
few hundred metrics, a printed dict); a longer one is binary data or a file without line ends,
and reading it whole would cost several times its size in memory (a 500 MB line: 7.9 GB)."""
MAX_JSON_BYTES = 128 << 20
"""The largest JSON dump read whole (a ``trainer_state.json`` of 100,000 logging steps is ~15 MB)."""
_READ_CHUNK = 1 << 20

# What a column or key named so holds, for the tabular readers (CSV family, JSON, JSONL).
STEP_NAMES = frozenset({"step", "steps", "global_step", "_step", "trainer/global_step", "trainer_global_step",
                        "iteration", "iter", "it", "episode"})
EPOCH_NAMES = frozenset({"epoch", "epochs"})
# Wall-clock and bookkeeping: numbers, but not evidence about learning.
BOOKKEEPING_NAMES = frozenset({"time", "timestamp", "_timestamp", "wall_time", "walltime", "datetime", "date",
                               "created_at", "runtime", "_runtime", "v_num"})


def json_number(value: Any) -> float | None:
    """A JSON value as a metric value: numbers only (``true`` is not 1.0, ``"0.5"`` is not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of ``path`` (an unreadable path, a FIFO or a device is the
    user's to fix: see :func:`regadvisor.files.regular_fd`)."""
    with open_regular(path) as f:
        try:
            return f.read(size)
        except OSError as exc:
            raise LogReadError(f"could not be read: {exc.strerror or exc}", source=path,
                               hint="check the path and its permissions") from None


def head_text(head: bytes) -> str | None:
    """``head`` decoded as UTF-8, or None when it is binary or another encoding.

    A multi-byte character cut at the end of the window is not an error, so the last
    (possibly partial) line is dropped when the window is full.
    """
    if b"\x00" in head:
        return None
    if len(head) >= HEAD_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def require_content(path: Path, head: bytes) -> None:
    """An empty (or blank) file is a run that has not logged yet, whatever its format."""
    if not head.strip():
        raise LogReadError("is empty", source=path,
                           hint="the run has not logged anything yet; pass a log that has data")


def check_text(path: Path) -> None:
    """Refuse early, with a precise reason, a file no text reader can use."""
    head = read_head(path)
    require_content(path, head)
    if b"\x00" in head:
        raise LogReadError("is a binary file, not a text log", source=path,
                           hint="pass the CSV/JSON/text log, or --log-format for a binary format")
    if head_text(head) is None:
        raise LogReadError("is not UTF-8 text", source=path, hint="re-save it as UTF-8")


class _LineBoundedReader(io.RawIOBase):
    """A file that refuses, as it is read, a line longer than ``MAX_LINE_BYTES``.

    ``TextIOWrapper`` and :mod:`csv` hold a line whole however long it is, so the bound has to
    be checked below them, where each 1 MiB chunk is scanned for line ends in C. The price,
    measured on the 1,000,000-row CSV of ``benchmarks/bench_diagnose.py``: 0.04 s of CPU (about
    8% of ``read_log``), because ``TextIOWrapper`` takes its fast path only over a plain
    ``FileIO``; a Python generator checking each line, or ``readline(limit)`` per line, costs
    as much or more.
    """

    def __init__(self, fd: int, path: Path):
        super().__init__()
        self._file = io.FileIO(fd, "rb")
        self._path = path
        self._run = 0  # bytes since the last line end
        self._lines = 0  # line ends (LF) before the current chunk

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
        super().close()

    def readinto(self, buffer) -> int:
        n = self._file.readinto(buffer)
        if not n:
            return n
        chunk = bytes(memoryview(buffer)[:n])
        ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
        longest = self._run + (min(ends) if ends else n)  # the line this chunk continues
        if longest > MAX_LINE_BYTES:
            raise LogReadError(f"line {self._lines + 1} is longer than {MAX_LINE_BYTES >> 20} MiB, "
                               "which no training log writes", source=self._path,
                               hint="pass the log itself; this looks like binary data or a file without line ends")
        self._run = n - 1 - max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) if ends else longest
        self._lines += chunk.count(b"\n")
        return n


@contextmanager
def open_text(path: Path, errors: str = "strict") -> Iterator[TextIO]:
    """Open ``path`` for streaming as UTF-8 (a BOM is skipped): a regular file whose lines are
    at most ``MAX_LINE_BYTES``; decoding errors (unless ``errors`` replaces them) become LogReadError."""
    raw = _LineBoundedReader(regular_fd(path), path)
    try:
        with io.TextIOWrapper(io.BufferedReader(raw, _READ_CHUNK), encoding="utf-8-sig", errors=errors,
                              newline="") as f:
            yield f
    except UnicodeDecodeError as exc:
        raise LogReadError(f"is not UTF-8 text (found byte {exc.object[exc.start:exc.start + 1]!r})",
                           source=path, hint="re-save it as UTF-8") from None
    except OSError as exc:
        raise LogReadError(f"could not be read: {exc.strerror or exc}", source=path,
                           hint="check the path and its permissions") from None


def load_json(path: Path) -> Any:
    """Parse a JSON file (at most ``MAX_JSON_BYTES``), turning every way it can be broken into a
    LogReadError that says where."""
    check_text(path)
    try:
        text = read_capped(path, MAX_JSON_BYTES, "a JSON log").decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LogReadError(f"is not UTF-8 text (found byte {exc.object[exc.start:exc.start + 1]!r})",
                           source=path, hint="re-save it as UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) - 1
        raise LogReadError(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                           + ("; the file ends early" if truncated else ""), source=path,
                           hint="the run may still be writing it; wait for it to finish or pass a complete copy"
                           if truncated else "check the file, or pass --log-format for another format") from None
    except RecursionError:
        raise LogReadError("is nested too deeply to be a training log", source=path,
                           hint="pass the training log itself") from None
    except ValueError as exc:  # a number json cannot convert (an integer of more than 4,300 digits)
        raise LogReadError(f"is not valid JSON ({exc})", source=path, hint="check the file") from None


def require_metrics(path: Path | str, names: list[str], metric_map: dict[str, str],
                    columns: list[str] | None = None, *, counted: bool = False) -> None:
    """Refuse a log with no loss and no accuracy metric that does not count anything either.

    A log that counts its steps or epochs (``counted``: a reward-only RL log, a CSV of metrics
    regadvisor has no name for) is read as it is, and its report says what is missing; without a
    counter, numbers under unknown names are not a training log (a data table). The message
    lists what was found (``columns``, default ``names``), since the usual cause is a spelling the
    alias table does not know, which ``--metric`` fixes.
    """
    from .aliases import canonical_name

    if counted or any(canonical_name(name, metric_map).canonical.endswith(("_loss", "_acc")) for name in names):
        return
    shown = names if columns is None else columns
    found = ", ".join(repr(n) for n in shown) if shown else "none"
    raise LogReadError(f"no loss or accuracy metric found; {'columns' if columns else 'metrics'} found: {found}",
                       source=path,
                       hint="name yours with --metric, e.g. --metric val_loss=NAME --metric train_loss=NAME")
